#pragma once
// When HTTP/1 ends on a connection, and what the connection became: a 101 Switching Protocols
// to what the request asked for (h2c, WebSocket, or something else), or a 2xx answer to CONNECT
// (a tunnel). The kernel stops copying there too (bpf/http1_scan.h, tg_switch); this is the
// daemon's exact check, from the parsed request and response headers. One per connection.

#include <optional>

#include "protocols/http1/message.h"
#include "vocabulary.h"

namespace tracegap::http1 {

class UpgradeWatch {
 public:
  // Feed every message of the connection, both directions, in the order they were seen.
  // Returns what the connection became when `m` is the response that ends HTTP/1 on it.
  std::optional<Upgrade> OnMessage(const Message& m);

 private:
  bool asked_h2c_ = false;        // the latest request's Upgrade lists h2c
  bool asked_websocket_ = false;  // ... lists websocket
  bool connect_pending_ = false;  // a CONNECT awaits its final response
};

}  // namespace tracegap::http1
