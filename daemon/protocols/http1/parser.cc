#include "protocols/http1/parser.h"

#include <array>
#include <cstddef>
#include <string_view>

namespace tracegap::http1 {
namespace {

using std::string_view;
constexpr auto npos = string_view::npos;

// RFC 9110 tchar: the bytes a method or a field name may consist of.
constexpr std::array<bool, 256> MakeTcharTable() {
  std::array<bool, 256> table{};
  for (int c = '0'; c <= '9'; ++c) table[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) table[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) table[c] = true;
  for (char c : string_view("!#$%&'*+-.^_`|~")) table[static_cast<unsigned char>(c)] = true;
  return table;
}
constexpr std::array<bool, 256> kTchar = MakeTcharTable();

bool IsToken(string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!kTchar[static_cast<unsigned char>(c)]) return false;
  }
  return true;
}

// A request-target is visible ASCII; obs-text is let through because real clients send raw
// UTF-8 paths and rejecting them would hide their trace context for no gain.
bool IsTargetByte(unsigned char c) { return c > 0x20 && c != 0x7f; }

// Field values and reason phrases: HTAB, SP, VCHAR, obs-text. Excluding every other control
// byte also rejects NUL and bare CR, which RFC 9112 calls out as smuggling vectors.
bool IsTextByte(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

bool AllBytes(string_view s, bool (*pred)(unsigned char)) {
  for (char c : s) {
    if (!pred(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// The part of a target before any query or fragment: the query must never leave the parser.
string_view StripQuery(string_view target) { return target.substr(0, target.find_first_of("?#")); }

enum class LineStatus { kLine, kBareLf, kNoLine };

// Takes the next line (without its CRLF) starting at `pos`; kNoLine if it is not terminated.
LineStatus NextLine(string_view block, std::size_t& pos, string_view& line) {
  std::size_t lf = block.find('\n', pos);
  if (lf == npos) return LineStatus::kNoLine;
  if (lf == pos || block[lf - 1] != '\r') return LineStatus::kBareLf;
  line = block.substr(pos, lf - 1 - pos);
  pos = lf + 1;
  return LineStatus::kLine;
}

bool ParseVersion(string_view v, uint8_t& minor) {
  if (v.size() != 8 || v.substr(0, 7) != "HTTP/1." || (v[7] != '0' && v[7] != '1')) return false;
  minor = static_cast<uint8_t>(v[7] - '0');
  return true;
}

// absolute-form: scheme "://" authority [path] ["?" query]. Any userinfo is dropped from the
// authority: it may hold credentials.
ParseError ParseAbsoluteForm(string_view target, Message& out) {
  std::size_t colon = target.find(':');
  if (colon == npos || colon == 0) return ParseError::kBadTarget;
  for (std::size_t i = 0; i < colon; ++i) {
    char c = target[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    bool other = (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
    if (!alpha && (i == 0 || !other)) return ParseError::kBadTarget;
  }
  if (target.substr(colon + 1, 2) != "//") return ParseError::kBadTarget;
  string_view rest = target.substr(colon + 3);
  std::size_t authority_end = rest.find_first_of("/?#");
  string_view authority = rest.substr(0, authority_end);
  if (std::size_t at = authority.rfind('@'); at != npos) authority.remove_prefix(at + 1);
  out.authority = authority;
  out.path = authority_end == npos ? string_view() : StripQuery(rest.substr(authority_end));
  if (out.path.empty()) out.path = "/";
  return ParseError::kOk;
}

// Sets out.path (and out.authority when the target carries one, see Message).
ParseError ParseTarget(string_view method, string_view target, Message& out,
                       bool& authority_from_target) {
  if (target.empty() || !AllBytes(target, IsTargetByte)) return ParseError::kBadTarget;
  authority_from_target = false;
  if (method == "CONNECT") {  // authority-form (host:port); CONNECT allows no other
    out.path = StripQuery(target);
    // No userinfo: it could carry credentials into the path label.
    if (out.path.empty() || out.path.find_first_of("/@") != npos) return ParseError::kBadTarget;
    out.authority = out.path;
    authority_from_target = true;
    return ParseError::kOk;
  }
  if (target.front() == '/') {
    out.path = StripQuery(target);
    return ParseError::kOk;
  }
  if (target == "*") {
    out.path = target;
    return ParseError::kOk;
  }
  authority_from_target = true;
  return ParseAbsoluteForm(target, out);
}

// method SP request-target SP HTTP-version
ParseError ParseRequestLine(string_view line, Message& out, bool& authority_from_target) {
  std::size_t sp1 = line.find(' ');
  std::size_t sp2 = line.rfind(' ');
  if (sp1 == npos || sp1 == sp2) return ParseError::kBadStartLine;
  string_view method = line.substr(0, sp1);
  string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  string_view version = line.substr(sp2 + 1);
  if (!IsToken(method)) return ParseError::kBadStartLine;
  if (method == "PRI" && target == "*" && version == "HTTP/2.0") return ParseError::kNotHttp1;
  if (!ParseVersion(version, out.version_minor)) return ParseError::kBadVersion;
  out.kind = MessageKind::kRequest;
  out.method = method;
  return ParseTarget(method, target, out, authority_from_target);
}

// HTTP-version SP 3DIGIT [SP reason-phrase]. The SP before an empty reason is optional because
// enough servers omit it.
ParseError ParseStatusLine(string_view line, Message& out) {
  std::size_t sp = line.find(' ');
  if (!ParseVersion(line.substr(0, sp), out.version_minor)) return ParseError::kBadVersion;
  if (sp == npos) return ParseError::kBadStatus;
  string_view rest = line.substr(sp + 1);
  if (rest.size() < 3 || (rest.size() > 3 && rest[3] != ' ')) return ParseError::kBadStatus;
  uint16_t status = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    if (rest[i] < '0' || rest[i] > '9') return ParseError::kBadStatus;
    status = static_cast<uint16_t>(status * 10 + (rest[i] - '0'));
  }
  if (status < 100) return ParseError::kBadStatus;
  if (rest.size() > 3 && !AllBytes(rest.substr(4), IsTextByte)) return ParseError::kBadStartLine;
  out.kind = MessageKind::kResponse;
  out.status = status;
  return ParseError::kOk;
}

// field-name ":" OWS field-value OWS, for a non-empty line.
ParseError ParseHeaderLine(string_view line, HeaderField& field) {
  if (IsOws(line.front())) return ParseError::kObsFold;
  std::size_t colon = line.find(':');
  if (colon == npos) return ParseError::kBadHeaderLine;
  field.name = line.substr(0, colon);
  if (!IsToken(field.name)) return ParseError::kBadHeaderName;
  field.value = TrimOws(line.substr(colon + 1));
  if (!AllBytes(field.value, IsTextByte)) return ParseError::kBadHeaderValue;
  return ParseError::kOk;
}

void ApplyRequestHeaders(Message& out, bool authority_from_target) {
  bool have_host = authority_from_target;
  for (const HeaderField& field : out.headers) {
    if (!have_host && EqualsLower(field.name, "host")) {
      out.authority = field.value;
      have_host = true;
    } else if (EqualsLower(field.name, "upgrade") && ListHasToken(field.value, "h2c")) {
      out.upgrade_h2c = true;
    }
  }
}

}  // namespace

bool ListHasToken(string_view list, string_view lower_token) {
  while (true) {
    std::size_t comma = list.find(',');
    if (EqualsLower(TrimOws(list.substr(0, comma)), lower_token)) return true;
    if (comma == npos) return false;
    list.remove_prefix(comma + 1);
  }
}

ParseError ParseHeaderBlock(string_view block, ParseError incomplete_reason, Message& out,
                            std::vector<HeaderField>& scratch) {
  out = Message{};
  scratch.clear();
  std::size_t pos = 0;
  string_view line;
  switch (NextLine(block, pos, line)) {
    case LineStatus::kNoLine:
      return incomplete_reason == ParseError::kOk ? ParseError::kTruncated : incomplete_reason;
    case LineStatus::kBareLf:
      return ParseError::kBareLf;
    case LineStatus::kLine:
      break;
  }
  bool authority_from_target = false;
  ParseError err = line.starts_with("HTTP/") ? ParseStatusLine(line, out)
                                             : ParseRequestLine(line, out, authority_from_target);
  if (err != ParseError::kOk) return err;

  bool ended = false;
  for (;;) {
    LineStatus status = NextLine(block, pos, line);
    if (status == LineStatus::kBareLf) return ParseError::kBareLf;
    if (status == LineStatus::kNoLine) break;
    if (line.empty()) {
      ended = true;
      break;
    }
    HeaderField field;
    err = ParseHeaderLine(line, field);
    if (err != ParseError::kOk) return err;
    scratch.push_back(field);
  }
  if (!ended && incomplete_reason == ParseError::kOk) incomplete_reason = ParseError::kTruncated;
  out.complete = incomplete_reason == ParseError::kOk;
  out.incomplete_reason = incomplete_reason;
  out.headers = scratch;
  if (out.kind == MessageKind::kRequest) ApplyRequestHeaders(out, authority_from_target);
  return ParseError::kOk;
}

}  // namespace tracegap::http1
