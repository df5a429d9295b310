#pragma once
// What Produce requests and Fetch responses share (produce.cc, fetch.cc): the walk over
// [topics: name or id, [partitions: index, ..., records, tagged fields], tagged fields].
// Internal to the Kafka decoder.

#include <cstdint>

#include "protocols/kafka/errors.h"
#include "protocols/kafka/reader.h"
#include "protocols/kafka/record_batch.h"

namespace tracegap::kafka::internal {

inline constexpr uint64_t kUuidLen = 16;

// After a failed read: a whole frame that runs short, or any impossible value, is malformed; a cut
// one simply ended there (and whatever came after was not seen).
inline void Stop(const Reader& r, bool whole, FrameReports& reports) {
  if (r.bad() || whole) {
    reports.ReportError(Error::kBadFrame);
  } else {
    reports.Cut();
  }
}

// Walks the topics array at `r` and every partition's records field. `before_records(r)` reads a
// partition's fields between its index and its records. `place` gives the kind, correlation id
// and version; topic and partition are filled in. Reading stops right after the last records
// field: what follows it (tagged fields) holds no records, so a cut there loses nothing.
template <typename BeforeRecords>
void WalkTopics(Reader& r, bool whole, bool flexible, bool topic_ids, bool fetch, Place place,
                FrameReports& reports, BeforeRecords before_records) {
  uint32_t topics = 0;
  if (!r.ArrayCount(flexible, topics, false)) return Stop(r, whole, reports);
  // Every topic and every partition takes at least one byte: the loops are bounded by the input.
  for (uint32_t t = 0; t < topics; ++t) {
    place.topic = {};
    place.topic_id = {};
    const bool topic_read =
        topic_ids ? r.Bytes(kUuidLen, place.topic_id) : r.AnyString(flexible, place.topic, false);
    uint32_t partitions = 0;
    if (!topic_read || !r.ArrayCount(flexible, partitions, false)) {
      return Stop(r, whole, reports);
    }
    for (uint32_t p = 0; p < partitions; ++p) {
      uint64_t length = 0;
      if (!r.I32(place.partition) || !before_records(r) || !r.BytesLength(flexible, length)) {
        return Stop(r, whole, reports);
      }
      const bool last = t + 1 == topics && p + 1 == partitions;
      if (length > r.remaining()) {
        if (whole) return reports.ReportError(Error::kBadFrame);
        // The copy ends inside this records field: walk what there is; nothing after it is seen.
        WalkRecordSet(r.rest(), length, fetch, place, reports);
        if (!last) reports.Cut();
        return;
      }
      std::string_view records;
      r.Bytes(length, records);
      WalkRecordSet(records, length, fetch, place, reports);
      if (last) return;
      if (flexible && !r.SkipTaggedFields()) return Stop(r, whole, reports);
    }
    if (t + 1 == topics) return;
    if (flexible && !r.SkipTaggedFields()) return Stop(r, whole, reports);
  }
}

}  // namespace tracegap::kafka::internal
