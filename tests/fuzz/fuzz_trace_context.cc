// Fuzzes the W3C trace-context code: ClassifyContext over the header lines of a message, and
// ParseTraceparent / ValidateTracestate directly on raw values.
//
// Input: text; each line ("\n"-separated, a trailing "\r" dropped) is one header field, its name
// before the first ':' and its value after it, trimmed of SP/HTAB as the HTTP/1 parser does (a
// line without ':' is a name with an empty value). The raw, untrimmed values (what HTTP/2 hands
// over) and the whole input are also validated directly.
//
// Beyond "never crash", every result is compared with a reference written separately from the
// rules in docs/trace-context-reasons.md (shape, reasons and their precedence), and with the
// properties the code promises: a valid value has non-zero ids whose lowercase hex is the value's
// own text; uppercase_hex is reported only when lowercasing makes the value valid, and lowercasing
// changes no other reason; tracestate fields are judged as if joined with ','; a repeated
// tracestate key is no reason (Level 2) and is flagged only in a list that is otherwise valid.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "fuzz_support.h"
#include "protocols/header_field.h"
#include "protocols/trace_context/trace_context.h"

namespace tracegap {
namespace {

// ---------------------------------------------------------------------------------------------
// Reference: the documented rules, coded independently of trace_context.cc.

bool HexAnyCase(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

char ToLowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

std::string LowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ToLowerAscii(c);
  return out;
}

TraceparentError ReferenceTraceparent(std::string_view v) {
  // Shape: 55 characters (exactly, for version "00"), '-' at 2, 35 and 52, and at 55 if longer.
  if (v.size() < 55) return TraceparentError::kLength;
  if (v.substr(0, 2) == "00" && v.size() != 55) return TraceparentError::kLength;
  if (v[2] != '-' || v[35] != '-' || v[52] != '-') return TraceparentError::kDelimiter;
  if (v.size() > 55 && v[55] != '-') return TraceparentError::kDelimiter;
  if (!HexAnyCase(v[0]) || !HexAnyCase(v[1]) || LowerAscii(v.substr(0, 2)) == "ff") {
    return TraceparentError::kVersion;
  }
  for (std::size_t i = 3; i < 55; ++i) {
    if (i == 35 || i == 52) continue;
    if (!HexAnyCase(v[i])) return TraceparentError::kNonHex;
  }
  if (v.substr(3, 32).find_first_not_of('0') == std::string_view::npos) {
    return TraceparentError::kZeroTraceId;
  }
  if (v.substr(36, 16).find_first_not_of('0') == std::string_view::npos) {
    return TraceparentError::kZeroParentId;
  }
  for (std::size_t i = 0; i < 55; ++i) {
    if (v[i] >= 'A' && v[i] <= 'F') return TraceparentError::kUppercaseHex;
  }
  return TraceparentError::kNone;
}

uint8_t HexByte(std::string_view two) {
  auto digit = [](char c) {
    c = ToLowerAscii(c);
    return c <= '9' ? c - '0' : c - 'a' + 10;
  };
  return static_cast<uint8_t>(digit(two[0]) * 16 + digit(two[1]));
}

// The reference's own trimming, independent of the one under test (protocols/header_field.h).
std::string_view ReferenceTrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

struct ReferenceTracestateResult {
  TracestateError error;
  bool duplicate;  // some valid key appears more than once (not an error: Level 2)
};

ReferenceTracestateResult ReferenceTracestate(std::string_view joined) {
  bool member = false, key = false, value = false, duplicate = false;
  std::size_t members = 0;
  std::unordered_set<std::string_view> keys;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = joined.find(',', start);
    const std::string_view m = ReferenceTrimOws(joined.substr(start, comma - start));
    if (!m.empty()) {
      ++members;
      const std::size_t eq = m.find('=');
      if (eq == std::string_view::npos) {
        member = true;
      } else {
        const std::string_view k = m.substr(0, eq);
        const std::string_view val = m.substr(eq + 1);
        bool key_ok = !k.empty() && k.size() <= 256 &&
                      ((k[0] >= 'a' && k[0] <= 'z') || (k[0] >= '0' && k[0] <= '9'));
        for (char c : k) {
          const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                          c == '-' || c == '*' || c == '/' || c == '@';
          key_ok = key_ok && ok;
        }
        bool value_ok = !val.empty() && val.size() <= 256 && val.back() != ' ';
        for (char c : val) value_ok = value_ok && c >= 0x20 && c <= 0x7e && c != '=';
        if (!key_ok) key = true;
        if (!value_ok) value = true;
        if (key_ok && !keys.insert(k).second) duplicate = true;
      }
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (member) return {TracestateError::kMember, duplicate};
  if (key) return {TracestateError::kKey, duplicate};
  if (value) return {TracestateError::kValue, duplicate};
  if (members > 32) return {TracestateError::kTooManyMembers, duplicate};
  return {TracestateError::kNone, duplicate};
}

std::string Join(const std::vector<std::string_view>& fields) {
  std::string joined;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i != 0) joined.push_back(',');
    joined.append(fields[i]);
  }
  return joined;
}

uint8_t ReferenceLegacy(std::string_view name) {
  const std::string n = LowerAscii(name);
  if (n == "b3" || n == "x-b3-traceid" || n == "x-b3-spanid" || n == "x-b3-parentspanid" ||
      n == "x-b3-sampled" || n == "x-b3-flags") {
    return static_cast<uint8_t>(LegacyFormat::kB3);
  }
  if (n == "uber-trace-id" || n.starts_with("uberctx-")) {
    return static_cast<uint8_t>(LegacyFormat::kJaeger);
  }
  if (n == "x-amzn-trace-id") return static_cast<uint8_t>(LegacyFormat::kXRay);
  if (n == "grpc-trace-bin") return static_cast<uint8_t>(LegacyFormat::kGrpcTraceBin);
  if (n == "sw8") return static_cast<uint8_t>(LegacyFormat::kSkyWalking);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Checks

void CheckTraceparent(std::string_view v) {
  const TraceparentResult r = ParseTraceparent(v);
  const TraceparentError want = ReferenceTraceparent(v);
  if (r.error != want) {
    std::fprintf(stderr, "traceparent '%.*s': got %.*s, reference %.*s\n",
                 static_cast<int>(v.size()), v.data(), static_cast<int>(Label(r.error).size()),
                 Label(r.error).data(), static_cast<int>(Label(want).size()), Label(want).data());
    FUZZ_CHECK(r.error == want);
  }
  FUZZ_CHECK(r.error != TraceparentError::kDuplicate);  // needs the whole message
  FUZZ_CHECK(Label(r.error) != "invalid");

  const TraceparentResult lowered = ParseTraceparent(LowerAscii(v));
  if (r.error == TraceparentError::kUppercaseHex) {
    FUZZ_CHECK(lowered.ok());  // the fix the reason points to is always enough
  } else {
    FUZZ_CHECK(lowered.error == r.error);  // case never matters to any other reason
  }
  if (!r.ok()) return;

  // Valid: non-zero ids, and the lowercase hex of the decoded values is the value's own text.
  FUZZ_CHECK(!r.value.trace_id.IsZero());
  FUZZ_CHECK(!r.value.parent_id.IsZero());
  FUZZ_CHECK(r.value.trace_id.ToHex() == v.substr(3, 32));
  FUZZ_CHECK(r.value.parent_id.ToHex() == v.substr(36, 16));
  FUZZ_CHECK(r.value.version == HexByte(v.substr(0, 2)));
  FUZZ_CHECK(r.value.flags == HexByte(v.substr(53, 2)));
  FUZZ_CHECK(r.value.version != 0xff);
}

void CheckTracestate(const std::vector<std::string_view>& fields) {
  const std::string joined = Join(fields);
  const TracestateError got = ValidateTracestate(fields);
  FUZZ_CHECK(got == ValidateTracestate(std::string_view(joined)));
  const TracestateError want = ReferenceTracestate(joined).error;
  if (got != want) {
    std::fprintf(stderr, "tracestate '%s': got %.*s, reference %.*s\n", joined.c_str(),
                 static_cast<int>(Label(got).size()), Label(got).data(),
                 static_cast<int>(Label(want).size()), Label(want).data());
    FUZZ_CHECK(got == want);
  }
  FUZZ_CHECK(got != TracestateError::kOrphan);  // needs the traceparent
}

void CheckClassify(const std::vector<HeaderField>& headers) {
  const ContextResult r = ClassifyContext(headers);
  std::vector<std::string_view> traceparents, tracestates;
  uint8_t legacy = 0;
  for (const HeaderField& h : headers) {
    const std::string name = LowerAscii(h.name);
    if (name == "traceparent") {
      traceparents.push_back(h.value);
    } else if (name == "tracestate") {
      tracestates.push_back(h.value);
    } else {
      legacy |= ReferenceLegacy(h.name);
    }
  }
  FUZZ_CHECK(r.legacy == legacy);
  FUZZ_CHECK(ListLegacyFormats(r.legacy).size() ==
             static_cast<std::size_t>(__builtin_popcount(r.legacy)));
  FUZZ_CHECK(r.has_tracestate == !tracestates.empty());
  FUZZ_CHECK(r.verdict != ContextVerdict::kUnknown);  // the caller's call, never this function's

  if (traceparents.empty()) {
    FUZZ_CHECK(r.verdict == ContextVerdict::kMissing);
    FUZZ_CHECK(r.traceparent_error == TraceparentError::kNone);
  } else if (traceparents.size() > 1) {
    FUZZ_CHECK(r.verdict == ContextVerdict::kMalformed);
    FUZZ_CHECK(r.traceparent_error == TraceparentError::kDuplicate);
  } else {
    const TraceparentResult tp = ParseTraceparent(traceparents[0]);
    FUZZ_CHECK(r.verdict == (tp.ok() ? ContextVerdict::kValid : ContextVerdict::kMalformed));
    FUZZ_CHECK(r.traceparent_error == tp.error);
  }
  if (r.verdict == ContextVerdict::kValid) {
    const TraceparentResult tp = ParseTraceparent(traceparents[0]);
    FUZZ_CHECK(r.trace_id == tp.value.trace_id && r.parent_id == tp.value.parent_id);
    FUZZ_CHECK(r.flags == tp.value.flags);
    FUZZ_CHECK(!r.trace_id.IsZero() && !r.parent_id.IsZero());
    FUZZ_CHECK(std::hash<TraceId>()(r.trace_id) == std::hash<TraceId>()(tp.value.trace_id));
  } else {
    FUZZ_CHECK(r.trace_id.IsZero() && r.parent_id.IsZero() && r.flags == 0);
  }

  // A bad tracestate never changes the verdict; without a valid traceparent it is only orphaned.
  // A repeated key is flagged only when the content is judged and has no reason.
  if (tracestates.empty()) {
    FUZZ_CHECK(r.tracestate_error == TracestateError::kNone);
    FUZZ_CHECK(!r.tracestate_has_duplicates);
  } else if (r.verdict != ContextVerdict::kValid) {
    FUZZ_CHECK(r.tracestate_error == TracestateError::kOrphan);
    FUZZ_CHECK(!r.tracestate_has_duplicates);
  } else {
    FUZZ_CHECK(r.tracestate_error == ValidateTracestate(tracestates));
    const ReferenceTracestateResult want = ReferenceTracestate(Join(tracestates));
    FUZZ_CHECK(r.tracestate_has_duplicates ==
               (want.error == TracestateError::kNone && want.duplicate));
  }
  FUZZ_CHECK(Label(r.verdict) != "invalid" && Label(r.tracestate_error) != "invalid" &&
             Label(r.traceparent_error) != "invalid");
}

}  // namespace
}  // namespace tracegap

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace tracegap;  // NOLINT: this file's own helpers
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::vector<HeaderField> headers;
  std::vector<std::string_view> raw_values;
  std::string_view rest(input);
  while (!rest.empty()) {
    const std::size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::size_t colon = line.find(':');
    const std::string_view name = line.substr(0, colon);
    const std::string_view value =
        colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    headers.push_back({name, ReferenceTrimOws(value)});
    raw_values.push_back(value);
  }

  CheckClassify(headers);
  for (const HeaderField& h : headers) CheckTraceparent(h.value);
  for (std::string_view v : raw_values) CheckTraceparent(v);
  CheckTraceparent(input);
  CheckTracestate(raw_values);
  CheckTracestate({input});
  for (const HeaderField& h : headers) CheckTracestate({h.value});
  return 0;
}
