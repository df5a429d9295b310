#include "cli/client.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <system_error>
#include <utility>

#include "errno_text.h"
#include "version.h"

namespace tracegap::cli {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;

FetchResult Fail(ExitCode code, std::string message) {
  return FetchResult{std::nullopt, Failure{code, std::move(message)}};
}

FetchResult ConnectFailure(const std::string& path, int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return Fail(kExitNotRunning, "tracegapd is not running (no socket at " + path + ")");
    case ECONNREFUSED:
      return Fail(kExitNotRunning,
                  "tracegapd is not running (no one accepts connections on " + path + ")");
    case EACCES:
    case EPERM:
      return Fail(kExitPermission, "permission denied on " + path + ": run as root");
    case EAGAIN:
      return Fail(kExitNotRunning, "tracegapd at " + path + " is not accepting connections " +
                                       "(its backlog is full); try again");
  }
  return Fail(kExitNotRunning, "cannot connect to " + path + ": " + ErrnoText(err));
}

// The daemon's {"error": "..."} message, or the bare status when the body has none.
std::string ErrorMessage(const HttpResponse& r) {
  std::optional<Document> doc = ParseDocument(r.body, nullptr);
  if (doc && doc->is_object()) {
    const auto it = doc->find("error");
    if (it != doc->end() && it->is_string()) return it->get<std::string>();
  }
  return "HTTP " + std::to_string(r.status);
}

}  // namespace

FetchResult Fetch(const std::string& socket_path, std::string_view target,
                  std::chrono::milliseconds timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof(addr.sun_path)) {
    return Fail(kExitUsage, "invalid socket path '" + socket_path + "': must be 1 to " +
                                std::to_string(sizeof(addr.sun_path) - 1) + " bytes long");
  }
  socket_path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
  asio::io_context io;
  asio::local::stream_protocol::socket socket(io);
  error_code ec;
  if (socket.open(asio::local::stream_protocol(), ec); ec) {
    return Fail(kExitNotRunning, "cannot create a socket: " + ec.message());
  }
  // connect(2) itself, non-blocking: on a Unix socket it succeeds or fails at once, and EAGAIN
  // (a full backlog) is an answer to report, where Asio would wait for writability instead.
  if (socket.native_non_blocking(true, ec); ec) {
    return Fail(kExitNotRunning, "cannot create a socket: " + ec.message());
  }
  if (connect(socket.native_handle(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) !=
      0) {
    return ConnectFailure(socket_path, errno);
  }

  http::request<http::empty_body> request{http::verb::get, std::string(target), 11};
  request.set(http::field::host, "localhost");
  request.set(http::field::user_agent, std::string("tracegap/") + kVersion);
  request.set(http::field::accept, "application/json");
  request.keep_alive(false);
  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxResponseBytes);
  std::optional<error_code> read_result;  // set when the answer is read, or reading failed
  http::async_write(socket, request, [&](error_code, size_t) {
    // A failed write is not the end: the daemon may have answered (e.g. 403) and closed.
    // The head is read on its own so that a Content-Length beyond the limit is reported as such
    // (Boost 1.74's whole-message async_read reports it as a partial message).
    http::async_read_header(socket, buffer, parser, [&](error_code e, size_t) {
      if (e) {
        read_result = e;
        return;
      }
      http::async_read(socket, buffer, parser, [&](error_code e2, size_t) { read_result = e2; });
    });
  });
  io.run_for(timeout);
  if (!read_result) {
    // Let the pending operations end (aborted) while what they refer to still exists.
    socket.close(ec);
    io.restart();
    io.run();
    return Fail(kExitNotRunning, "tracegapd at " + socket_path + " did not answer within " +
                                     std::to_string(timeout.count()) + " ms");
  }
  if (const error_code& e = *read_result; e) {
    if (e == http::error::end_of_stream) {
      return Fail(kExitMalformed,
                  "tracegapd at " + socket_path + " closed the connection without answering");
    }
    if (e == http::error::body_limit) {
      return Fail(kExitMalformed, "malformed response from tracegapd: larger than " +
                                      std::to_string(kMaxResponseBytes) + " bytes");
    }
    if (e.category() == http::make_error_code(http::error::bad_version).category()) {
      return Fail(kExitMalformed, "malformed response from tracegapd: " + e.message());
    }
    return Fail(kExitMalformed,
                "reading the answer of tracegapd at " + socket_path + " failed: " + e.message());
  }
  http::response<http::string_body>& r = parser.get();
  return FetchResult{HttpResponse{static_cast<int>(r.result_int()),
                                  std::string(r[http::field::content_type]), std::move(r.body())},
                     {}};
}

QueryResult Query(const std::string& socket_path, std::string_view target,
                  bool not_found_is_unknown_pid, std::chrono::milliseconds timeout) {
  FetchResult fetched = Fetch(socket_path, target, timeout);
  if (!fetched.response) return QueryResult{std::nullopt, std::move(fetched.failure)};
  const HttpResponse& r = *fetched.response;
  if (r.status == 403) {
    return QueryResult{std::nullopt,
                       {kExitPermission, "permission denied on " + socket_path + ": run as root"}};
  }
  if (r.status == 404 && not_found_is_unknown_pid) {
    return QueryResult{std::nullopt, {kExitUnknownPid, ErrorMessage(r)}};
  }
  if (r.status != 200) {
    return QueryResult{
        std::nullopt,
        {kExitMalformed, "tracegapd answered GET " + std::string(target) + " with HTTP " +
                             std::to_string(r.status) + ": " + ErrorMessage(r)}};
  }
  std::string error;
  std::optional<Document> doc = ParseDocument(r.body, &error);
  if (!doc) {
    return QueryResult{
        std::nullopt,
        {kExitMalformed, "malformed response from tracegapd: invalid JSON: " + error}};
  }
  return QueryResult{std::move(doc), {}};
}

}  // namespace tracegap::cli
