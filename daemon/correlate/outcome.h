#pragma once
// What outcomes mean for the gap ratio (docs/semantics.md), and the totals over per-verdict and
// per-outcome counters that the daemon's process table and the CLI both show. The outcomes
// themselves are in vocabulary.h.

#include <array>
#include <cstdint>

#include "vocabulary.h"

namespace tracegap {

constexpr bool IsGap(Outcome o) {
  return o == Outcome::kDropped || o == Outcome::kRestarted || o == Outcome::kMangled;
}

// Outcomes that count in the gap ratio's denominator: the process had valid context to pass on.
constexpr bool HadContext(Outcome o) {
  return o == Outcome::kPropagated || o == Outcome::kPassthrough || IsGap(o);
}

// Counters indexed by value.
using VerdictCounts = std::array<uint64_t, kAllContextVerdicts.size()>;
using OutcomeCounts = std::array<uint64_t, kAllOutcomes.size()>;

template <size_t N>
constexpr uint64_t Total(const std::array<uint64_t, N>& counts) {
  uint64_t n = 0;
  for (uint64_t v : counts) n += v;
  return n;
}

constexpr uint64_t Gaps(const OutcomeCounts& outbound) {
  uint64_t n = 0;
  for (Outcome o : kAllOutcomes) {
    if (IsGap(o)) n += outbound[static_cast<size_t>(o)];
  }
  return n;
}

// The gap ratio's denominator: outbound requests made with valid context to pass on.
constexpr uint64_t WithContext(const OutcomeCounts& outbound) {
  uint64_t n = 0;
  for (Outcome o : kAllOutcomes) {
    if (HadContext(o)) n += outbound[static_cast<size_t>(o)];
  }
  return n;
}

// Gaps / WithContext; 0 when nothing had context.
constexpr double GapRatio(const OutcomeCounts& outbound) {
  const uint64_t with_context = WithContext(outbound);
  return with_context == 0
             ? 0.0
             : static_cast<double>(Gaps(outbound)) / static_cast<double>(with_context);
}

}  // namespace tracegap
