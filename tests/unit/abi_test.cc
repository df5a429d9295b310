// Pins the kernel/userspace ABI of bpf/tracegap.h. The BPF programs and the daemon are built
// separately, so a layout change that is not made on both sides (and followed by a bump of
// TG_ABI_VERSION) silently corrupts every event. The static_asserts make such a change fail the
// build of this test; the EXPECTs repeat them so the values also show up in test output.

#include "tracegap.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <set>
#include <string_view>
#include <type_traits>

#include "capture/kernel_drops.h"

namespace tracegap {
namespace {

// ---------------------------------------------------------------------------------------------
// Layouts

static_assert(std::is_standard_layout_v<tg_tuple>);
static_assert(std::is_standard_layout_v<tg_event_header>);
static_assert(std::is_standard_layout_v<tg_data_event>);
static_assert(std::is_trivially_copyable_v<tg_data_event>);

static_assert(sizeof(tg_tuple) == 40);
static_assert(alignof(tg_tuple) == 2);
static_assert(offsetof(tg_tuple, family) == 0);
static_assert(offsetof(tg_tuple, local_port) == 2);
static_assert(offsetof(tg_tuple, remote_port) == 4);
static_assert(offsetof(tg_tuple, _pad) == 6);
static_assert(offsetof(tg_tuple, local_addr) == 8);
static_assert(offsetof(tg_tuple, remote_addr) == 24);

static_assert(sizeof(tg_event_header) == 48);
static_assert(alignof(tg_event_header) == 8);
static_assert(offsetof(tg_event_header, kind) == 0);
static_assert(offsetof(tg_event_header, direction) == 1);
static_assert(offsetof(tg_event_header, flags) == 2);
static_assert(offsetof(tg_event_header, tgid) == 4);
static_assert(offsetof(tg_event_header, tid) == 8);
static_assert(offsetof(tg_event_header, transport) == 12);
static_assert(offsetof(tg_event_header, _pad) == 13);
static_assert(offsetof(tg_event_header, conn_id) == 16);
static_assert(offsetof(tg_event_header, ts_ns) == 24);
static_assert(offsetof(tg_event_header, comm) == 32);

static_assert(sizeof(tg_data_event) == 96);
static_assert(alignof(tg_data_event) == 8);
static_assert(offsetof(tg_data_event, hdr) == 0);
static_assert(offsetof(tg_data_event, tuple) == 48);
static_assert(offsetof(tg_data_event, syscall_bytes) == 88);
static_assert(offsetof(tg_data_event, data_len) == 92);
static_assert(offsetof(tg_data_event, data) == 96);

TEST(AbiTest, TupleLayout) {
  EXPECT_EQ(sizeof(tg_tuple), 40u);
  EXPECT_EQ(offsetof(tg_tuple, family), 0u);
  EXPECT_EQ(offsetof(tg_tuple, local_port), 2u);
  EXPECT_EQ(offsetof(tg_tuple, remote_port), 4u);
  EXPECT_EQ(offsetof(tg_tuple, _pad), 6u);
  EXPECT_EQ(offsetof(tg_tuple, local_addr), 8u);
  EXPECT_EQ(offsetof(tg_tuple, remote_addr), 24u);
  EXPECT_EQ(sizeof(tg_tuple::family), 2u);
  EXPECT_EQ(sizeof(tg_tuple::local_port), 2u);
  EXPECT_EQ(sizeof(tg_tuple::remote_port), 2u);
  EXPECT_EQ(sizeof(tg_tuple::local_addr), 16u);
  EXPECT_EQ(sizeof(tg_tuple::remote_addr), 16u);
}

TEST(AbiTest, EventHeaderLayout) {
  EXPECT_EQ(sizeof(tg_event_header), 48u);
  EXPECT_EQ(offsetof(tg_event_header, kind), 0u);
  EXPECT_EQ(offsetof(tg_event_header, direction), 1u);
  EXPECT_EQ(offsetof(tg_event_header, flags), 2u);
  EXPECT_EQ(offsetof(tg_event_header, tgid), 4u);
  EXPECT_EQ(offsetof(tg_event_header, tid), 8u);
  EXPECT_EQ(offsetof(tg_event_header, transport), 12u);
  EXPECT_EQ(offsetof(tg_event_header, _pad), 13u);
  EXPECT_EQ(offsetof(tg_event_header, conn_id), 16u);
  EXPECT_EQ(offsetof(tg_event_header, ts_ns), 24u);
  EXPECT_EQ(offsetof(tg_event_header, comm), 32u);
  EXPECT_EQ(sizeof(tg_event_header::kind), 1u);
  EXPECT_EQ(sizeof(tg_event_header::direction), 1u);
  EXPECT_EQ(sizeof(tg_event_header::flags), 2u);
  EXPECT_EQ(sizeof(tg_event_header::tgid), 4u);
  EXPECT_EQ(sizeof(tg_event_header::tid), 4u);
  EXPECT_EQ(sizeof(tg_event_header::conn_id), 8u);
  EXPECT_EQ(sizeof(tg_event_header::ts_ns), 8u);
  EXPECT_EQ(sizeof(tg_event_header::comm), static_cast<size_t>(TG_COMM_LEN));
}

TEST(AbiTest, DataEventLayout) {
  EXPECT_EQ(sizeof(tg_data_event), 96u);
  EXPECT_EQ(offsetof(tg_data_event, hdr), 0u);
  EXPECT_EQ(offsetof(tg_data_event, tuple), 48u);
  EXPECT_EQ(offsetof(tg_data_event, syscall_bytes), 88u);
  EXPECT_EQ(offsetof(tg_data_event, data_len), 92u);
  EXPECT_EQ(offsetof(tg_data_event, data), 96u);
  EXPECT_EQ(sizeof(tg_data_event::syscall_bytes), 4u);
  EXPECT_EQ(sizeof(tg_data_event::data_len), 4u);
  // The ring buffer rounds records up to 8 bytes; the fixed part must already be a multiple.
  EXPECT_EQ(sizeof(tg_data_event) % 8, 0u);
}

// ---------------------------------------------------------------------------------------------
// Constants and enum values

static_assert(TG_ABI_VERSION == 2, "a layout change needs a new TG_ABI_VERSION and this test");
static_assert(TG_COMM_LEN == 16);
static_assert(TG_MAX_COPY > 0 && (TG_MAX_COPY & (TG_MAX_COPY - 1)) == 0);
static_assert(TG_DEFAULT_MAX_HEADER_BYTES <= TG_MAX_COPY);

TEST(AbiTest, Constants) {
  EXPECT_EQ(TG_ABI_VERSION, 2);
  EXPECT_EQ(TG_COMM_LEN, 16);
  EXPECT_EQ(TG_MAX_COPY, 8192);
  EXPECT_EQ(TG_DEFAULT_MAX_HEADER_BYTES, 4096);
  EXPECT_EQ(TG_MAX_IOV, 8);
}

TEST(AbiTest, MaxCopyIsAPowerOfTwo) {
  constexpr unsigned kMax = TG_MAX_COPY;
  EXPECT_GT(kMax, 0u);
  // The BPF side bounds offsets with `& (TG_MAX_COPY - 1)`, which is only a bound for a power
  // of two.
  EXPECT_EQ(kMax & (kMax - 1), 0u) << kMax << " is not a power of two";
}

TEST(AbiTest, EventKinds) {
  EXPECT_EQ(TG_EVENT_DATA, 1);
  EXPECT_EQ(TG_EVENT_CLOSE, 2);
}

TEST(AbiTest, Directions) {
  EXPECT_EQ(TG_DIR_EGRESS, 0);
  EXPECT_EQ(TG_DIR_INGRESS, 1);
}

TEST(AbiTest, DataFlagBits) {
  EXPECT_EQ(TG_DATA_CONTINUATION, 1);
  EXPECT_EQ(TG_DATA_TRUNCATED, 2);
  EXPECT_EQ(TG_DATA_LOST_BEFORE, 4);
  EXPECT_EQ(TG_DATA_NEW_CONN, 8);
  // All flags fit the 16-bit flags field.
  constexpr unsigned kAll =
      TG_DATA_CONTINUATION | TG_DATA_TRUNCATED | TG_DATA_LOST_BEFORE | TG_DATA_NEW_CONN;
  EXPECT_EQ(kAll, 0xfu);
  EXPECT_LE(kAll, 0xffffu);
}

TEST(AbiTest, DropReasons) {
  EXPECT_EQ(TG_DROP_RINGBUF_FULL, 0);
  EXPECT_EQ(TG_DROP_READ_USER, 1);
  EXPECT_EQ(TG_DROP_CONN_MAP_FULL, 2);
  EXPECT_EQ(TG_DROP_STASH_FULL, 3);
  EXPECT_EQ(TG_DROP_IOV_LIMIT, 4);
  EXPECT_EQ(TG_DROP_UNREAD_CALL, 5);
  EXPECT_EQ(TG_DROP_REASON_COUNT, 7);
}

// ---------------------------------------------------------------------------------------------
// daemon/capture/kernel_drops.h

static_assert(KernelDropLabels().size() == TG_DROP_REASON_COUNT);
static_assert(!KernelDropLabel(TG_DROP_RINGBUF_FULL).empty());

TEST(KernelDropsTest, EveryReasonHasADistinctNonEmptyLabel) {
  std::set<std::string_view> seen;
  for (int reason = 0; reason < TG_DROP_REASON_COUNT; ++reason) {
    const std::string_view label = KernelDropLabel(reason);
    EXPECT_FALSE(label.empty()) << "reason " << reason;
    EXPECT_TRUE(seen.insert(label).second) << "duplicate label '" << label << "'";
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(TG_DROP_REASON_COUNT));
}

TEST(KernelDropsTest, LabelsTableMatchesLabelFunction) {
  constexpr auto kLabels = KernelDropLabels();
  ASSERT_EQ(kLabels.size(), static_cast<size_t>(TG_DROP_REASON_COUNT));
  for (int reason = 0; reason < TG_DROP_REASON_COUNT; ++reason) {
    EXPECT_EQ(kLabels[reason], KernelDropLabel(reason)) << "reason " << reason;
  }
}

TEST(KernelDropsTest, LabelsAreStable) {
  // Prometheus label values: renaming one breaks dashboards.
  EXPECT_EQ(KernelDropLabel(TG_DROP_RINGBUF_FULL), "ringbuf_full");
  EXPECT_EQ(KernelDropLabel(TG_DROP_READ_USER), "read_user_failed");
  EXPECT_EQ(KernelDropLabel(TG_DROP_CONN_MAP_FULL), "conn_map_full");
  EXPECT_EQ(KernelDropLabel(TG_DROP_STASH_FULL), "stash_map_full");
  EXPECT_EQ(KernelDropLabel(TG_DROP_IOV_LIMIT), "iov_limit");
  EXPECT_EQ(KernelDropLabel(TG_DROP_UNREAD_CALL), "unread_call");
}

TEST(KernelDropsTest, OutOfRangeReasonHasNoLabel) {
  EXPECT_EQ(KernelDropLabel(-1), "");
  EXPECT_EQ(KernelDropLabel(TG_DROP_REASON_COUNT), "");
}

}  // namespace
}  // namespace tracegap
