#pragma once
// Turns what a Kafka connection decoder reports, for one data event, into Observer reports:
// records as message_report.h says (protocol kafka: a Produce record is a publish, a Fetch
// record a delivery), errors as parse errors.

#include <cstdint>

#include "protocols/kafka/message.h"
#include "protocols/observation.h"

namespace tracegap {

class KafkaReporter final : public kafka::MessageSink {
 public:
  // `requests`: the direction that carries the client's requests, as the actor sees it (its
  // egress on the client, its ingress on the broker).
  KafkaReporter(Observer& observer, const Actor& actor, Direction requests, uint64_t conn_id,
                const tg_tuple* tuple)
      : observer_(observer), actor_(actor), requests_(requests), conn_id_(conn_id), tuple_(tuple) {}

  void OnMessage(const kafka::Message& m) override;
  void OnError(kafka::Error error) override;

 private:
  Observer& observer_;
  Actor actor_;
  Direction requests_;
  uint64_t conn_id_;
  const tg_tuple* tuple_;
};

}  // namespace tracegap
