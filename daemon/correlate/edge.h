#pragma once
// What an edge is named by: the `server` label of tracegap_edge_requests_total and of
// `tracegap edges`, from what the request itself names (docs/semantics.md, "Edges").

#include <string>
#include <string_view>

#include "tracegap.h"

namespace tracegap {

// The server of an outbound request as a label value: `authority` (HTTP/1 Host, HTTP/2
// :authority) lower-cased, without userinfo, a trailing dot, or the scheme's default port (80 in
// clear, 443 over TLS), the port without leading zeros. When the request names no server, or
// names it with bytes no host name or address has (the label stays a host name, never arbitrary
// bytes), a port outside 1..65535, or a name starting with '_' (the daemon's own "_other" and
// "_unknown"), the peer address ("addr:port") is the server; when that is unknown too,
// "_unknown". Pure; any input is safe.
std::string EdgeServer(std::string_view authority, bool tls, std::string_view peer);

// "addr:port" ("[v6]:port") of the remote end of a connection; "" for a null tuple.
std::string PeerAddress(const tg_tuple* tuple);

inline constexpr std::string_view kUnknownServer = "_unknown";

}  // namespace tracegap
