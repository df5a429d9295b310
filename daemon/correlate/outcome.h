#pragma once
// The outcome of one outbound request, as defined in docs/semantics.md.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tracegap {

enum class Outcome : uint8_t {
  kOrigin = 0,            // no active inbound request: the process starts work on its own
  kUntracedUpstream = 1,  // active inbound requests, none with a valid traceparent
  kPropagated = 2,        // same trace id as an active inbound, a new parent id
  kPassthrough = 3,       // same trace id and parent id: forwarded unchanged
  kDropped = 4,           // no traceparent although an active inbound had one
  kRestarted = 5,         // a valid traceparent of a trace no active inbound carries
  kMangled = 6,           // a malformed traceparent
  kUnknown = 7,           // headers or the inbound side not fully seen; never a gap
  kCount = 8,
};

inline constexpr size_t kOutcomeCount = static_cast<size_t>(Outcome::kCount);

constexpr std::array<Outcome, kOutcomeCount> kOutcomes = {
    Outcome::kOrigin,  Outcome::kUntracedUpstream, Outcome::kPropagated, Outcome::kPassthrough,
    Outcome::kDropped, Outcome::kRestarted,        Outcome::kMangled,    Outcome::kUnknown};

constexpr std::string_view Label(Outcome o) {
  switch (o) {
    case Outcome::kOrigin: return "origin";
    case Outcome::kUntracedUpstream: return "untraced_upstream";
    case Outcome::kPropagated: return "propagated";
    case Outcome::kPassthrough: return "passthrough";
    case Outcome::kDropped: return "dropped";
    case Outcome::kRestarted: return "restarted";
    case Outcome::kMangled: return "mangled";
    case Outcome::kUnknown: return "unknown";
    case Outcome::kCount: break;
  }
  return "invalid";
}

constexpr bool IsGap(Outcome o) {
  return o == Outcome::kDropped || o == Outcome::kRestarted || o == Outcome::kMangled;
}

// Outcomes that count in the gap ratio's denominator: the process had valid context to pass on.
constexpr bool HadContext(Outcome o) {
  return o == Outcome::kPropagated || o == Outcome::kPassthrough || IsGap(o);
}

}  // namespace tracegap
