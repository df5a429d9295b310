#include "correlate/edge.h"

#include <arpa/inet.h>

namespace tracegap {
namespace {

// Longest host name (RFC 1035: 253 characters) plus a port; longer is not a host.
constexpr size_t kMaxAuthority = 253 + 6;

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool IsHostChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

bool IsV6Char(char c) {
  return (c >= 'a' && c <= 'f') || (c >= '0' && c <= '9') || c == ':' || c == '.';
}

bool AllDigits(std::string_view s) {
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// The normalized authority, or "" when it is not a host[:port].
std::string Normalize(std::string_view authority, bool tls) {
  // Optional whitespace around a field value is not part of it (RFC 9110 5.5).
  while (!authority.empty() && (authority.front() == ' ' || authority.front() == '\t'))
    authority.remove_prefix(1);
  while (!authority.empty() && (authority.back() == ' ' || authority.back() == '\t'))
    authority.remove_suffix(1);
  // Userinfo may hold credentials: never a label.
  if (size_t at = authority.rfind('@'); at != std::string_view::npos)
    authority.remove_prefix(at + 1);
  if (authority.empty() || authority.size() > kMaxAuthority) return {};
  std::string lower(authority.size(), '\0');
  for (size_t i = 0; i < authority.size(); ++i) lower[i] = Lower(authority[i]);
  std::string_view a = lower;

  std::string_view host, port;
  bool has_port = false;
  if (a.front() == '[') {  // an IPv6 literal
    const size_t close = a.find(']');
    if (close == std::string_view::npos || close < 2) return {};
    host = a.substr(0, close + 1);
    for (char c : host.substr(1, host.size() - 2)) {
      if (!IsV6Char(c)) return {};
    }
    std::string_view rest = a.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return {};
      has_port = true;
      port = rest.substr(1);
    }
  } else {
    const size_t colon = a.find(':');
    host = a.substr(0, colon);
    if (colon != std::string_view::npos) {
      has_port = true;
      port = a.substr(colon + 1);
    }
    while (!host.empty() && host.back() == '.') host.remove_suffix(1);  // "example.com."
    // A leading '_' is the daemon's own ("_other", "_unknown"): no request may claim one.
    if (host.empty() || host.front() == '_') return {};
    for (char c : host) {
      if (!IsHostChar(c)) return {};
    }
  }
  // A port is 1..65535, written without leading zeros ("0080" is port 80).
  uint32_t number = 0;
  if (has_port && !port.empty()) {
    if (port.size() > 5 || !AllDigits(port)) return {};
    for (char c : port) number = number * 10 + static_cast<uint32_t>(c - '0');
    if (number == 0 || number > 65535) return {};
  }
  std::string out(host);
  if (number != 0 && number != (tls ? 443u : 80u)) {
    out.push_back(':');
    out.append(std::to_string(number));
  }
  return out;
}

}  // namespace

std::string EdgeServer(std::string_view authority, bool tls, std::string_view peer) {
  std::string server = Normalize(authority, tls);
  if (!server.empty()) return server;
  if (!peer.empty()) return std::string(peer);
  return std::string(kUnknownServer);
}

std::string PeerAddress(const tg_tuple* t) {
  if (!t) return {};
  char addr[INET6_ADDRSTRLEN] = {};
  if (t->family == 2) {
    inet_ntop(AF_INET, t->remote_addr, addr, sizeof(addr));
    return std::string(addr) + ":" + std::to_string(t->remote_port);
  }
  inet_ntop(AF_INET6, t->remote_addr, addr, sizeof(addr));
  return "[" + std::string(addr) + "]:" + std::to_string(t->remote_port);
}

}  // namespace tracegap
