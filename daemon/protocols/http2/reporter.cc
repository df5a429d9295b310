#include "protocols/http2/reporter.h"

#include "protocols/request_report.h"

namespace tracegap {

void Http2Reporter::OnRequest(const http2::StreamRequest& s) {
  RequestSeen r;
  r.actor = actor_;
  r.inbound = s.direction == Direction::kIngress;
  r.protocol = s.protocol;
  r.method = s.method;
  r.path = s.path;
  r.authority = s.authority;
  r.conn_id = conn_id_;
  r.stream_id = s.stream_id;
  r.tuple = tuple_;
  // Not decoded (joined late, or the HPACK state is broken): the headers are unknown.
  ReportRequest(observer_, r, s.headers, s.decoded ? HeadersRead::kComplete : HeadersRead::kNone);
}

void Http2Reporter::OnResponse(const http2::StreamResponse& s) {
  ResponseSeen r;
  r.actor = actor_;
  r.inbound = s.direction == Direction::kEgress;  // sent by the actor: answers its inbound request
  r.protocol = Protocol::kHttp2;
  r.status = s.status;
  r.complete = s.decoded;
  r.conn_id = conn_id_;
  r.stream_id = s.stream_id;
  observer_.OnResponse(r);
}

void Http2Reporter::OnStreamEnd(const http2::StreamEnd& end) {
  // A reset or refused stream ends an inbound request that never got response headers.
  if (end.request_direction != Direction::kIngress || end.response_seen) return;
  ResponseSeen r;
  r.actor = actor_;
  r.inbound = true;
  r.protocol = Protocol::kHttp2;
  r.complete = false;
  r.conn_id = conn_id_;
  r.stream_id = end.stream_id;
  observer_.OnResponse(r);
}

void Http2Reporter::OnError(std::string_view reason) {
  observer_.OnParseError(Protocol::kHttp2, reason);
}

}  // namespace tracegap
