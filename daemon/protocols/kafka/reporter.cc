#include "protocols/kafka/reporter.h"

#include "protocols/message_report.h"

namespace tracegap {

void KafkaReporter::OnMessage(const kafka::Message& m) {
  MessageSeen seen;
  seen.publish = m.kind == kafka::MessageKind::kProduce;
  seen.kind = Label(m.kind);
  // From Produce and Fetch v13 on, a topic is named by its id: shown as 32 hex digits.
  char id_hex[32];
  seen.path = m.topic;
  if (m.topic.empty() && m.topic_id.size() == 16) {
    static constexpr char kHex[] = "0123456789abcdef";
    for (size_t i = 0; i < 16; ++i) {
      const auto b = static_cast<unsigned char>(m.topic_id[i]);
      id_hex[2 * i] = kHex[b >> 4];
      id_hex[2 * i + 1] = kHex[b & 15];
    }
    seen.path = std::string_view(id_hex, sizeof(id_hex));
  }
  seen.stream_id = static_cast<uint32_t>(m.partition);
  seen.headers = m.headers;
  seen.complete = m.complete;
  // Produce records travel with the requests, Fetch records with the responses.
  const Direction responses =
      requests_ == Direction::kEgress ? Direction::kIngress : Direction::kEgress;
  ReportMessage(observer_, actor_, seen.publish ? requests_ : responses, conn_id_, tuple_,
                Protocol::kKafka, seen);
}

void KafkaReporter::OnError(kafka::Error error) {
  observer_.OnParseError(Protocol::kKafka, Label(error));
}

}  // namespace tracegap
