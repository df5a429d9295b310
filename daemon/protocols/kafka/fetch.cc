#include "protocols/kafka/fetch.h"

#include "protocols/kafka/reader.h"
#include "protocols/kafka/topic_walk.h"

namespace tracegap::kafka {
namespace {

constexpr uint64_t kAbortedTransactionLen = 16;  // producer_id, first_offset

}  // namespace

void ParseFetchResponse(int16_t version, int32_t correlation_id, std::string_view body, bool whole,
                        FrameReports& reports) {
  if (version < kMinFetchVersion || version > kMaxFetchVersion) {
    reports.ReportError(Error::kUnsupportedVersion);
    return;
  }
  const bool flexible = FetchFlexible(version);
  Reader r(body);
  int32_t throttle_time_ms = 0;
  int16_t error_code = 0;
  int32_t session_id = 0;
  if ((flexible && !r.SkipTaggedFields()) || !r.I32(throttle_time_ms) ||
      (version >= 7 && (!r.I16(error_code) || !r.I32(session_id)))) {
    return internal::Stop(r, whole, reports);
  }
  auto before_records = [version, flexible](Reader& in) {
    int16_t partition_error = 0;
    int64_t high_watermark = 0;
    int64_t last_stable_offset = 0;
    int64_t log_start_offset = 0;
    uint32_t aborted = 0;
    if (!in.I16(partition_error) || !in.I64(high_watermark) || !in.I64(last_stable_offset) ||
        (version >= 5 && !in.I64(log_start_offset)) || !in.ArrayCount(flexible, aborted, true)) {
      return false;
    }
    if (!flexible) {
      if (!in.Skip(uint64_t{aborted} * kAbortedTransactionLen)) return false;
    } else {
      for (uint32_t i = 0; i < aborted; ++i) {  // 17 bytes at least each: bounded by the input
        if (!in.Skip(kAbortedTransactionLen) || !in.SkipTaggedFields()) return false;
      }
    }
    int32_t preferred_read_replica = 0;
    return version < 11 || in.I32(preferred_read_replica);
  };
  Place place;
  place.kind = MessageKind::kFetch;
  place.correlation_id = correlation_id;
  place.api_version = version;
  internal::WalkTopics(r, whole, flexible, FetchTopicIds(version), /*fetch=*/true, place, reports,
                       before_records);
}

}  // namespace tracegap::kafka
