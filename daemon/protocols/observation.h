#pragma once
// What the protocol trackers report to the rest of the daemon (metrics, correlator): requests and
// responses, each attributed to the process and thread that sent or received it.

#include <cstdint>
#include <string_view>

#include "protocols/trace_context/trace_context.h"
#include "tracegap.h"
#include "vocabulary.h"

namespace tracegap {

// Who saw a message: the process and thread of the syscall, and when.
struct Actor {
  uint32_t tgid = 0;
  uint32_t tid = 0;
  std::string_view comm;  // the process's name
  uint64_t ts_ns = 0;     // CLOCK_MONOTONIC
  bool tls = false;       // read as TLS plaintext (bpf/tls.h), not from the socket's own bytes
};

// A request, or a message (IsMessaging(protocol): published, delivered). Views are valid only
// during the Observer call.
struct RequestSeen {
  Actor actor;
  bool inbound = false;  // true: the actor received the request (server side); false: sent it
  // A message the actor passes on as a broker (it received a publish, or sent a delivery): counted
  // with its context, but not the actor's own work, so never correlated (docs/semantics.md).
  bool relayed = false;
  Protocol protocol = Protocol::kHttp1;
  // kUnknown when the headers could not be read completely; then `context` holds what was read.
  ContextVerdict verdict = ContextVerdict::kUnknown;
  ContextResult context;
  // Messages (message_report.h): method is the protocol's word ("publish", "deliver",
  // "produce", "fetch", ...), path the routing key, topic or subject, authority AMQP's exchange.
  std::string_view method;
  std::string_view path;  // never with the query string
  std::string_view authority;
  std::string_view traceparent;  // the first traceparent value as sent, "" if none
  uint64_t conn_id = 0;
  uint64_t stream_id = 0;  // HTTP/2 stream, AMQP channel, Kafka partition; 0 for HTTP/1 and NATS
  const tg_tuple* tuple = nullptr;
};

struct ResponseSeen {
  Actor actor;
  bool inbound = false;  // true: answers a request the actor received (the actor sent it)
  Protocol protocol = Protocol::kHttp1;
  uint16_t status = 0;
  bool complete = true;
  uint64_t conn_id = 0;
  uint64_t stream_id = 0;
};

class Observer {
 public:
  virtual void OnRequest(const RequestSeen& request) = 0;
  virtual void OnResponse(const ResponseSeen& response) = 0;
  virtual void OnParseError(Protocol protocol, std::string_view reason) = 0;
  // HTTP/1 ended on the connection (a 101, or a 2xx answer to CONNECT): it became `to`.
  virtual void OnUpgrade(uint64_t conn_id, Upgrade to) = 0;
  // The connection is gone: nothing more will be reported for conn_id.
  virtual void OnConnectionClosed(uint64_t conn_id) = 0;

 protected:
  ~Observer() = default;
};

}  // namespace tracegap
