#include "cli/http_response.h"

#include <charconv>
#include <utility>

namespace tracegap::cli {
namespace {

constexpr std::string_view kCrlf = "\r\n";

bool Fail(std::string* error, std::string message) {
  *error = std::move(message);
  return false;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "HTTP/1.x SP 3DIGIT [SP reason]"
bool ParseStatusLine(std::string_view line, int* status, std::string* error) {
  if (line.size() < 12 || !line.starts_with("HTTP/1.") || (line[7] != '0' && line[7] != '1') ||
      line[8] != ' ' || (line.size() > 12 && line[12] != ' ')) {
    return Fail(error, "not an HTTP/1 status line");
  }
  int code = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return Fail(error, "non-numeric HTTP status");
    code = code * 10 + (line[i] - '0');
  }
  if (code < 100) return Fail(error, "HTTP status below 100");
  *status = code;
  return true;
}

bool ParseLength(std::string_view text, size_t* out) {
  if (text.empty() || text.size() > 15) return false;  // 15 digits: far beyond any answer
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::optional<ResponseHead> ParseResponseHead(std::string_view bytes, std::string* error) {
  const size_t end = bytes.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    Fail(error, "incomplete response head");
    return std::nullopt;
  }
  ResponseHead head;
  head.size = end + 4;
  std::string_view rest = bytes.substr(0, end + 2);  // every line with its CRLF
  size_t eol = rest.find(kCrlf);
  if (!ParseStatusLine(rest.substr(0, eol), &head.status, error)) return std::nullopt;
  rest.remove_prefix(eol + 2);
  while (!rest.empty()) {
    eol = rest.find(kCrlf);
    const std::string_view line = rest.substr(0, eol);
    rest.remove_prefix(eol + 2);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      Fail(error, "malformed header line");
      return std::nullopt;
    }
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = Trim(line.substr(colon + 1));
    if (EqualsIgnoreCase(name, "content-length")) {
      size_t length = 0;
      if (!ParseLength(value, &length) || (head.content_length && *head.content_length != length)) {
        Fail(error, "invalid Content-Length");
        return std::nullopt;
      }
      head.content_length = length;
    } else if (EqualsIgnoreCase(name, "content-type")) {
      head.content_type = value;
    } else if (EqualsIgnoreCase(name, "transfer-encoding")) {
      Fail(error, "unexpected Transfer-Encoding (the API sends Content-Length)");
      return std::nullopt;
    }
  }
  return head;
}

std::optional<HttpResponse> ParseHttpResponse(std::string_view bytes, std::string* error) {
  std::optional<ResponseHead> head = ParseResponseHead(bytes, error);
  if (!head) return std::nullopt;
  std::string_view body = bytes.substr(head->size);
  if (head->content_length) {
    if (body.size() < *head->content_length) {
      Fail(error, "truncated body: " + std::to_string(body.size()) + " of " +
                      std::to_string(*head->content_length) + " bytes");
      return std::nullopt;
    }
    body = body.substr(0, *head->content_length);
  }
  return HttpResponse{head->status, std::move(head->content_type), std::string(body)};
}

}  // namespace tracegap::cli
