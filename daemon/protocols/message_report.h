#pragma once
// How a message seen by any queue protocol's decoder (AMQP, Kafka, NATS) becomes an Observer
// report: a request of that protocol, inbound when the actor received it. A publish the actor
// sends and a delivery it receives are its own; a publish it receives or a delivery it sends
// make it the broker, and the report is marked relayed (docs/semantics.md#messages).

#include <cstdint>
#include <span>
#include <string_view>

#include "protocols/header_field.h"
#include "protocols/observation.h"

namespace tracegap {

struct MessageSeen {
  bool publish = true;         // a publish (else a delivery)
  std::string_view kind;       // the protocol's word for it: "publish", "deliver", "produce", ...
  std::string_view authority;  // where it was sent: AMQP's exchange; empty for Kafka and NATS
  std::string_view path;       // AMQP's routing key, Kafka's topic, NATS's subject
  uint64_t stream_id = 0;      // AMQP's channel, Kafka's partition, 0 for NATS
  std::span<const HeaderField> headers;
  bool complete = false;  // the headers were read to their end
};

void ReportMessage(Observer& observer, const Actor& actor, Direction direction, uint64_t conn_id,
                   const tg_tuple* tuple, Protocol protocol, const MessageSeen& message);

}  // namespace tracegap
