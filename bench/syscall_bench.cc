// bench/syscall_bench: the per-syscall price every process pays while tracegap is attached.
// Small writes and reads on a TCP loopback pair (non-HTTP bytes), a UNIX socket pair, a pipe and
// a regular file. Prints one line per case: "<case> <ns per hooked syscall>" (median of --reps
// runs); compare configurations by difference.
//
// Usage: syscall_bench [--iterations N] [--reps R] [--bytes B]

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

[[noreturn]] void Die(const char* what) {
  std::perror(what);
  std::exit(1);
}

void TcpPair(int fds[2]) {
  int lst = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (bind(lst, reinterpret_cast<sockaddr*>(&a), sizeof(a)) || listen(lst, 1) ||
      getsockname(lst, reinterpret_cast<sockaddr*>(&a), &len))
    Die("tcp listen");
  fds[0] = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(fds[0], reinterpret_cast<sockaddr*>(&a), sizeof(a))) Die("tcp connect");
  fds[1] = accept(lst, nullptr, nullptr);
  if (fds[1] < 0) Die("tcp accept");
  int one = 1;
  setsockopt(fds[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  close(lst);
}

// One write then one read of `bytes`, `n` times: returns ns per syscall.
double PingPong(int wfd, int rfd, size_t bytes, long n) {
  std::vector<char> buf(bytes, 'x');  // never starts like HTTP
  auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < n; ++i) {
    if (write(wfd, buf.data(), bytes) != static_cast<ssize_t>(bytes)) Die("write");
    size_t got = 0;
    while (got < bytes) {
      ssize_t r = read(rfd, buf.data() + got, bytes - got);
      if (r <= 0) Die("read");
      got += static_cast<size_t>(r);
    }
  }
  auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / (2.0 * static_cast<double>(n));
}

// write + lseek + read + lseek on a regular file, `n` times: returns ns per hooked syscall (write
// and read; the lseeks are not hooked and cost the same in every configuration, so differences
// between configurations are the hooked calls' alone).
double FileWrites(size_t bytes, long n) {
  char path[] = "/tmp/tg-syscall-bench-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) Die("mkstemp");
  unlink(path);
  std::vector<char> buf(bytes, 'x');
  auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < n; ++i) {
    if (write(fd, buf.data(), bytes) < 0) Die("write");
    if (lseek(fd, 0, SEEK_SET) < 0) Die("lseek");
    if (read(fd, buf.data(), bytes) < 0) Die("read");
    if (lseek(fd, 0, SEEK_SET) < 0) Die("lseek");
  }
  auto t1 = std::chrono::steady_clock::now();
  close(fd);
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / (2.0 * static_cast<double>(n));
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  long iterations = 200000;
  int reps = 5;
  size_t bytes = 64;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--iterations")
      iterations = std::atol(argv[i + 1]);
    else if (k == "--reps")
      reps = std::atoi(argv[i + 1]);
    else if (k == "--bytes")
      bytes = static_cast<size_t>(std::atol(argv[i + 1]));
  }
  int tcp[2], unix_pair[2], pipe_fds[2];
  TcpPair(tcp);
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, unix_pair)) Die("socketpair");
  if (pipe(pipe_fds)) Die("pipe");
  std::vector<double> t, u, p, f;
  for (int r = 0; r < reps; ++r) {
    t.push_back(PingPong(tcp[0], tcp[1], bytes, iterations));
    u.push_back(PingPong(unix_pair[0], unix_pair[1], bytes, iterations));
    p.push_back(PingPong(pipe_fds[1], pipe_fds[0], bytes, iterations));
    f.push_back(FileWrites(bytes, iterations));
  }
  std::printf("tcp_loopback %.1f\nunix_socketpair %.1f\npipe %.1f\nregular_file %.1f\n", Median(t),
              Median(u), Median(p), Median(f));
  return 0;
}
