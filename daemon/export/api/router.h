#pragma once
// Maps one HTTP request (its method and target, as Beast parsed them) to the API's answer:
// GET /v1/processes, /v1/processes/{pid}, /v1/edges and /v1/status. No I/O: connection.cc reads the
// request and writes back what this returns.

#include <functional>
#include <string>
#include <string_view>

#include "correlate/edge_table.h"
#include "correlate/process_table.h"

namespace tracegap::api {

// Must be thread-safe: it is called on the API thread while the daemon runs.
using StatusProvider = std::function<DaemonStatus()>;

struct Response {
  int status = 200;
  std::string body;        // JSON, without the trailing newline the wire form adds
  bool allow_get = false;  // 405: send "Allow: GET"
};

// The status line's reason phrase ("Not Found"); "Unknown" for codes the API never sends.
std::string_view ReasonPhrase(int status);

// An error response: {"error": message}.
Response ErrorResponse(int status, std::string_view message);

// Thread safety: Handle() is const and may run concurrently; `table`, `edges` and `status` must
// outlive the router. Without `edges`, /v1/edges answers 503.
class Router {
 public:
  Router(const ProcessTable& table, StatusProvider status, const EdgeTable* edges = nullptr);

  // Any method and target, including garbage, yield a response: 405 for anything but GET; the
  // query string is ignored. Failures of the table or the status provider (exceptions) become a
  // logged 500.
  Response Handle(std::string_view method, std::string_view target) const;

  // The route for an already parsed GET target path (no query string).
  Response Get(std::string_view path) const;

 private:
  Response GetProcess(std::string_view pid_text) const;

  const ProcessTable& table_;
  StatusProvider status_;
  const EdgeTable* edges_;
};

}  // namespace tracegap::api
