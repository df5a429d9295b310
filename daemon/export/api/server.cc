#include "export/api/server.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <exception>
#include <system_error>
#include <utility>

#include "errno_text.h"
#include "export/api/connection.h"
#include "log.h"

namespace tracegap::api {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;

constexpr size_t kMaxConnections = 32;  // beyond this, clients wait in the listen backlog
constexpr int kBacklog = 64;
constexpr std::chrono::milliseconds kAcceptBackoff{100};

class UniqueFd {
 public:
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) close(fd_);
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

bool Fail(std::string* error, std::string message) {
  *error = std::move(message);
  return false;
}

sockaddr_un UnixAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
  return addr;
}

// The socket's directory must exist; only the default runtime directory is created, so that a
// mistyped --api-socket never litters the filesystem with directories.
bool EnsureDirectory(const std::string& path, std::string* error) {
  const size_t slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  struct stat st;
  if (stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return true;
    return Fail(error, "cannot create the API socket " + path + ": " + dir + " is not a directory");
  }
  if (errno != ENOENT) {
    return Fail(error, "cannot create the API socket " + path + ": cannot access " + dir + ": " +
                           ErrnoText(errno));
  }
  if (dir != kDefaultRuntimeDir) {
    return Fail(error, "cannot create the API socket " + path + ": directory " + dir +
                           " does not exist (create it, or choose another --api-socket)");
  }
  // The mode is set explicitly: mkdir's is filtered by the umask.
  if ((mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) || chmod(dir.c_str(), 0755) != 0) {
    return Fail(error, "cannot create " + dir + " for the API socket: " + ErrnoText(errno));
  }
  TG_LOG(Info) << "created " << dir << " for the API socket";
  return true;
}

// A socket file with nobody accepting on it is a leftover of a daemon that did not exit
// cleanly: replace it. One with a live listener belongs to another daemon: leave it alone.
bool RemoveStaleSocket(const std::string& path, std::string* error) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return true;
    return Fail(error, "cannot check the API socket path " + path + ": " + ErrnoText(errno));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return Fail(error, path + " exists and is not a socket; not replacing it with the API socket");
  }
  UniqueFd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (probe.get() < 0) return Fail(error, "cannot create a socket: " + ErrnoText(errno));
  const sockaddr_un addr = UnixAddress(path);
  // Non-blocking: a live daemon with a full backlog answers EAGAIN instead of blocking us.
  if (connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0 ||
      errno == EAGAIN) {
    return Fail(error, "another tracegapd is serving " + path);
  }
  if (errno != ECONNREFUSED) {
    return Fail(error, "cannot check whether " + path + " is in use: " + ErrnoText(errno));
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Fail(error, "cannot remove the stale API socket " + path + ": " + ErrnoText(errno));
  }
  TG_LOG(Info) << "removed the stale API socket " << path << " of a previous run";
  return true;
}

}  // namespace

// Accepts up to kMaxConnections at a time and hands each to ServeConnection(); everything runs
// on the API thread, inside io.run().
struct ApiServer::Loop {
  explicit Loop(Router r) : router(std::move(r)) {}

  void Accept() {
    if (accepting || open >= kMaxConnections) return;  // resumed when a connection closes
    accepting = true;
    acceptor.async_accept([this](error_code ec, asio::local::stream_protocol::socket socket) {
      accepting = false;
      if (ec == asio::error::operation_aborted) return;
      if (ec == asio::error::connection_aborted || ec == asio::error::interrupted) {
        Accept();
      } else if (ec) {
        // EMFILE and the like leave the listener readable: back off, or the loop would spin.
        TG_LOG(Warning) << "API: accept failed: " << ec.message() << "; retrying in "
                        << kAcceptBackoff.count() << " ms";
        backoff.expires_after(kAcceptBackoff);
        backoff.async_wait([this](error_code e) {
          if (!e) Accept();
        });
      } else {
        Serve(std::move(socket));
        Accept();
      }
    });
  }

  void Serve(asio::local::stream_protocol::socket socket) {
    const int fd = socket.native_handle();
    // Asio accepts without SOCK_CLOEXEC; the daemon starts no programs, but keep it private.
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    ucred cred{};
    socklen_t len = sizeof(cred);
    const bool known = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0;
    const bool allowed = known && PeerMayQuery(cred.uid, self);
    if (!allowed) {
      TG_LOG(Info) << "API: refusing a client: "
                   << (known ? "uid " + std::to_string(cred.uid) + " (pid " +
                                   std::to_string(cred.pid) + ") is neither root nor uid " +
                                   std::to_string(self)
                             : "cannot read its credentials: " + ErrnoText(errno));
    }
    ++open;
    ServeConnection(std::move(socket), allowed, router, [this] {
      --open;
      Accept();
    });
  }

  // Destroyed in reverse order: `io`, and with it the pending handlers that own the connections,
  // goes before `router`, which the connections refer to.
  const Router router;
  const uid_t self = geteuid();
  asio::io_context io{1};
  asio::local::stream_protocol::acceptor acceptor{io};
  asio::steady_timer backoff{io};
  size_t open = 0;  // connections being served
  bool accepting = false;
};

std::unique_ptr<ApiServer> ApiServer::Start(const std::string& socket_path,
                                            const ProcessTable& table, StatusProvider status,
                                            std::string* error, const EdgeTable* edges) {
  std::string ignored;
  if (error == nullptr) error = &ignored;
  const sockaddr_un addr = UnixAddress(socket_path);
  if (socket_path.empty() || socket_path.size() >= sizeof(addr.sun_path)) {
    Fail(error, "invalid API socket path '" + socket_path + "': must be 1 to " +
                    std::to_string(sizeof(addr.sun_path) - 1) + " bytes long");
    return nullptr;
  }
  if (!EnsureDirectory(socket_path, error) || !RemoveStaleSocket(socket_path, error)) {
    return nullptr;
  }
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) {
    Fail(error, "cannot create the API socket: " + ErrnoText(errno));
    return nullptr;
  }
  // On Linux, bind() creates the file with the socket inode's mode (minus the umask), so setting
  // it first leaves no window in which the file is more open than 0600. Changing the umask
  // instead would race with every other thread of the daemon that creates files.
  if (fchmod(fd.get(), 0600) != 0) {
    Fail(error, "cannot set the API socket's mode: " + ErrnoText(errno));
    return nullptr;
  }
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    Fail(error, errno == EADDRINUSE
                    ? "another tracegapd is serving " + socket_path
                    : "cannot bind the API socket " + socket_path + ": " + ErrnoText(errno));
    return nullptr;
  }
  // Nobody can connect before listen(), so checking (and fixing) the mode here is race-free.
  struct stat st;
  if (lstat(socket_path.c_str(), &st) != 0 ||
      ((st.st_mode & 07777) != 0600 && chmod(socket_path.c_str(), 0600) != 0)) {
    Fail(error, "cannot make the API socket " + socket_path + " mode 0600: " + ErrnoText(errno));
    unlink(socket_path.c_str());
    return nullptr;
  }
  if (listen(fd.get(), kBacklog) != 0) {
    Fail(error, "cannot listen on the API socket " + socket_path + ": " + ErrnoText(errno));
    unlink(socket_path.c_str());
    return nullptr;
  }
  std::unique_ptr<ApiServer> server;
  try {
    auto loop = std::make_unique<Loop>(Router(table, std::move(status), edges));
    loop->acceptor.assign(asio::local::stream_protocol(), fd.get());
    fd.release();
    loop->Accept();
    server.reset(new ApiServer(socket_path, st.st_dev, st.st_ino, std::move(loop)));
    server->thread_ = std::thread([s = server.get()] {
      try {
        s->loop_->io.run();
      } catch (const std::exception& e) {
        // Only allocation can throw here; the daemon keeps capturing without its API.
        TG_LOG(Error) << "API: stopped serving " << s->path_ << ": " << e.what();
      }
    });
  } catch (const std::exception& e) {
    Fail(error, std::string("cannot start the API: ") + e.what());
    if (server == nullptr) unlink(socket_path.c_str());
    return nullptr;  // else the destructor closes and removes the socket
  }
  TG_LOG(Info) << "API listening on " << socket_path;
  return server;
}

ApiServer::ApiServer(std::string path, dev_t dev, ino_t ino, std::unique_ptr<Loop> loop)
    : path_(std::move(path)), dev_(dev), ino_(ino), loop_(std::move(loop)) {}

ApiServer::~ApiServer() {
  loop_->io.stop();  // the thread returns from run() at once; pending work is abandoned
  if (thread_.joinable()) thread_.join();
  loop_.reset();  // closes the listening socket and every connection, unanswered
  struct stat st;
  if (lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_ &&
      unlink(path_.c_str()) != 0) {
    TG_LOG(Warning) << "cannot remove the API socket " << path_ << ": " << ErrnoText(errno);
  }
}

}  // namespace tracegap::api
