#include "protocols/message_report.h"

#include "protocols/request_report.h"

namespace tracegap {

void ReportMessage(Observer& observer, const Actor& actor, Direction direction, uint64_t conn_id,
                   const tg_tuple* tuple, Protocol protocol, const MessageSeen& m) {
  const bool received = direction == Direction::kIngress;
  RequestSeen r;
  r.actor = actor;
  r.inbound = received;
  r.relayed = m.publish == received;  // a broker receives publishes and sends deliveries
  r.protocol = protocol;
  r.method = m.kind;
  r.authority = m.authority;
  r.path = m.path;
  r.conn_id = conn_id;
  r.stream_id = m.stream_id;
  r.tuple = tuple;
  ReportRequest(observer, r, m.headers, m.complete ? HeadersRead::kComplete : HeadersRead::kPartly);
}

}  // namespace tracegap
