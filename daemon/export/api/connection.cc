#include "export/api/connection.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "log.h"

namespace tracegap::api {
namespace {

// Where the request head ends (one past its empty line), or npos. A head ended by bare LFs is
// cut there too, so that the parser rejects it at once instead of the client waiting for a
// timeout.
size_t EndOfHead(std::string_view in, size_t from) {
  for (size_t lf = in.find('\n', from); lf != std::string_view::npos; lf = in.find('\n', lf + 1)) {
    if (lf + 1 < in.size() && in[lf + 1] == '\n') return lf + 2;
    if (lf + 2 < in.size() && in[lf + 1] == '\r' && in[lf + 2] == '\n') return lf + 3;
  }
  return std::string_view::npos;
}

}  // namespace

Connection::Connection(int fd, bool peer_allowed, Clock::time_point now)
    : fd_(fd), peer_allowed_(peer_allowed), deadline_(now + kReadTimeout) {}

Connection::~Connection() {
  if (fd_ >= 0) close(fd_);
}

short Connection::events() const {
  switch (state_) {
    case State::kReading: return POLLIN;
    case State::kWriting: return POLLOUT;
    case State::kDone: break;
  }
  return 0;
}

void Connection::Step(short revents, const Router& router, Clock::time_point now) {
  if (state_ == State::kReading) {
    if (revents & (POLLIN | POLLHUP | POLLERR)) Read(router, now);
    if (state_ == State::kReading && now >= deadline_) {
      Respond(ErrorResponse(408, "request head not received within " +
                                     std::to_string(kReadTimeout.count()) + " ms"),
              now);
    }
    return;  // Respond() already tried writing
  }
  if (state_ == State::kWriting) {
    if (revents & (POLLOUT | POLLHUP | POLLERR)) Write();
    if (state_ == State::kWriting && now >= deadline_) {
      TG_LOG(Debug) << "API: client did not read its answer within " << kWriteTimeout.count()
                    << " ms; closing";
      state_ = State::kDone;
    }
  }
}

void Connection::Read(const Router& router, Clock::time_point now) {
  char buf[4096];
  while (true) {
    // One byte past the limit is enough to know that the limit was exceeded.
    const size_t room = kMaxRequestHead + 1 - in_.size();
    const ssize_t n = recv(fd_, buf, std::min(sizeof(buf), room), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        TG_LOG(Debug) << "API: reading a request failed: " << strerror(errno);
        state_ = State::kDone;
      }
      return;
    }
    if (n == 0) {
      // A peer that connects and leaves (a liveness probe) gets nothing; one that half-closed
      // mid-request can still read why it failed.
      if (in_.empty()) {
        state_ = State::kDone;
      } else {
        Respond(ErrorResponse(400, "connection closed before the request head was complete"), now);
      }
      return;
    }
    const size_t scan_from = in_.size() < 2 ? 0 : in_.size() - 2;
    in_.append(buf, static_cast<size_t>(n));
    const size_t end = EndOfHead(in_, scan_from);
    if (end != std::string::npos && end <= kMaxRequestHead) {
      const std::string_view head = std::string_view(in_).substr(0, end);
      Respond(peer_allowed_ ? router.HandleHead(head)
                            : ErrorResponse(403,
                                            "permission denied: the API is for root and "
                                            "the daemon's own user only"),
              now);
      return;
    }
    if (in_.size() > kMaxRequestHead) {
      Respond(ErrorResponse(
                  413, "request head larger than " + std::to_string(kMaxRequestHead) + " bytes"),
              now);
      return;
    }
  }
}

void Connection::Respond(const Response& response, Clock::time_point now) {
  TG_LOG(Debug) << "API: answering " << response.status;
  out_ = SerializeResponse(response);
  written_ = 0;
  in_.clear();
  in_.shrink_to_fit();
  state_ = State::kWriting;
  deadline_ = now + kWriteTimeout;
  Write();  // usually the whole answer fits in the socket buffer: no extra poll round
}

void Connection::Write() {
  while (written_ < out_.size()) {
    const ssize_t n =
        send(fd_, out_.data() + written_, out_.size() - written_, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        TG_LOG(Debug) << "API: writing an answer failed: " << strerror(errno);
        state_ = State::kDone;
      }
      return;
    }
    written_ += static_cast<size_t>(n);
  }
  // Tells the client the answer is complete even if it ignores Content-Length.
  shutdown(fd_, SHUT_WR);
  state_ = State::kDone;
}

}  // namespace tracegap::api
