#pragma once
// Produce requests (api key 0), versions kMinProduceVersion..kMaxProduceVersion, as copied after
// their 12-byte frame header (frame.h): the rest of the request header, then the body.
//
//   header   client_id NULLABLE_STRING (int16 length, even in flexible versions); v9+: tagged
//            fields
//   body     transactional_id nullable string, acks int16, timeout_ms int32,
//            [topic_data: name string (v13+: topic_id uuid), [partition_data: index int32,
//             records nullable bytes (RecordBatches: record_batch.h); v9+: tagged fields];
//             v9+: tagged fields]; v9+: tagged fields
// v9+ ("flexible") write strings, arrays and bytes in their compact forms (unsigned varint length
// + 1). Versions below 3 carry the old message sets and are not read (a client uses them only
// with brokers older than 0.11); versions above kMaxProduceVersion are not known.
//
// Pure: reports through FrameReports.

#include <cstdint>
#include <string_view>

#include "protocols/kafka/frame.h"
#include "protocols/kafka/record_batch.h"

namespace tracegap::kafka {

inline constexpr int16_t kMinProduceVersion = 3;
inline constexpr int16_t kMaxProduceVersion = 13;

constexpr bool ProduceFlexible(int16_t version) { return version >= 9; }
constexpr bool ProduceTopicIds(int16_t version) { return version >= 13; }

struct ProduceSummary {
  bool acks_read = false;  // the copy reached acks
  int16_t acks = -1;       // 0: the broker sends no response
};

// `header` is the request's frame header; `body` what follows it as copied; `whole` says that is
// all of the request (else it was cut: by --max-header-bytes, or by the stream, as the reports'
// cut reason says). Reports every record as a message (record_batch.h), and:
//   kUnsupportedVersion  a version outside kMinProduceVersion..kMaxProduceVersion (nothing read)
//   kBadFrame            `whole`, and the fields overrun the request or hold impossible values
//                        (negative counts or lengths): the rest is not read
//   kTruncated           the copy ended before the last records field did (FrameReports::Cut)
ProduceSummary ParseProduceRequest(const FrameHeader& header, std::string_view body, bool whole,
                                   FrameReports& reports);

}  // namespace tracegap::kafka
