#pragma once
// One accepted API connection as a non-blocking state machine: read the request head (bounded
// in size and time), answer it, close. The server's single thread drives many of these at once,
// so a slow or silent client never holds up another one or the server's shutdown.
//
// Thread safety: none; owned and driven by the API thread only.

#include <chrono>
#include <cstddef>
#include <string>

#include "export/api/router.h"

namespace tracegap::api {

inline constexpr size_t kMaxRequestHead = 8 * 1024;
inline constexpr std::chrono::milliseconds kReadTimeout{2000};
inline constexpr std::chrono::milliseconds kWriteTimeout{5000};

class Connection {
 public:
  using Clock = std::chrono::steady_clock;

  // Takes ownership of the non-blocking socket `fd`. `peer_allowed` is the result of the
  // credentials check: a peer that fails it gets 403 whatever it asks.
  Connection(int fd, bool peer_allowed, Clock::time_point now);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  int fd() const { return fd_; }
  // What to poll for: POLLIN while reading the request, POLLOUT while the answer is pending.
  short events() const;
  Clock::time_point deadline() const { return deadline_; }
  bool done() const { return state_ == State::kDone; }

  // Makes progress after poll() reported `revents` (0 is allowed: then only the deadline is
  // checked). Never blocks; on return, done() says whether the connection can be closed.
  void Step(short revents, const Router& router, Clock::time_point now);

 private:
  enum class State { kReading, kWriting, kDone };

  void Read(const Router& router, Clock::time_point now);
  void Write();
  void Respond(const Response& response, Clock::time_point now);

  int fd_;
  bool peer_allowed_;
  State state_ = State::kReading;
  Clock::time_point deadline_;
  std::string in_;
  std::string out_;
  size_t written_ = 0;
};

}  // namespace tracegap::api
