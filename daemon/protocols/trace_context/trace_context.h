#pragma once
// W3C Trace Context (Level 2) validation and legacy propagation-format detection for the headers of
// one HTTP message.
//
// Everything here is pure: no I/O, clocks, globals or exceptions, and no heap allocation except in
// HexId::ToHex(). Inputs are arbitrary bytes straight off the wire, so every function is total: bad
// input yields a reason, never UB. The reason labels are Prometheus label values and are
// documented, with their precedence, in docs/trace-context-reasons.md; keep the three in sync.

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "protocols/header_field.h"
#include "vocabulary.h"

namespace tracegap {

// ---------------------------------------------------------------------------------------------
// Identifiers

// A fixed-size binary id. Trace ids and span ids are distinct types (different N), so the
// correlator cannot compare one with the other by mistake.
template <std::size_t N>
struct HexId {
  static constexpr std::size_t kSize = N;

  std::array<uint8_t, N> bytes{};

  friend constexpr bool operator==(const HexId&, const HexId&) = default;
  friend constexpr auto operator<=>(const HexId&, const HexId&) = default;

  constexpr bool IsZero() const {
    for (uint8_t b : bytes) {
      if (b != 0) return false;
    }
    return true;
  }

  // Lowercase hex, 2*N chars: the form the id has on the wire.
  std::string ToHex() const {
    constexpr char kDigits[] = "0123456789abcdef";
    std::string out(2 * N, '0');
    for (std::size_t i = 0; i < N; ++i) {
      out[2 * i] = kDigits[bytes[i] >> 4];
      out[2 * i + 1] = kDigits[bytes[i] & 0x0f];
    }
    return out;
  }
};

using TraceId = HexId<16>;
using SpanId = HexId<8>;

// ---------------------------------------------------------------------------------------------
// Reasons. Enumerators are declared in precedence order (highest first) and the k*Errors arrays
// list them in the same order, so iterating an array walks the documented precedence.

enum class TraceparentError : uint8_t {
  kNone = 0,
  kDuplicate,     // more than one traceparent field in the message
  kLength,        // empty, shorter than 55, or version 00 and not exactly 55
  kDelimiter,     // no '-' at 2, 35, 52, or (future version longer than 55) at 55
  kVersion,       // version is not two hex digits, or is ff (any case)
  kNonHex,        // a char outside [0-9a-fA-F] in trace-id, parent-id or flags
  kZeroTraceId,   // trace-id is all zeros
  kZeroParentId,  // parent-id is all zeros
  kUppercaseHex,  // the value would be valid if A-F were lowercase
};

inline constexpr std::array kTraceparentErrors = {
    TraceparentError::kDuplicate,    TraceparentError::kLength,
    TraceparentError::kDelimiter,    TraceparentError::kVersion,
    TraceparentError::kNonHex,       TraceparentError::kZeroTraceId,
    TraceparentError::kZeroParentId, TraceparentError::kUppercaseHex,
};

enum class TracestateError : uint8_t {
  kNone = 0,
  kOrphan,          // tracestate present but traceparent missing or malformed
  kMember,          // a non-empty list member without '='
  kKey,             // a key breaks the key grammar
  kValue,           // a value breaks the value grammar
  kTooManyMembers,  // more than 32 non-empty list members
  // No duplicate-key reason: Level 2 allows a repeated key on the wire (keeping keys unique is the
  // sender's duty, and a receiver may drop the repeats but not the header). See
  // ContextResult::tracestate_has_duplicates.
};

inline constexpr std::array kTracestateErrors = {
    TracestateError::kOrphan, TracestateError::kMember,         TracestateError::kKey,
    TracestateError::kValue,  TracestateError::kTooManyMembers,
};

// Bitmask: a message may carry several legacy formats at once (and W3C as well).
enum class LegacyFormat : uint8_t {
  kNone = 0,
  kB3 = 1 << 0,            // b3, x-b3-*
  kJaeger = 1 << 1,        // uber-trace-id, uberctx-*
  kXRay = 1 << 2,          // x-amzn-trace-id
  kGrpcTraceBin = 1 << 3,  // grpc-trace-bin
  kSkyWalking = 1 << 4,    // sw8
};

inline constexpr std::array kLegacyFormats = {
    LegacyFormat::kB3,           LegacyFormat::kJaeger,     LegacyFormat::kXRay,
    LegacyFormat::kGrpcTraceBin, LegacyFormat::kSkyWalking,
};

// Labels. kNone maps to "none"; a value outside the enum (or a multi-bit LegacyFormat) maps to
// "invalid" so a caller bug never produces an empty Prometheus label.
std::string_view Label(TraceparentError error) noexcept;
std::string_view Label(TracestateError error) noexcept;
std::string_view Label(LegacyFormat format) noexcept;

// ---------------------------------------------------------------------------------------------
// Legacy formats

// The mask is a plain uint8_t (what ContextResult stores), so these build one from formats.
constexpr uint8_t operator|(uint8_t mask, LegacyFormat format) {
  return static_cast<uint8_t>(mask | static_cast<uint8_t>(format));
}
constexpr uint8_t operator|(LegacyFormat a, LegacyFormat b) { return static_cast<uint8_t>(a) | b; }
constexpr uint8_t& operator|=(uint8_t& mask, LegacyFormat format) { return mask = mask | format; }

constexpr bool HasLegacyFormat(uint8_t mask, LegacyFormat format) {
  return (mask & static_cast<uint8_t>(format)) != 0;
}

// Which legacy format a header name (any case) belongs to; kNone for everything else.
LegacyFormat LegacyFormatForHeader(std::string_view name) noexcept;

// The set bits of a LegacyFormat mask, in kLegacyFormats order, without allocating.
class LegacyFormatList {
 public:
  constexpr const LegacyFormat* begin() const { return items_.data(); }
  constexpr const LegacyFormat* end() const { return items_.data() + size_; }
  constexpr std::size_t size() const { return size_; }
  constexpr bool empty() const { return size_ == 0; }
  constexpr LegacyFormat operator[](std::size_t i) const { return items_[i]; }

 private:
  friend constexpr LegacyFormatList ListLegacyFormats(uint8_t mask);
  std::array<LegacyFormat, kLegacyFormats.size()> items_{};
  std::size_t size_ = 0;
};

constexpr LegacyFormatList ListLegacyFormats(uint8_t mask) {
  LegacyFormatList list;
  for (LegacyFormat f : kLegacyFormats) {
    if (HasLegacyFormat(mask, f)) list.items_[list.size_++] = f;
  }
  return list;
}

// ---------------------------------------------------------------------------------------------
// traceparent / tracestate

struct Traceparent {
  uint8_t version = 0;
  TraceId trace_id;
  SpanId parent_id;
  uint8_t flags = 0;
};

struct TraceparentResult {
  TraceparentError error = TraceparentError::kNone;
  Traceparent value;  // meaningful only when ok()

  constexpr bool ok() const { return error == TraceparentError::kNone; }
};

// Validates one traceparent field value (already trimmed of SP/HTAB). Never returns kDuplicate:
// that needs the whole message, see ClassifyContext().
TraceparentResult ParseTraceparent(std::string_view value) noexcept;

// Validates the tracestate field values of one message, in order, as if joined with ','. Never
// returns kOrphan: that needs the traceparent, see ClassifyContext(). A repeated key is not an
// error (ClassifyContext() reports it in ContextResult::tracestate_has_duplicates).
TracestateError ValidateTracestate(std::span<const std::string_view> fields) noexcept;
TracestateError ValidateTracestate(std::string_view field) noexcept;

// ---------------------------------------------------------------------------------------------
// Whole message

struct ContextResult {
  // kValid, kMissing or kMalformed; never kUnknown (the caller decides that when it could not see
  // all headers).
  ContextVerdict verdict = ContextVerdict::kMissing;
  TraceparentError traceparent_error = TraceparentError::kNone;  // kNone unless kMalformed
  TracestateError tracestate_error = TracestateError::kNone;     // kNone if absent or valid
  bool has_tracestate = false;
  // True when the tracestate fields, joined in order, are valid (tracestate_error kNone, so the
  // traceparent is valid too) and some key appears more than once, as in "foo=1,foo=2" or in two
  // fields "foo=1" and "foo=1". Not an error (Level 2): the sender's bug, not a broken header.
  // False whenever tracestate_error is set: that reason is the finding then.
  bool tracestate_has_duplicates = false;
  uint8_t legacy = 0;  // LegacyFormat bitmask
  // Meaningful only when verdict == kValid; zero otherwise.
  TraceId trace_id;
  SpanId parent_id;
  uint8_t flags = 0;
};

// Classifies the trace context carried by all header fields of one message (names in any case).
// A bad tracestate never turns a valid traceparent into a malformed one.
ContextResult ClassifyContext(std::span<const HeaderField> headers) noexcept;

}  // namespace tracegap

// Ids are random, so their leading bytes are already a good hash.
template <std::size_t N>
struct std::hash<tracegap::HexId<N>> {
  std::size_t operator()(const tracegap::HexId<N>& id) const noexcept {
    std::size_t h = 0;
    std::memcpy(&h, id.bytes.data(), N < sizeof(h) ? N : sizeof(h));
    return h;
  }
};
