#include "protocols/amqp/reporter.h"

#include "protocols/request_report.h"

namespace tracegap {

void AmqpReporter::OnMessage(const amqp::Message& m) {
  // A returned message goes back to its publisher, which already counted it as sent.
  if (m.kind == amqp::MessageKind::kReturn) return;
  const bool received = direction_ == Direction::kIngress;
  const bool publish = m.kind == amqp::MessageKind::kPublish;
  RequestSeen r;
  r.actor = actor_;
  r.inbound = received;
  r.relayed = publish == received;  // a broker receives publishes and sends deliveries
  r.protocol = Protocol::kAmqp;
  r.method = Label(m.kind);
  r.authority = m.exchange;
  r.path = m.routing_key;
  r.conn_id = conn_id_;
  r.stream_id = m.channel;
  r.tuple = tuple_;
  ReportRequest(observer_, r, m.headers,
                m.complete ? HeadersRead::kComplete : HeadersRead::kPartly);
}

void AmqpReporter::OnError(amqp::Error error) {
  observer_.OnParseError(Protocol::kAmqp, Label(error));
}

}  // namespace tracegap
