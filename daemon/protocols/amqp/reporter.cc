#include "protocols/amqp/reporter.h"

#include "protocols/message_report.h"

namespace tracegap {

void AmqpReporter::OnMessage(const amqp::Message& m) {
  // A returned message goes back to its publisher, which already counted it as sent.
  if (m.kind == amqp::MessageKind::kReturn) return;
  MessageSeen seen;
  seen.publish = m.kind == amqp::MessageKind::kPublish;
  seen.kind = Label(m.kind);
  seen.authority = m.exchange;
  seen.path = m.routing_key;
  seen.stream_id = m.channel;
  seen.headers = m.headers;
  seen.complete = m.complete;
  ReportMessage(observer_, actor_, direction_, conn_id_, tuple_, Protocol::kAmqp, seen);
}

void AmqpReporter::OnError(amqp::Error error) {
  observer_.OnParseError(Protocol::kAmqp, Label(error));
}

}  // namespace tracegap
