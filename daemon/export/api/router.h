#pragma once
// Maps one HTTP/1 request head to the API's answer: GET /v1/processes, /v1/processes/{pid} and
// /v1/status. No I/O: the server feeds it bytes and writes back what it returns.

#include <functional>
#include <string>
#include <string_view>

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

// The full HTTP/1.1 response: status line, Content-Type: application/json, Content-Length,
// Connection: close, then the body and a newline (so that curl output ends cleanly).
std::string SerializeResponse(const Response& response);

// An error response: {"error": message}.
Response ErrorResponse(int status, std::string_view message);

// Thread safety: Handle() is const and may run concurrently; `table` and `status` must outlive
// the router.
class Router {
 public:
  Router(const ProcessTable& table, StatusProvider status);

  // `head` is a complete request head: the start line through the empty line ending the header
  // section. Any bytes, including garbage, yield a response; failures of the table or the
  // status provider (exceptions) become a logged 500.
  Response HandleHead(std::string_view head) const;

  // The route for an already parsed GET target path (no query string).
  Response Get(std::string_view path) const;

 private:
  Response GetProcess(std::string_view pid_text) const;

  const ProcessTable& table_;
  StatusProvider status_;
};

}  // namespace tracegap::api
