#include "protocols/nats/reporter.h"

#include "protocols/message_report.h"

namespace tracegap {

void NatsReporter::OnMessage(const nats::Message& m) {
  // A message with a status ("NATS/1.0 503": no responders, a heartbeat) is made by the server,
  // not published by an application.
  if (m.status != 0) return;
  MessageSeen seen;
  seen.publish = m.kind == nats::MessageKind::kPublish;
  seen.kind = Label(m.kind);
  seen.path = m.subject;
  seen.headers = m.headers;
  seen.complete = m.complete;
  ReportMessage(observer_, actor_, direction_, conn_id_, tuple_, Protocol::kNats, seen);
}

void NatsReporter::OnError(nats::Error error) {
  observer_.OnParseError(Protocol::kNats, Label(error));
}

}  // namespace tracegap
