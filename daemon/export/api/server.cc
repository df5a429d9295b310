#include "export/api/server.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <system_error>
#include <utility>
#include <vector>

#include "export/api/connection.h"
#include "log.h"

namespace tracegap::api {
namespace {

using Clock = std::chrono::steady_clock;

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

std::string Errno(int e) { return std::system_category().message(e); }

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
                           Errno(errno));
  }
  if (dir != kDefaultRuntimeDir) {
    return Fail(error, "cannot create the API socket " + path + ": directory " + dir +
                           " does not exist (create it, or choose another --api-socket)");
  }
  // The mode is set explicitly: mkdir's is filtered by the umask.
  if ((mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) || chmod(dir.c_str(), 0755) != 0) {
    return Fail(error, "cannot create " + dir + " for the API socket: " + Errno(errno));
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
    return Fail(error, "cannot check the API socket path " + path + ": " + Errno(errno));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return Fail(error, path + " exists and is not a socket; not replacing it with the API socket");
  }
  UniqueFd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (probe.get() < 0) return Fail(error, "cannot create a socket: " + Errno(errno));
  const sockaddr_un addr = UnixAddress(path);
  // Non-blocking: a live daemon with a full backlog answers EAGAIN instead of blocking us.
  if (connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0 ||
      errno == EAGAIN) {
    return Fail(error, "another tracegapd is serving " + path);
  }
  if (errno != ECONNREFUSED) {
    return Fail(error, "cannot check whether " + path + " is in use: " + Errno(errno));
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Fail(error, "cannot remove the stale API socket " + path + ": " + Errno(errno));
  }
  TG_LOG(Info) << "removed the stale API socket " << path << " of a previous run";
  return true;
}

}  // namespace

std::unique_ptr<ApiServer> ApiServer::Start(const std::string& socket_path,
                                            const ProcessTable& table, StatusProvider status,
                                            std::string* error) {
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
    Fail(error, "cannot create the API socket: " + Errno(errno));
    return nullptr;
  }
  // On Linux, bind() creates the file with the socket inode's mode (minus the umask), so setting
  // it first leaves no window in which the file is more open than 0600. Changing the umask
  // instead would race with every other thread of the daemon that creates files.
  if (fchmod(fd.get(), 0600) != 0) {
    Fail(error, "cannot set the API socket's mode: " + Errno(errno));
    return nullptr;
  }
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    Fail(error, errno == EADDRINUSE
                    ? "another tracegapd is serving " + socket_path
                    : "cannot bind the API socket " + socket_path + ": " + Errno(errno));
    return nullptr;
  }
  // Nobody can connect before listen(), so checking (and fixing) the mode here is race-free.
  struct stat st;
  if (lstat(socket_path.c_str(), &st) != 0 ||
      ((st.st_mode & 07777) != 0600 && chmod(socket_path.c_str(), 0600) != 0)) {
    Fail(error, "cannot make the API socket " + socket_path + " mode 0600: " + Errno(errno));
    unlink(socket_path.c_str());
    return nullptr;
  }
  UniqueFd stop(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (listen(fd.get(), kBacklog) != 0 || stop.get() < 0) {
    Fail(error, "cannot listen on the API socket " + socket_path + ": " + Errno(errno));
    unlink(socket_path.c_str());
    return nullptr;
  }
  std::unique_ptr<ApiServer> server(new ApiServer(socket_path, fd.release(), stop.release(),
                                                  st.st_dev, st.st_ino,
                                                  Router(table, std::move(status))));
  try {
    server->thread_ = std::thread(&ApiServer::Run, server.get());
  } catch (const std::system_error& e) {
    Fail(error, std::string("cannot start the API thread: ") + e.what());
    return nullptr;  // the destructor closes and removes the socket
  }
  TG_LOG(Info) << "API listening on " << socket_path;
  return server;
}

ApiServer::ApiServer(std::string path, int listen_fd, int stop_fd, dev_t dev, ino_t ino,
                     Router router)
    : path_(std::move(path)),
      listen_fd_(listen_fd),
      stop_fd_(stop_fd),
      dev_(dev),
      ino_(ino),
      router_(std::move(router)) {}

ApiServer::~ApiServer() {
  const uint64_t one = 1;
  if (write(stop_fd_, &one, sizeof(one)) != sizeof(one)) {
    TG_LOG(Error) << "API: cannot wake the API thread to stop it: " << Errno(errno);
  }
  if (thread_.joinable()) thread_.join();
  close(listen_fd_);
  close(stop_fd_);
  struct stat st;
  if (lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_ &&
      unlink(path_.c_str()) != 0) {
    TG_LOG(Warning) << "cannot remove the API socket " << path_ << ": " << Errno(errno);
  }
}

void ApiServer::Run() {
  const uid_t self = geteuid();
  std::vector<std::unique_ptr<Connection>> conns;
  std::vector<pollfd> fds;
  Clock::time_point accept_resume{};  // after accept() failed for lack of resources
  try {
    while (true) {
      const Clock::time_point now = Clock::now();
      const bool accepting = conns.size() < kMaxConnections && now >= accept_resume;
      Clock::time_point wake = now < accept_resume ? accept_resume : Clock::time_point::max();
      fds.clear();
      fds.push_back({stop_fd_, POLLIN, 0});
      fds.push_back({accepting ? listen_fd_ : -1, POLLIN, 0});  // poll() skips negative fds
      for (const auto& c : conns) {
        fds.push_back({c->fd(), c->events(), 0});
        wake = std::min(wake, c->deadline());
      }
      int timeout_ms = -1;
      if (wake != Clock::time_point::max()) {
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(wake - now).count();
        timeout_ms = static_cast<int>(std::clamp<int64_t>(left, 0, 60'000));
      }
      if (poll(fds.data(), fds.size(), timeout_ms) < 0) {
        if (errno == EINTR) continue;
        TG_LOG(Error) << "API: poll failed: " << Errno(errno) << "; retrying";
        pollfd stop{stop_fd_, POLLIN, 0};
        poll(&stop, 1, static_cast<int>(kAcceptBackoff.count()));
        continue;
      }
      if (fds[0].revents != 0) return;
      const Clock::time_point after = Clock::now();
      for (size_t i = 0; i < conns.size(); ++i) conns[i]->Step(fds[i + 2].revents, router_, after);
      std::erase_if(conns, [](const auto& c) { return c->done(); });
      if (!(fds[1].revents & POLLIN)) continue;
      while (conns.size() < kMaxConnections) {
        const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
          if (errno == EINTR || errno == ECONNABORTED) continue;
          if (errno != EAGAIN && errno != EWOULDBLOCK) {
            // EMFILE and the like leave the listener readable: back off, or poll() would spin.
            TG_LOG(Warning) << "API: accept failed: " << Errno(errno) << "; retrying in "
                            << kAcceptBackoff.count() << " ms";
            accept_resume = after + kAcceptBackoff;
          }
          break;
        }
        ucred cred{};
        socklen_t len = sizeof(cred);
        const bool known = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0;
        const bool allowed = known && PeerMayQuery(cred.uid, self);
        if (!allowed) {
          TG_LOG(Info) << "API: refusing a client: "
                       << (known ? "uid " + std::to_string(cred.uid) + " (pid " +
                                       std::to_string(cred.pid) + ") is neither root nor uid " +
                                       std::to_string(self)
                                 : "cannot read its credentials: " + Errno(errno));
        }
        conns.push_back(std::make_unique<Connection>(fd, allowed, after));
      }
    }
  } catch (const std::exception& e) {
    // Only allocation can throw here; the daemon keeps capturing without its API.
    TG_LOG(Error) << "API: stopped serving " << path_ << ": " << e.what();
  }
}

}  // namespace tracegap::api
