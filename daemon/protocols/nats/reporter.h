#pragma once
// Turns what a NATS direction decoder reports, for one data event, into Observer reports:
// messages as message_report.h says (protocol nats: PUB/HPUB a publish, MSG/HMSG a delivery),
// errors as parse errors.

#include <cstdint>

#include "protocols/nats/message.h"
#include "protocols/observation.h"

namespace tracegap {

class NatsReporter final : public nats::MessageSink {
 public:
  NatsReporter(Observer& observer, const Actor& actor, Direction direction, uint64_t conn_id,
               const tg_tuple* tuple)
      : observer_(observer),
        actor_(actor),
        direction_(direction),
        conn_id_(conn_id),
        tuple_(tuple) {}

  void OnMessage(const nats::Message& m) override;
  void OnError(nats::Error error) override;

 private:
  Observer& observer_;
  Actor actor_;
  Direction direction_;
  uint64_t conn_id_;
  const tg_tuple* tuple_;
};

}  // namespace tracegap
