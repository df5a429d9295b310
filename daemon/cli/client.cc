#include "cli/client.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <system_error>
#include <utility>

#include "cli/http_response.h"
#include "version.h"

namespace tracegap::cli {
namespace {

using Clock = std::chrono::steady_clock;

std::string Errno(int e) { return std::system_category().message(e); }

FetchResult Fail(ExitCode code, std::string message) {
  return FetchResult{std::nullopt, Failure{code, std::move(message)}};
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

FetchResult ConnectFailure(const std::string& path, int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return Fail(kExitNotRunning, "tracegapd is not running (no socket at " + path + ")");
    case ECONNREFUSED:
      return Fail(kExitNotRunning,
                  "tracegapd is not running (no one accepts connections on " + path + ")");
    case EACCES:
    case EPERM: return Fail(kExitPermission, "permission denied on " + path + ": run as root");
    case EAGAIN:
      return Fail(kExitNotRunning, "tracegapd at " + path + " is not accepting connections " +
                                       "(its backlog is full); try again");
  }
  return Fail(kExitNotRunning, "cannot connect to " + path + ": " + Errno(err));
}

// Waits until `fd` is ready for `events` or the deadline passes; false on timeout.
bool WaitFor(int fd, short events, Clock::time_point deadline) {
  while (true) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    const int n = poll(&p, 1, static_cast<int>(left.count()));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return true;  // let the following I/O call report the error
  }
}

// The size of the whole response once the head is in and declares a Content-Length; nullopt
// while that is unknown (then the end of the stream delimits the response).
std::optional<size_t> ExpectedSize(std::string_view bytes) {
  std::string ignored;
  std::optional<ResponseHead> head = ParseResponseHead(bytes, &ignored);
  if (!head || !head->content_length) return std::nullopt;
  return head->size + *head->content_length;
}

// The daemon's {"error": "..."} message, or the bare status when the body has none.
std::string ErrorMessage(const HttpResponse& r) {
  std::optional<json::Value> doc = json::Parse(r.body, nullptr);
  const json::Value* message = doc ? doc->Find("error") : nullptr;
  if (message != nullptr && message->is_string()) return message->string();
  return "HTTP " + std::to_string(r.status);
}

}  // namespace

FetchResult Fetch(const std::string& socket_path, std::string_view target,
                  std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof(addr.sun_path)) {
    return Fail(kExitUsage, "invalid socket path '" + socket_path + "': must be 1 to " +
                                std::to_string(sizeof(addr.sun_path) - 1) + " bytes long");
  }
  socket_path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
  Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return Fail(kExitNotRunning, "cannot create a socket: " + Errno(errno));
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    return ConnectFailure(socket_path, errno);
  }
  const std::string timed_out = "tracegapd at " + socket_path + " did not answer within " +
                                std::to_string(timeout.count()) + " ms";

  std::string request = "GET " + std::string(target) + " HTTP/1.1\r\nHost: localhost\r\n" +
                        "User-Agent: tracegap/" + kVersion + "\r\nAccept: application/json\r\n" +
                        "Connection: close\r\n\r\n";
  size_t sent = 0;
  while (sent < request.size()) {
    if (!WaitFor(fd.get(), POLLOUT, deadline)) return Fail(kExitNotRunning, timed_out);
    const ssize_t n = send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      break;  // the daemon may have answered (e.g. 403) and closed: read what it said
    }
    sent += static_cast<size_t>(n);
  }

  std::string bytes;
  char buf[64 * 1024];
  while (true) {
    if (std::optional<size_t> want = ExpectedSize(bytes); want && bytes.size() >= *want) break;
    if (!WaitFor(fd.get(), POLLIN, deadline)) return Fail(kExitNotRunning, timed_out);
    const ssize_t n = recv(fd.get(), buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      // The daemon closes with our unread bytes pending, which Linux reports as a reset after
      // the data it sent: that is the end of the answer, not an error in itself.
      if (errno == ECONNRESET && !bytes.empty()) break;
      return Fail(kExitMalformed,
                  "reading the answer of tracegapd at " + socket_path + " failed: " + Errno(errno));
    }
    if (n == 0) break;
    if (bytes.size() + static_cast<size_t>(n) > kMaxResponseBytes) {
      return Fail(kExitMalformed, "malformed response from tracegapd: larger than " +
                                      std::to_string(kMaxResponseBytes) + " bytes");
    }
    bytes.append(buf, static_cast<size_t>(n));
  }
  if (bytes.empty()) {
    return Fail(kExitMalformed,
                "tracegapd at " + socket_path + " closed the connection without answering");
  }
  std::string error;
  std::optional<HttpResponse> response = ParseHttpResponse(bytes, &error);
  if (!response) return Fail(kExitMalformed, "malformed response from tracegapd: " + error);
  return FetchResult{std::move(response), {}};
}

QueryResult Query(const std::string& socket_path, std::string_view target,
                  bool not_found_is_unknown_pid, std::chrono::milliseconds timeout) {
  FetchResult fetched = Fetch(socket_path, target, timeout);
  if (!fetched.response) return QueryResult{std::nullopt, std::move(fetched.failure)};
  const HttpResponse& r = *fetched.response;
  if (r.status == 403) {
    return QueryResult{std::nullopt,
                       {kExitPermission, "permission denied on " + socket_path + ": run as root"}};
  }
  if (r.status == 404 && not_found_is_unknown_pid) {
    return QueryResult{std::nullopt, {kExitUnknownPid, ErrorMessage(r)}};
  }
  if (r.status != 200) {
    return QueryResult{
        std::nullopt,
        {kExitMalformed, "tracegapd answered GET " + std::string(target) + " with HTTP " +
                             std::to_string(r.status) + ": " + ErrorMessage(r)}};
  }
  std::string error;
  json::ParseLimits limits;
  limits.max_bytes = kMaxResponseBytes;
  std::optional<json::Value> doc = json::Parse(r.body, &error, limits);
  if (!doc) {
    return QueryResult{
        std::nullopt,
        {kExitMalformed, "malformed response from tracegapd: invalid JSON: " + error}};
  }
  return QueryResult{std::move(doc), {}};
}

}  // namespace tracegap::cli
