#include "protocols/http1/upgrade.h"

#include "protocols/http1/parser.h"

namespace tracegap::http1 {
namespace {

// The response's Upgrade field lists `lower_token`.
bool Grants(const Message& response, std::string_view lower_token) {
  for (const HeaderField& f : response.headers) {
    if (EqualsLower(f.name, "upgrade") && ListHasToken(f.value, lower_token)) return true;
  }
  return false;
}

}  // namespace

std::optional<Upgrade> UpgradeWatch::OnMessage(const Message& m) {
  if (m.kind == MessageKind::kRequest) {
    asked_h2c_ = m.upgrade_h2c;
    asked_websocket_ = false;
    for (const HeaderField& f : m.headers) {
      if (EqualsLower(f.name, "upgrade") && ListHasToken(f.value, "websocket")) {
        asked_websocket_ = true;
      }
    }
    if (m.method == "CONNECT") connect_pending_ = true;
    return std::nullopt;
  }
  if (m.status == 101) {
    // RFC 9110 7.8: the server names the protocol it switches to, one the client asked for.
    if (asked_h2c_ && Grants(m, "h2c")) return Upgrade::kH2c;
    if (asked_websocket_ && Grants(m, "websocket")) return Upgrade::kWebsocket;
    return Upgrade::kOther;
  }
  if (m.status < 200) return std::nullopt;  // interim: the request is still pending
  if (connect_pending_ && m.status < 300) return Upgrade::kTunnel;
  connect_pending_ = false;
  return std::nullopt;
}

}  // namespace tracegap::http1
