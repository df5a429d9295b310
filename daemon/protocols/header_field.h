#pragma once
// A protocol-neutral view of one header field, shared by the HTTP/1 parser, the HTTP/2 decoder
// and the trace-context classifier.

#include <algorithm>
#include <cstddef>
#include <string_view>

namespace tracegap {

// Views into a buffer owned by whoever produced the field; valid only as long as that buffer.
// `name` is as it appeared on the wire (HTTP/1 names may be any case; HTTP/2 names are lowercase);
// `value` has leading and trailing spaces and tabs removed.
struct HeaderField {
  std::string_view name;
  std::string_view value;
};

// Optional whitespace (RFC 9110 OWS): what surrounds field values and list members.
constexpr bool IsOws(char c) { return c == ' ' || c == '\t'; }

constexpr std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && IsOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsOws(s.back())) s.remove_suffix(1);
  return s;
}

// ASCII case-insensitive equality. `lower` must already be lowercase (it is always a literal).
constexpr bool EqualsLower(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

// ASCII case-insensitive prefix test; `lower_prefix` must be lowercase.
constexpr bool StartsWithLower(std::string_view s, std::string_view lower_prefix) {
  return s.size() >= lower_prefix.size() &&
         EqualsLower(s.substr(0, lower_prefix.size()), lower_prefix);
}

}  // namespace tracegap
