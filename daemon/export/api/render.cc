#include "export/api/render.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace tracegap::api {
namespace {

// Members keep the order they are set in: the documents read in the order render.h lists.
using Json = nlohmann::ordered_json;

// Ratios and durations are rounded to a few decimals, so that the output is stable (tests,
// diffs) and no reader sees 0.30000000000000004; the writer prints the shortest form (0.4).
// JSON has no NaN or infinity: those become null.
Json Rounded(double v, double scale) {
  if (!std::isfinite(v)) return nullptr;
  return std::round(v * scale) / scale;
}
constexpr double kRatioScale = 1e4;
constexpr double kSecondsScale = 1e3;

// Names, paths and units come from other users' processes: bytes that are not UTF-8 become
// U+FFFD instead of failing the whole answer.
std::string Dump(const Json& doc) {
  return doc.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Json Process(const ProcessSnapshot& p) {
  Json inbound = Json::object();
  for (ContextVerdict v : kAllContextVerdicts) {
    inbound[std::string(Label(v))] = p.inbound[static_cast<size_t>(v)];
  }
  Json outbound = Json::object();
  for (Outcome o : kAllOutcomes)
    outbound[std::string(Label(o))] = p.outbound[static_cast<size_t>(o)];
  return Json{{"pid", p.pid},
              {"start_time", p.start_time},
              {"comm", p.comm},
              {"unit", p.unit},
              {"exe", p.exe},
              {"workload", p.workload},
              {"container", p.container},
              {"namespace", p.namespace_},
              {"inbound", std::move(inbound)},
              {"outbound", std::move(outbound)},
              {"gaps", p.gaps()},
              {"gap_ratio", Rounded(p.gap_ratio(), kRatioScale)},
              {"first_seen", FormatTimestamp(p.first_seen_unix_ms)},
              {"last_seen", FormatTimestamp(p.last_seen_unix_ms)},
              {"exited", p.exited}};
}

Json Example(const GapExample& e) {
  return Json{{"time", FormatTimestamp(e.time_unix_ms)},
              {"outcome", Label(e.outcome)},
              {"protocol", Label(e.protocol)},
              {"method", e.method},
              {"authority", e.authority},
              {"path", e.path},
              {"peer", e.peer},
              {"inbound_trace_ids", e.inbound_trace_ids},
              {"outbound_traceparent", e.outbound_traceparent},
              {"tls", e.tls}};
}

}  // namespace

std::string RenderEdges(const std::vector<EdgeSnapshot>& edges, const EdgeTable::Totals& totals) {
  Json list = Json::array();
  for (const EdgeSnapshot& e : edges) {
    Json outbound = Json::object();
    for (Outcome o : kAllOutcomes)
      outbound[std::string(Label(o))] = e.outbound[static_cast<size_t>(o)];
    list.push_back(Json{{"client", e.client},
                        {"server", e.server},
                        {"protocol", Label(e.protocol)},
                        {"outbound", std::move(outbound)},
                        {"requests", e.total()},
                        {"gaps", e.gaps()},
                        {"gap_ratio", Rounded(e.gap_ratio(), kRatioScale)},
                        {"first_seen", FormatTimestamp(e.first_seen_unix_ms)},
                        {"last_seen", FormatTimestamp(e.last_seen_unix_ms)},
                        {"last_gap", e.last_gap ? Example(*e.last_gap) : Json(nullptr)}});
  }
  return Dump(Json{{"max_edges", totals.max_pairs},
                   {"edges_tracked", totals.pairs},
                   {"folded_requests", totals.folded},
                   {"edges", std::move(list)}});
}

std::string RenderProcessList(const std::vector<ProcessSnapshot>& processes) {
  Json list = Json::array();
  for (const ProcessSnapshot& p : processes) list.push_back(Process(p));
  return Dump(Json{{"processes", std::move(list)}});
}

std::string RenderProcessDetail(const ProcessSnapshot& process) {
  Json doc = Process(process);
  Json examples = Json::array();
  for (const GapExample& e : process.gap_examples) examples.push_back(Example(e));
  doc["gap_examples"] = std::move(examples);
  return Dump(doc);
}

Json Tls(const DaemonStatus& status) {
  Json libraries = Json::array();
  for (const TlsLibraryStatus& l : status.tls_libraries) {
    libraries.push_back({{"path", l.path},
                         {"kind", l.kind},
                         {"attached", l.attached},
                         {"error", l.error},
                         {"probes", l.probes}});
  }
  Json unseen = Json::array();
  for (const TlsUnseenStatus& u : status.tls_unseen) {
    unseen.push_back({{"pid", u.pid},
                      {"comm", u.comm},
                      {"exe", u.exe},
                      {"reason", u.reason},
                      {"detail", u.detail},
                      {"connections", u.connections}});
  }
  return Json{{"mode", status.tls_mode},
              {"unavailable", status.tls_unavailable},
              {"libraries", std::move(libraries)},
              {"unseen", std::move(unseen)}};
}

std::string RenderStatus(const DaemonStatus& status) {
  Json drops = Json::object();
  for (const auto& [reason, count] : status.kernel_drops) drops[reason] = count;
  return Dump(Json{{"version", status.version},
                   {"uptime_seconds", Rounded(status.uptime_seconds, kSecondsScale)},
                   {"attach", status.attach},
                   {"capture", status.capture},
                   {"http2", status.http2},
                   {"degraded", !status.load_failures.empty()},
                   {"load_failures", status.load_failures},
                   {"kernel_drops", std::move(drops)},
                   {"connections_tracked", status.connections_tracked},
                   {"processes_tracked", status.processes_tracked},
                   {"tls", Tls(status)}});
}

std::string RenderError(std::string_view message) { return Dump(Json{{"error", message}}); }

std::string FormatTimestamp(int64_t unix_ms) {
  using namespace std::chrono;
  constexpr int64_t kMinMs = -62167219200000;  // 0000-01-01T00:00:00.000Z
  constexpr int64_t kMaxMs = 253402300799999;  // 9999-12-31T23:59:59.999Z
  const sys_time<milliseconds> t{milliseconds{std::clamp(unix_ms, kMinMs, kMaxMs)}};
  const sys_days day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss<milliseconds> hms{t - day};
  char buf[64];  // 25 needed; the compiler cannot see that the fields are range-checked
  std::snprintf(buf, sizeof(buf), "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()),
                static_cast<int>(hms.subseconds().count()));
  return buf;
}

}  // namespace tracegap::api
