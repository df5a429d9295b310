#include "protocols/trace_context/trace_context.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>

#include "protocols/header_field.h"

namespace tracegap {
namespace {

// ---------------------------------------------------------------------------------------------
// traceparent layout: vv-tttttttttttttttttttttttttttttttt-pppppppppppppppp-ff[-...]

constexpr std::size_t kVersion0Length = 55;
constexpr std::array<std::size_t, 3> kDelimiterPositions = {2, 35, 52};

struct Field {
  std::size_t pos;
  std::size_t length;
};
constexpr Field kVersionField = {0, 2};
constexpr Field kTraceIdField = {3, 32};
constexpr Field kParentIdField = {36, 16};
constexpr Field kFlagsField = {53, 2};
static_assert(kTraceIdField.length == 2 * TraceId::kSize);
static_assert(kParentIdField.length == 2 * SpanId::kSize);
static_assert(kFlagsField.pos + kFlagsField.length == kVersion0Length);
constexpr std::array<Field, 4> kHexFields = {kVersionField, kTraceIdField, kParentIdField,
                                             kFlagsField};

constexpr std::string_view FieldOf(std::string_view value, Field f) {
  return value.substr(f.pos, f.length);
}

// Case-insensitive on purpose: case is judged separately (kUppercaseHex) so that "non_hex" means
// "no change of case could fix this".
constexpr int HexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr bool IsHex(std::string_view s) {
  for (char c : s) {
    if (HexDigitValue(c) < 0) return false;
  }
  return true;
}

constexpr bool HasUppercase(std::string_view s) {
  for (char c : s) {
    if (c >= 'A' && c <= 'Z') return true;
  }
  return false;
}

constexpr bool AllZeroDigits(std::string_view s) {
  for (char c : s) {
    if (c != '0') return false;
  }
  return true;
}

// Only call on text that passed IsHex().
constexpr uint8_t DecodeHexPair(char hi, char lo) {
  return static_cast<uint8_t>((HexDigitValue(hi) << 4) | HexDigitValue(lo));
}

template <std::size_t N>
HexId<N> DecodeHexId(std::string_view hex) {
  HexId<N> id;
  for (std::size_t i = 0; i < N; ++i) id.bytes[i] = DecodeHexPair(hex[2 * i], hex[2 * i + 1]);
  return id;
}

// Length depends only on whether the version is literally "00": any other version, including a
// garbage one, is held to the future-version rule, so that "length" never depends on whether the
// version itself turns out to be valid.
constexpr bool LengthOk(std::string_view value) {
  if (value.size() < kVersion0Length) return false;
  if (FieldOf(value, kVersionField) == "00") return value.size() == kVersion0Length;
  return true;
}

// Only call once LengthOk() holds.
constexpr bool DelimitersOk(std::string_view value) {
  for (std::size_t pos : kDelimiterPositions) {
    if (value[pos] != '-') return false;
  }
  // Future versions may append fields, but only after a delimiter.
  return value.size() == kVersion0Length || value[kVersion0Length] == '-';
}

constexpr bool VersionOk(std::string_view version) {
  return IsHex(version) && !EqualsLower(version, "ff");
}

// The checks run in precedence order and the first failure is the reason. LengthOk() runs first,
// so every later check indexes within the value, whatever bytes it holds.
constexpr TraceparentError FindTraceparentError(std::string_view value) {
  if (!LengthOk(value)) return TraceparentError::kLength;
  if (!DelimitersOk(value)) return TraceparentError::kDelimiter;
  if (!VersionOk(FieldOf(value, kVersionField))) return TraceparentError::kVersion;
  for (const Field& f : {kTraceIdField, kParentIdField, kFlagsField}) {
    if (!IsHex(FieldOf(value, f))) return TraceparentError::kNonHex;
  }
  if (AllZeroDigits(FieldOf(value, kTraceIdField))) return TraceparentError::kZeroTraceId;
  if (AllZeroDigits(FieldOf(value, kParentIdField))) return TraceparentError::kZeroParentId;
  // Last, so that the label keeps its promise: lowercasing would make the value valid.
  for (const Field& f : kHexFields) {
    if (HasUppercase(FieldOf(value, f))) return TraceparentError::kUppercaseHex;
  }
  return TraceparentError::kNone;
}

static_assert(FindTraceparentError("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") ==
              TraceparentError::kNone);
static_assert(FindTraceparentError("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01") ==
              TraceparentError::kUppercaseHex);

// ---------------------------------------------------------------------------------------------
// tracestate

constexpr std::size_t kMaxMembers = 32;
constexpr std::size_t kMaxKeyLength = 256;
constexpr std::size_t kMaxValueLength = 256;

constexpr bool IsKeyStart(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// '@' is allowed anywhere after the first char, which accepts the multi-tenant form
// "tenant@system" (and a few strings the stricter multi-tenant grammar would not).
constexpr bool IsKeyChar(char c) {
  return IsKeyStart(c) || c == '_' || c == '-' || c == '*' || c == '/' || c == '@';
}

constexpr bool KeyOk(std::string_view key) {
  if (key.empty() || key.size() > kMaxKeyLength || !IsKeyStart(key.front())) return false;
  for (char c : key) {
    if (!IsKeyChar(c)) return false;
  }
  return true;
}

constexpr bool IsValueChar(char c) { return c >= 0x20 && c <= 0x7e && c != ',' && c != '='; }

// A trailing space would normally have been trimmed as OWS already; the check keeps the function
// correct on its own.
constexpr bool ValueOk(std::string_view value) {
  if (value.empty() || value.size() > kMaxValueLength || value.back() == ' ') return false;
  for (char c : value) {
    if (!IsValueChar(c)) return false;
  }
  return true;
}

constexpr uint8_t Bit(TracestateError e) { return static_cast<uint8_t>(1u << static_cast<int>(e)); }

// Streams over the tracestate fields of one message without copying or joining them. Every
// problem found is recorded and the reason is chosen at the end, so the result depends on which
// rules are broken, not on where in the list they are broken.
class TracestateValidator {
 public:
  void AddField(std::string_view field) {
    // Fields are joined with ',', so a field boundary is a member boundary.
    while (true) {
      const std::size_t comma = field.find(',');
      AddMember(TrimOws(field.substr(0, comma)));
      if (comma == std::string_view::npos) return;
      field.remove_prefix(comma + 1);
    }
  }

  // Some valid key appeared more than once. Exact only when Result() is kNone.
  bool DuplicateKeys() const { return duplicate_keys_; }

  TracestateError Result() const {
    uint8_t found = found_;
    if (members_ > kMaxMembers) found |= Bit(TracestateError::kTooManyMembers);
    for (TracestateError e : kTracestateErrors) {
      if (found & Bit(e)) return e;
    }
    return TracestateError::kNone;
  }

 private:
  void AddMember(std::string_view member) {
    if (member.empty()) return;  // allowed, and not counted
    ++members_;
    const std::size_t eq = member.find('=');
    if (eq == std::string_view::npos) {
      found_ |= Bit(TracestateError::kMember);
      return;
    }
    const std::string_view key = member.substr(0, eq);
    const bool key_ok = KeyOk(key);
    if (!key_ok) found_ |= Bit(TracestateError::kKey);
    if (!ValueOk(member.substr(eq + 1))) found_ |= Bit(TracestateError::kValue);
    if (key_ok) NoteKey(key);
  }

  // A repeated key is not an error (Level 2), only a finding for a list that is otherwise valid.
  // Such a list has at most kMaxMembers keys, so a fixed array holds them all, nothing is
  // allocated, and a hostile list cannot make this quadratic: past kMaxMembers the list is
  // too_many_members and the finding is not reported.
  void NoteKey(std::string_view key) {
    if (key_count_ == keys_.size()) return;
    for (std::size_t i = 0; i < key_count_; ++i) {
      if (keys_[i] == key) {
        duplicate_keys_ = true;
        return;
      }
    }
    keys_[key_count_++] = key;
  }

  std::array<std::string_view, kMaxMembers> keys_{};
  std::size_t key_count_ = 0;
  std::size_t members_ = 0;
  uint8_t found_ = 0;  // Bit() of each reason seen
  bool duplicate_keys_ = false;
};

// ---------------------------------------------------------------------------------------------
// Legacy formats

struct LegacyHeader {
  std::string_view name;  // lowercase
  bool prefix;            // match names starting with `name`
  LegacyFormat format;
};

constexpr LegacyHeader kLegacyHeaders[] = {
    {"b3", false, LegacyFormat::kB3},
    {"x-b3-traceid", false, LegacyFormat::kB3},
    {"x-b3-spanid", false, LegacyFormat::kB3},
    {"x-b3-parentspanid", false, LegacyFormat::kB3},
    {"x-b3-sampled", false, LegacyFormat::kB3},
    {"x-b3-flags", false, LegacyFormat::kB3},
    {"uber-trace-id", false, LegacyFormat::kJaeger},
    {"uberctx-", true, LegacyFormat::kJaeger},  // Jaeger baggage
    {"x-amzn-trace-id", false, LegacyFormat::kXRay},
    {"grpc-trace-bin", false, LegacyFormat::kGrpcTraceBin},
    {"sw8", false, LegacyFormat::kSkyWalking},
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Labels

std::string_view Label(TraceparentError error) noexcept {
  switch (error) {
    case TraceparentError::kNone:
      return "none";
    case TraceparentError::kDuplicate:
      return "duplicate";
    case TraceparentError::kLength:
      return "length";
    case TraceparentError::kDelimiter:
      return "delimiter";
    case TraceparentError::kVersion:
      return "version";
    case TraceparentError::kNonHex:
      return "non_hex";
    case TraceparentError::kZeroTraceId:
      return "zero_trace_id";
    case TraceparentError::kZeroParentId:
      return "zero_parent_id";
    case TraceparentError::kUppercaseHex:
      return "uppercase_hex";
  }
  return "invalid";
}

std::string_view Label(TracestateError error) noexcept {
  switch (error) {
    case TracestateError::kNone:
      return "none";
    case TracestateError::kOrphan:
      return "orphan";
    case TracestateError::kMember:
      return "member";
    case TracestateError::kKey:
      return "key";
    case TracestateError::kValue:
      return "value";
    case TracestateError::kTooManyMembers:
      return "too_many_members";
  }
  return "invalid";
}

std::string_view Label(LegacyFormat format) noexcept {
  switch (format) {
    case LegacyFormat::kNone:
      return "none";
    case LegacyFormat::kB3:
      return "b3";
    case LegacyFormat::kJaeger:
      return "jaeger";
    case LegacyFormat::kXRay:
      return "xray";
    case LegacyFormat::kGrpcTraceBin:
      return "grpc_trace_bin";
    case LegacyFormat::kSkyWalking:
      return "sw8";
  }
  return "invalid";
}

// ---------------------------------------------------------------------------------------------
// Public functions

LegacyFormat LegacyFormatForHeader(std::string_view name) noexcept {
  for (const LegacyHeader& h : kLegacyHeaders) {
    if (h.prefix ? StartsWithLower(name, h.name) : EqualsLower(name, h.name)) return h.format;
  }
  return LegacyFormat::kNone;
}

TraceparentResult ParseTraceparent(std::string_view value) noexcept {
  TraceparentResult result;
  result.error = FindTraceparentError(value);
  if (!result.ok()) return result;
  Traceparent& tp = result.value;
  tp.version = DecodeHexPair(value[kVersionField.pos], value[kVersionField.pos + 1]);
  tp.trace_id = DecodeHexId<TraceId::kSize>(FieldOf(value, kTraceIdField));
  tp.parent_id = DecodeHexId<SpanId::kSize>(FieldOf(value, kParentIdField));
  tp.flags = DecodeHexPair(value[kFlagsField.pos], value[kFlagsField.pos + 1]);
  return result;
}

TracestateError ValidateTracestate(std::span<const std::string_view> fields) noexcept {
  TracestateValidator validator;
  for (std::string_view field : fields) validator.AddField(field);
  return validator.Result();
}

TracestateError ValidateTracestate(std::string_view field) noexcept {
  return ValidateTracestate(std::span<const std::string_view>(&field, 1));
}

ContextResult ClassifyContext(std::span<const HeaderField> headers) noexcept {
  ContextResult result;
  std::string_view traceparent;
  std::size_t traceparent_count = 0;
  for (const HeaderField& h : headers) {
    if (EqualsLower(h.name, "traceparent")) {
      if (traceparent_count++ == 0) traceparent = h.value;
    } else if (EqualsLower(h.name, "tracestate")) {
      result.has_tracestate = true;
    } else {
      result.legacy |= LegacyFormatForHeader(h.name);
    }
  }

  if (traceparent_count == 0) {
    result.verdict = ContextVerdict::kMissing;
  } else if (traceparent_count > 1) {
    result.verdict = ContextVerdict::kMalformed;
    result.traceparent_error = TraceparentError::kDuplicate;
  } else {
    const TraceparentResult tp = ParseTraceparent(traceparent);
    if (tp.ok()) {
      result.verdict = ContextVerdict::kValid;
      result.trace_id = tp.value.trace_id;
      result.parent_id = tp.value.parent_id;
      result.flags = tp.value.flags;
    } else {
      result.verdict = ContextVerdict::kMalformed;
      result.traceparent_error = tp.error;
    }
  }

  if (!result.has_tracestate) return result;
  // The spec forbids interpreting tracestate without a valid traceparent, so its content is not
  // judged then: the only finding is that it is orphaned.
  if (result.verdict != ContextVerdict::kValid) {
    result.tracestate_error = TracestateError::kOrphan;
    return result;
  }
  TracestateValidator validator;
  for (const HeaderField& h : headers) {
    if (EqualsLower(h.name, "tracestate")) validator.AddField(h.value);
  }
  result.tracestate_error = validator.Result();
  result.tracestate_has_duplicates =
      result.tracestate_error == TracestateError::kNone && validator.DuplicateKeys();
  return result;
}

}  // namespace tracegap
