#pragma once
// tracegapd's local query API: JSON over HTTP/1.1 on a Unix socket, for the tracegap CLI.
//
// Access control is two layers: the socket file is created with mode 0600 (owner only: root,
// normally), and each connection's peer credentials (SO_PEERCRED) must be uid 0 or the daemon's
// own euid, otherwise it is answered 403.
//
// One thread runs an Asio event loop that serves every connection (connection.h: Boost.Beast
// reads each request head, at most 8 KiB within 2 s, and writes one answer, then the connection
// is closed). See router.h for routes and render.h for the documents.
//
// Thread safety: the server's own thread only reads the ProcessTable (whose methods lock) and
// calls the StatusProvider. Start() and the destructor may run on any thread, but the destructor
// must not race with other calls on the same server.

#include <sys/types.h>

#include <memory>
#include <string>
#include <thread>

#include "correlate/process_table.h"
#include "export/api/router.h"

namespace tracegap::api {

// The directory tracegapd's default socket lives in. systemd's RuntimeDirectory= creates it;
// for a manual run Start() creates it (mode 0755) when the socket is to go there.
inline constexpr std::string_view kDefaultRuntimeDir = "/run/tracegap";
inline constexpr std::string_view kDefaultSocketPath = "/run/tracegap/api.sock";

// Who may query the API: root and the user the daemon runs as.
constexpr bool PeerMayQuery(uid_t peer_uid, uid_t daemon_euid) {
  return peer_uid == 0 || peer_uid == daemon_euid;
}

class ApiServer {
 public:
  using StatusProvider = api::StatusProvider;

  // Binds `socket_path` and starts serving on a new thread. `table` must outlive the server;
  // `status` is called on the API thread (it must be thread-safe).
  //
  // A socket file left by a previous run is replaced only if nothing accepts connections on it;
  // if another daemon is live there, or the path is not a socket, or its directory does not
  // exist (other than kDefaultRuntimeDir, which is created), Start() fails: it returns null and
  // sets *error (if not null) to a one-line explanation naming the path.
  static std::unique_ptr<ApiServer> Start(const std::string& socket_path, const ProcessTable& table,
                                          StatusProvider status, std::string* error,
                                          const EdgeTable* edges = nullptr);

  // Stops the thread (promptly: its event loop is stopped, not polled), closes every connection
  // and the socket, and removes the socket file if it is still the one this server created.
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  const std::string& socket_path() const { return path_; }

 private:
  struct Loop;  // the event loop and the accepting socket (server.cc keeps Asio out of here)

  ApiServer(std::string path, dev_t dev, ino_t ino, std::unique_ptr<Loop> loop);

  const std::string path_;
  const dev_t dev_;  // identify the socket file bound, so that ~ApiServer never unlinks
  const ino_t ino_;  // one a newer daemon created at the same path
  std::unique_ptr<Loop> loop_;
  std::thread thread_;
};

}  // namespace tracegap::api
