#include "export/api/connection.h"

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <memory>
#include <utility>

#include "log.h"

namespace tracegap::api {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;

bool IsHttpError(const error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_method).category();
}

// Owned by the handlers of its pending operations: it lives until the last one has run, or
// until the loop is destroyed with them.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(asio::local::stream_protocol::socket socket, bool peer_allowed, const Router& router,
             std::function<void()> on_closed)
      : socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        peer_allowed_(peer_allowed),
        router_(router),
        on_closed_(std::move(on_closed)) {
    parser_.header_limit(kMaxRequestHead);
  }

  void Start() {
    Arm(kReadTimeout, Phase::kReading);
    http::async_read_header(
        socket_, buffer_, parser_,
        [self = shared_from_this()](error_code ec, size_t) { self->OnRead(ec); });
  }

 private:
  enum class Phase { kReading, kWriting, kClosed };

  // One deadline per phase; a timer that fires after its phase has ended does nothing.
  void Arm(std::chrono::milliseconds timeout, Phase phase) {
    timer_.expires_after(timeout);
    timer_.async_wait([self = shared_from_this(), phase](error_code ec) {
      if (ec || self->phase_ != phase) return;
      if (phase == Phase::kReading) {
        self->timed_out_ = true;
        self->socket_.cancel();  // OnRead answers 408
      } else {
        TG_LOG(Debug) << "API: client did not read its answer within " << kWriteTimeout.count()
                      << " ms; closing";
        self->Close();
      }
    });
  }

  void OnRead(const error_code& ec) {
    if (phase_ != Phase::kReading) return;
    if (timed_out_) {
      Respond(ErrorResponse(
          408, "request head not received within " + std::to_string(kReadTimeout.count()) + " ms"));
    } else if (ec == http::error::end_of_stream) {
      Close();  // connected and left without a word (a liveness probe): nothing to answer
    } else if (!peer_allowed_ && (!ec || IsHttpError(ec))) {
      Respond(ErrorResponse(
          403, "permission denied: the API is for root and the daemon's own user only"));
    } else if (ec == http::error::partial_message) {
      // Half-closed mid-request: the client can still read why it failed.
      Respond(ErrorResponse(400, "connection closed before the request head was complete"));
    } else if (ec == http::error::header_limit) {
      Respond(ErrorResponse(
          413, "request head larger than " + std::to_string(kMaxRequestHead) + " bytes"));
    } else if (IsHttpError(ec)) {
      Respond(ErrorResponse(400, "malformed HTTP/1 request: " + ec.message()));
    } else if (ec) {
      TG_LOG(Debug) << "API: reading a request failed: " << ec.message();
      Close();
    } else {
      const auto& request = parser_.get();
      const auto method = request.method_string();
      const auto target = request.target();  // Boost's string_view in Boost 1.74
      Respond(router_.Handle(std::string_view(method.data(), method.size()),
                             std::string_view(target.data(), target.size())));
    }
  }

  void Respond(const Response& r) {
    TG_LOG(Debug) << "API: answering " << r.status;
    phase_ = Phase::kWriting;
    buffer_.clear();
    buffer_.shrink_to_fit();
    response_.result(static_cast<unsigned>(r.status));
    const std::string_view reason = ReasonPhrase(r.status);
    response_.reason({reason.data(), reason.size()});
    response_.set(http::field::content_type, "application/json");
    response_.body() = r.body + "\n";  // so that curl output ends cleanly
    response_.content_length(response_.body().size());
    response_.set(http::field::connection, "close");
    response_.set(http::field::cache_control, "no-store");
    if (r.allow_get) response_.set(http::field::allow, "GET");
    Arm(kWriteTimeout, Phase::kWriting);
    http::async_write(socket_, response_, [self = shared_from_this()](error_code ec, size_t) {
      if (ec) {
        TG_LOG(Debug) << "API: writing an answer failed: " << ec.message();
      } else {
        error_code ignored;  // tells the client the answer is complete even without Content-Length
        self->socket_.shutdown(asio::socket_base::shutdown_send, ignored);
      }
      self->Close();
    });
  }

  void Close() {
    if (phase_ == Phase::kClosed) return;
    phase_ = Phase::kClosed;
    error_code ignored;
    timer_.cancel();
    socket_.close(ignored);
    on_closed_();
  }

  asio::local::stream_protocol::socket socket_;
  asio::steady_timer timer_;
  const bool peer_allowed_;
  const Router& router_;
  std::function<void()> on_closed_;
  Phase phase_ = Phase::kReading;
  bool timed_out_ = false;
  boost::beast::flat_buffer buffer_;
  http::request_parser<http::empty_body> parser_;
  http::response<http::string_body> response_{http::status::ok, 11};
};

}  // namespace

void ServeConnection(asio::local::stream_protocol::socket socket, bool peer_allowed,
                     const Router& router, std::function<void()> on_closed) {
  std::make_shared<Connection>(std::move(socket), peer_allowed, router, std::move(on_closed))
      ->Start();
}

}  // namespace tracegap::api
