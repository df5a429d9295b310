#pragma once
// Helpers for the API and CLI tests: scratch directories, a raw Unix-socket client, and a fake
// daemon that answers with canned bytes.

#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <boost/beast/http.hpp>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "cli/client.h"

namespace tracegap::testutil {

// A fresh directory under the test temp dir, removed (with its contents) on destruction.
class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = testing::TempDir() + "tgapi.XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline sockaddr_un Address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
  return addr;
}

// Connects to `path`; -1 on failure (errno set).
inline int Connect(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const sockaddr_un addr = Address(path);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

// Reads until EOF, error or timeout.
inline std::string ReadAll(int fd, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[65536];
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

inline bool SendAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Sends `request` on a new connection and returns everything the server sent back.
inline std::string RawExchange(const std::string& path, std::string_view request) {
  const int fd = Connect(path);
  if (fd < 0) return "connect failed: " + std::string(strerror(errno));
  SendAll(fd, request);
  std::string response = ReadAll(fd);
  close(fd);
  return response;
}

inline std::string Get(const std::string& path, std::string_view target) {
  return RawExchange(path, "GET " + std::string(target) + " HTTP/1.1\r\nHost: x\r\n\r\n");
}

// Parses the bytes a server sent as one complete HTTP/1 response (Beast's parser, as the CLI
// uses); a failed check and an empty response when they are not one.
inline cli::HttpResponse ParseHttpResponse(std::string_view bytes) {
  namespace http = boost::beast::http;
  http::response_parser<http::string_body> parser;
  parser.eager(true);
  boost::system::error_code ec;
  while (!ec && !parser.is_done()) {
    if (bytes.empty()) {
      parser.put_eof(ec);  // the end of what was sent ends a body without Content-Length
      break;
    }
    const size_t n = parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
    bytes.remove_prefix(n);
    if (ec == http::error::need_more && n == 0) {
      ec = {};
      parser.put_eof(ec);
      break;
    }
    if (ec == http::error::need_more) ec = {};
  }
  if (ec || !parser.is_done()) {
    ADD_FAILURE() << "not an HTTP response (" << ec.message() << "): " << bytes;
    return {};
  }
  const auto& r = parser.get();
  return cli::HttpResponse{static_cast<int>(r.result_int()),
                           std::string(r[http::field::content_type]), r.body()};
}

// A listening socket that answers every connection with `response` (after reading the request
// head), or with nothing at all when `silent`.
class FakeDaemon {
 public:
  FakeDaemon(const std::string& path, std::string response, bool silent = false)
      : response_(std::move(response)), silent_(silent) {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const sockaddr_un addr = Address(path);
    if (bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(fd_, 16) != 0) {
      ADD_FAILURE() << "fake daemon cannot listen on " << path << ": " << strerror(errno);
    }
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeDaemon() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
    close(fd_);
  }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      const int c = accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      std::string head;
      char buf[4096];
      while (head.find("\r\n\r\n") == std::string::npos) {
        pollfd q{c, POLLIN, 0};
        if (poll(&q, 1, 2000) <= 0) break;
        const ssize_t n = recv(c, buf, sizeof(buf), 0);
        if (n <= 0) break;
        head.append(buf, static_cast<size_t>(n));
      }
      if (silent_) {
        while (!stop_) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      } else {
        SendAll(c, response_);
      }
      close(c);
    }
  }

  int fd_ = -1;
  std::string response_;
  bool silent_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace tracegap::testutil
