#pragma once
// The CLI's side of the local query API: one HTTP/1.1 GET over the daemon's Unix socket
// (Boost.Beast on Asio), and the mapping of every way that can fail to an exit code and a one-line
// message.
//
// Thread safety: stateless functions; each call opens and closes its own connection.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "cli/document.h"
#include "cli/exit_codes.h"

namespace tracegap::cli {

inline constexpr std::chrono::milliseconds kDefaultTimeout{10'000};
inline constexpr size_t kMaxResponseBytes = 256u << 20;

struct HttpResponse {
  int status = 0;
  std::string content_type;
  std::string body;
};

// Why a request failed: the exit code to use and the message for stderr (without the
// "tracegap: " prefix or a newline).
struct Failure {
  ExitCode code = kExitMalformed;
  std::string message;
};

// Sends `GET target` to the daemon at `socket_path` and reads the whole answer, within `timeout`
// overall. Returns the answer whatever its status, or a Failure: kExitNotRunning (no socket,
// refused, timed out), kExitPermission (EACCES), kExitUsage (the path cannot be a socket
// address), kExitMalformed (the bytes are not an HTTP/1 response, or it exceeds
// kMaxResponseBytes).
struct FetchResult {
  std::optional<HttpResponse> response;
  Failure failure;  // meaningful only without a response
};
FetchResult Fetch(const std::string& socket_path, std::string_view target,
                  std::chrono::milliseconds timeout = kDefaultTimeout);

// Fetch() plus the API's conventions: 200 with a JSON body yields the parsed document; 403 is
// kExitPermission; 404 is kExitUnknownPid when `not_found_is_unknown_pid` (the per-pid route),
// otherwise, like any other status, kExitMalformed with the daemon's own error message.
struct QueryResult {
  std::optional<Document> document;
  Failure failure;  // meaningful only without a document
};
QueryResult Query(const std::string& socket_path, std::string_view target,
                  bool not_found_is_unknown_pid,
                  std::chrono::milliseconds timeout = kDefaultTimeout);

}  // namespace tracegap::cli
