#include "export/api/router.h"

#include <charconv>
#include <exception>
#include <limits>
#include <optional>
#include <utility>

#include "export/api/render.h"
#include "log.h"

namespace tracegap::api {
namespace {

constexpr std::string_view kProcessesPath = "/v1/processes";
constexpr std::string_view kProcessPrefix = "/v1/processes/";
constexpr std::string_view kStatusPath = "/v1/status";
constexpr std::string_view kEdgesPath = "/v1/edges";
// Request bytes echoed in an error message, at most: enough to recognize, never a large copy.
constexpr size_t kMaxEcho = 64;

std::string Echo(std::string_view s) {
  return std::string(s.substr(0, kMaxEcho)) + (s.size() > kMaxEcho ? "..." : "");
}

std::optional<uint32_t> ParsePid(std::string_view text) {
  uint32_t pid = 0;
  if (text.empty() || text.size() > 10) return std::nullopt;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;  // from_chars alone would accept "12abc"
  }
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), pid);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return pid;
}

}  // namespace

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
  }
  return "Unknown";
}

Response ErrorResponse(int status, std::string_view message) {
  return Response{status, RenderError(message), status == 405};
}

Router::Router(const ProcessTable& table, StatusProvider status, const EdgeTable* edges)
    : table_(table), status_(std::move(status)), edges_(edges) {}

Response Router::Handle(std::string_view method, std::string_view target) const {
  if (method != "GET") {
    return ErrorResponse(405, "method " + Echo(method) + " not allowed: the API is GET only");
  }
  return Get(target.substr(0, target.find_first_of("?#")));
}

Response Router::Get(std::string_view path) const {
  // The table and the provider may throw (bad_alloc; the provider is the daemon's code): that is
  // a failure of this request, not of the API thread.
  try {
    if (path == kProcessesPath) return Response{200, RenderProcessList(table_.List())};
    if (path == kStatusPath) {
      if (!status_) return ErrorResponse(503, "status not available");
      return Response{200, RenderStatus(status_())};
    }
    if (path == kEdgesPath) {
      if (!edges_) return ErrorResponse(503, "edges not available");
      std::vector<EdgeSnapshot> edges = edges_->List();
      SortWorstFirst(edges);
      return Response{200, RenderEdges(edges, edges_->totals())};
    }
    if (path.starts_with(kProcessPrefix)) return GetProcess(path.substr(kProcessPrefix.size()));
  } catch (const std::exception& e) {
    TG_LOG(Warning) << "API: GET " << Echo(path) << " failed: " << e.what();
    return ErrorResponse(500, std::string("internal error: ") + e.what());
  }
  return ErrorResponse(404, "no such endpoint: " + Echo(path) +
                                " (try /v1/processes, /v1/processes/{pid}, /v1/edges, /v1/status)");
}

Response Router::GetProcess(std::string_view pid_text) const {
  const std::optional<uint32_t> pid = ParsePid(pid_text);
  if (!pid) return ErrorResponse(400, "invalid pid '" + Echo(pid_text) + "': expected a number");
  std::optional<ProcessSnapshot> snap = table_.Find(*pid);
  if (!snap) return ErrorResponse(404, "no process with pid " + std::to_string(*pid));
  return Response{200, RenderProcessDetail(*snap)};
}

}  // namespace tracegap::api
