#pragma once
// Fetch responses (to api key 1 requests), versions kMinFetchVersion..kMaxFetchVersion, as copied
// after their 8-byte frame header (frame.h): the rest of the response header, then the body.
//
//   header   v12+: tagged fields
//   body     throttle_time_ms int32, v7+: error_code int16, session_id int32,
//            [responses: topic string (v13+: topic_id uuid),
//             [partitions: partition_index int32, error_code int16, high_watermark int64,
//              last_stable_offset int64, v5+: log_start_offset int64,
//              aborted_transactions nullable [producer_id int64, first_offset int64; v12+: tagged
//              fields], v11+: preferred_read_replica int32, records nullable bytes
//              (RecordBatches: record_batch.h); v12+: tagged fields]; v12+: tagged fields];
//            v12+: tagged fields
// v12+ ("flexible") write strings, arrays and bytes in their compact forms. Versions below 4 are
// not read (no client current enough to send an ApiVersions request first uses them); versions
// above kMaxFetchVersion are not known.
//
// What a consumer does not keep is still reported: records before the fetch offset in the first
// batch (a broker returns whole batches), and records of aborted transactions under
// read_committed. The fetch request is not copied, so neither can be told.
//
// Pure: reports through FrameReports.

#include <cstdint>
#include <string_view>

#include "protocols/kafka/record_batch.h"

namespace tracegap::kafka {

inline constexpr int16_t kMinFetchVersion = 4;
inline constexpr int16_t kMaxFetchVersion = 17;

constexpr bool FetchFlexible(int16_t version) { return version >= 12; }
constexpr bool FetchTopicIds(int16_t version) { return version >= 13; }

// `version` and `correlation_id` are the Fetch request's; `body` is what follows the response's
// frame header as copied; `whole` says that is all of the response. Reports every record as a
// message (record_batch.h), and:
//   kUnsupportedVersion  a version outside kMinFetchVersion..kMaxFetchVersion (nothing read)
//   kBadFrame            `whole`, and the fields overrun the response or hold impossible values
//   kTruncated           the copy ended before the last records field did (FrameReports::Cut)
void ParseFetchResponse(int16_t version, int32_t correlation_id, std::string_view body, bool whole,
                        FrameReports& reports);

}  // namespace tracegap::kafka
