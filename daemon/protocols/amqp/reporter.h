#pragma once
// Turns what one AMQP direction decoder reports, for one data event, into Observer reports:
// messages as message_report.h says (protocol amqp), errors as parse errors.

#include <cstdint>

#include "protocols/amqp/message.h"
#include "protocols/observation.h"

namespace tracegap {

class AmqpReporter final : public amqp::MessageSink {
 public:
  AmqpReporter(Observer& observer, const Actor& actor, Direction direction, uint64_t conn_id,
               const tg_tuple* tuple)
      : observer_(observer),
        actor_(actor),
        direction_(direction),
        conn_id_(conn_id),
        tuple_(tuple) {}

  void OnMessage(const amqp::Message& m) override;
  void OnError(amqp::Error error) override;

 private:
  Observer& observer_;
  Actor actor_;
  Direction direction_;
  uint64_t conn_id_;
  const tg_tuple* tuple_;
};

}  // namespace tracegap
