#include "protocols/kafka/produce.h"

#include "protocols/kafka/reader.h"
#include "protocols/kafka/topic_walk.h"

namespace tracegap::kafka {

ProduceSummary ParseProduceRequest(const FrameHeader& header, std::string_view body, bool whole,
                                   FrameReports& reports) {
  ProduceSummary summary;
  const int16_t version = header.api_version;
  if (version < kMinProduceVersion || version > kMaxProduceVersion) {
    reports.ReportError(Error::kUnsupportedVersion);
    return summary;
  }
  const bool flexible = ProduceFlexible(version);
  Reader r(body);
  std::string_view client_id;
  std::string_view transactional_id;
  int16_t acks = 0;
  int32_t timeout_ms = 0;
  // The request header's client_id keeps its int16 length in flexible versions too.
  if (!r.String(client_id, true) || (flexible && !r.SkipTaggedFields()) ||
      !r.AnyString(flexible, transactional_id, true) || !r.I16(acks)) {
    internal::Stop(r, whole, reports);
    return summary;
  }
  summary.acks_read = true;
  summary.acks = acks;
  if (!r.I32(timeout_ms)) {
    internal::Stop(r, whole, reports);
    return summary;
  }
  Place place;
  place.kind = MessageKind::kProduce;
  place.correlation_id = header.correlation_id;
  place.api_version = version;
  internal::WalkTopics(r, whole, flexible, ProduceTopicIds(version), /*fetch=*/false, place,
                       reports, [](Reader&) { return true; });
  return summary;
}

}  // namespace tracegap::kafka
