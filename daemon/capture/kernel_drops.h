#pragma once
// The kernel-side failure counters (enum tg_drop_reason in bpf/tracegap.h) and their labels.

#include <array>
#include <cstdint>
#include <string_view>

#include "tracegap.h"

namespace tracegap {

// Totals since start, indexed by reason.
using KernelDrops = std::array<uint64_t, TG_DROP_REASON_COUNT>;

constexpr std::string_view KernelDropLabel(int reason) {
  switch (reason) {
    case TG_DROP_RINGBUF_FULL:
      return "ringbuf_full";
    case TG_DROP_READ_USER:
      return "read_user_failed";
    case TG_DROP_CONN_MAP_FULL:
      return "conn_map_full";
    case TG_DROP_STASH_FULL:
      return "stash_map_full";
    case TG_DROP_IOV_LIMIT:
      return "iov_limit";
    case TG_DROP_UNREAD_CALL:
      return "unread_call";
    case TG_DROP_TLS_UNMAPPED:
      return "tls_unmapped";
  }
  return "";
}

// Every reason's label, indexed by reason.
constexpr std::array<std::string_view, TG_DROP_REASON_COUNT> KernelDropLabels() {
  std::array<std::string_view, TG_DROP_REASON_COUNT> labels{};
  for (int i = 0; i < TG_DROP_REASON_COUNT; ++i) labels[i] = KernelDropLabel(i);
  return labels;
}

}  // namespace tracegap
