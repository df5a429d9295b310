#pragma once
// Adapts the HTTP/2 decoder's stream reports (http2::StreamSink) for one event to Observer
// reports, the way the HTTP/1 side does for messages. Lives only for one Feed()/Close() call.

#include <cstdint>

#include "capture/event_decoder.h"
#include "protocols/http2/connection.h"
#include "protocols/observation.h"

namespace tracegap {

class Http2Reporter final : public http2::StreamSink {
 public:
  Http2Reporter(Observer& observer, const Actor& actor, uint64_t conn_id, const tg_tuple* tuple)
      : observer_(observer), actor_(actor), conn_id_(conn_id), tuple_(tuple) {}

  void OnRequest(const http2::StreamRequest& request) override;
  void OnResponse(const http2::StreamResponse& response) override;
  void OnStreamEnd(const http2::StreamEnd& end) override;
  void OnError(std::string_view reason) override;

 private:
  Observer& observer_;
  Actor actor_;
  uint64_t conn_id_;
  const tg_tuple* tuple_;
};

}  // namespace tracegap
