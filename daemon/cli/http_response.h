#pragma once
// Parsing the daemon's HTTP/1 answers on the CLI side. Strict about what the API sends (a status
// line, header lines, Content-Length) and total: any bytes yield a response or an error.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace tracegap::cli {

struct HttpResponse {
  int status = 0;
  std::string content_type;
  std::string body;
};

struct ResponseHead {
  int status = 0;
  std::string content_type;
  std::optional<size_t> content_length;
  size_t size = 0;  // bytes of the head, through the empty line
};

// Parses the head at the start of `bytes`; nullopt with *error set if it is malformed or not
// complete yet (then *error says "incomplete").
std::optional<ResponseHead> ParseResponseHead(std::string_view bytes, std::string* error);

// Parses a complete response: the head, then a body of Content-Length bytes (bytes beyond it
// are ignored) or, without one, every remaining byte.
std::optional<HttpResponse> ParseHttpResponse(std::string_view bytes, std::string* error);

}  // namespace tracegap::cli
