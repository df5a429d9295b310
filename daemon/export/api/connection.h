#pragma once
// One accepted API connection: Boost.Beast reads the request head (bounded in size and time),
// the router answers it, Beast writes the answer, and the connection is closed. Every step is
// asynchronous on the server's event loop, so a slow or silent client never holds up another
// one or the server's shutdown.
//
// Thread safety: runs on the API thread only.

#include <boost/asio/local/stream_protocol.hpp>
#include <chrono>
#include <cstddef>
#include <functional>

#include "export/api/router.h"

namespace tracegap::api {

inline constexpr size_t kMaxRequestHead = 8 * 1024;
inline constexpr std::chrono::milliseconds kReadTimeout{2000};
inline constexpr std::chrono::milliseconds kWriteTimeout{5000};

// Serves `socket` (accepted, on the loop that runs this) until its one answer is written or it
// fails. `peer_allowed` is the result of the credentials check: a peer that fails it gets 403
// whatever it asks. `on_closed` runs on the loop once the connection is closed; it does not run
// if the loop is destroyed first (the server shutting down). `router` must outlive the loop.
void ServeConnection(boost::asio::local::stream_protocol::socket socket, bool peer_allowed,
                     const Router& router, std::function<void()> on_closed);

}  // namespace tracegap::api
