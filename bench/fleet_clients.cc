// bench/tracegap-fleet-clients: N live client processes, each with a comm of its own, each having
// sent K traced HTTP/1.1 requests with distinct Host headers: the fleet bench/fleet.py measures
// tracegapd's /metrics against (one metric identity per child, N*K distinct client->server edges).
//
// The parent forks N children. Child i (0-based):
//   - sets its comm to "fleet-%04d" (prctl PR_SET_NAME) and asks for SIGKILL when the parent dies
//     (PR_SET_PDEATHSIG);
//   - opens one TCP connection to HOST:PORT and sends K keep-alive GETs, request j carrying
//     "Host: svc-<i*K+j>.fleet.test" and a valid W3C traceparent, reading each response to its end;
//   - reports to the parent (one byte on a pipe), closes the connection and stays alive (pause)
//     until it is killed.
// Once every child has reported, the parent prints one line on stdout:
//   ready children=N ok=OK failed=F seconds=S
// and holds the fleet until SIGTERM/SIGINT/SIGHUP (or --hold seconds, or stdin closing with
// --stdin-eof), then stops every child (SIGTERM, SIGKILL after 5 s), reaps them and exits 0.
// Bounded everywhere: the ready phase gives up after --timeout seconds (children killed, exit 1),
// each child carries an alarm of --timeout + --hold seconds of its own.
//
// Usage: tracegap-fleet-clients --port PORT [--host 127.0.0.1] [--children 1000] [--requests 2]
//                               [--timeout 120] [--hold 600] [--stdin-eof]

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  int children = 1000;
  int requests = 2;
  int timeout_s = 120;
  int hold_s = 600;
  bool stdin_eof = false;
};

[[noreturn]] void Usage(const char* msg) {
  std::fprintf(stderr,
               "tracegap-fleet-clients: %s\nusage: tracegap-fleet-clients --port PORT [--host ADDR] "
               "[--children N] [--requests K] [--timeout S] [--hold S] [--stdin-eof]\n",
               msg);
  std::exit(2);
}

int IntArg(int argc, char** argv, int& i, int lo, int hi) {
  if (i + 1 >= argc) Usage("missing value");
  char* end = nullptr;
  long v = std::strtol(argv[++i], &end, 10);
  if (*end || v < lo || v > hi) Usage("value out of range");
  return static_cast<int>(v);
}

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--port") o.port = IntArg(argc, argv, i, 1, 65535);
    else if (a == "--host" && i + 1 < argc) o.host = argv[++i];
    else if (a == "--children") o.children = IntArg(argc, argv, i, 1, 100000);
    else if (a == "--requests") o.requests = IntArg(argc, argv, i, 1, 1000);
    else if (a == "--timeout") o.timeout_s = IntArg(argc, argv, i, 1, 3600);
    else if (a == "--hold") o.hold_s = IntArg(argc, argv, i, 1, 86400);
    else if (a == "--stdin-eof") o.stdin_eof = true;
    else if (a == "-h" || a == "--help") Usage("help");
    else Usage(("unknown argument " + a).c_str());
  }
  if (!o.port) Usage("--port is required");
  return o;
}

double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

bool WriteAll(int fd, const char* p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Reads one HTTP/1.1 response (headers, then Content-Length bytes of body) from fd; `buf` keeps
// whatever followed it. Returns the status code, or -1.
int ReadResponse(int fd, std::string& buf) {
  char tmp[4096];
  size_t hdr_end;
  while ((hdr_end = buf.find("\r\n\r\n")) == std::string::npos) {
    if (buf.size() > 65536) return -1;
    ssize_t r = read(fd, tmp, sizeof tmp);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    buf.append(tmp, static_cast<size_t>(r));
  }
  int status = -1;
  if (buf.compare(0, 9, "HTTP/1.1 ") == 0 || buf.compare(0, 9, "HTTP/1.0 ") == 0)
    status = std::atoi(buf.c_str() + 9);
  size_t len = 0;
  std::string head = buf.substr(0, hdr_end);
  for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  size_t cl = head.find("\r\ncontent-length:");
  if (cl != std::string::npos) len = std::strtoul(head.c_str() + cl + 17, nullptr, 10);
  size_t want = hdr_end + 4 + len;
  while (buf.size() < want) {
    ssize_t r = read(fd, tmp, sizeof tmp);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    buf.append(tmp, static_cast<size_t>(r));
  }
  buf.erase(0, want);
  return status;
}

// One child's work; returns true if every response was a 2xx.
bool ChildRequests(const Options& o, int index) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(o.port));
  if (inet_pton(AF_INET, o.host.c_str(), &addr.sin_addr) != 1) return false;
  int fd = -1;
  // The listener's backlog can overflow when a thousand children connect at once: retry, bounded
  // by the child's alarm.
  for (int attempt = 0; attempt < 200; ++attempt) {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    timeval tv{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) break;
    close(fd);
    fd = -1;
    usleep(50000);
  }
  if (fd < 0) return false;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::string buf;
  bool ok = true;
  for (int j = 0; j < o.requests && ok; ++j) {
    long edge = static_cast<long>(index) * o.requests + j;
    char req[512];
    // A valid traceparent: version 00, non-zero trace and span ids, sampled.
    int n = std::snprintf(req, sizeof req,
                          "GET /fleet/%d/%d HTTP/1.1\r\n"
                          "Host: svc-%ld.fleet.test\r\n"
                          "User-Agent: tracegap-fleet-clients\r\n"
                          "Accept: */*\r\n"
                          "traceparent: 00-4bf92f3577b34da6%016lx-%016lx-01\r\n"
                          "\r\n",
                          index, j, edge, static_cast<unsigned long>(edge) + 1,
                          static_cast<unsigned long>(edge) + 0x00f067aa0ba90000UL);
    if (n <= 0 || n >= static_cast<int>(sizeof req) || !WriteAll(fd, req, static_cast<size_t>(n))) {
      ok = false;
      break;
    }
    int status = ReadResponse(fd, buf);
    if (status < 200 || status > 299) ok = false;
  }
  close(fd);
  return ok;
}

[[noreturn]] void Child(const Options& o, int index, pid_t parent, int status_fd) {
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_UNBLOCK, &all, nullptr);
  signal(SIGTERM, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  signal(SIGHUP, SIG_DFL);
  signal(SIGALRM, SIG_DFL);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(1);  // the parent died before PDEATHSIG was set
  alarm(static_cast<unsigned>(o.timeout_s + o.hold_s));  // never outlives the bench, whatever happens
  int devnull = open("/dev/null", O_RDWR);
  if (devnull >= 0) {
    dup2(devnull, 0);
    dup2(devnull, 1);  // the driver reads the parent's stdout: children must not hold it open
    close(devnull);
  }
  char name[32];  // the kernel keeps 15 bytes of it
  std::snprintf(name, sizeof name, "fleet-%04d", index);
  prctl(PR_SET_NAME, name);
  char verdict = ChildRequests(o, index) ? 'o' : 'e';
  WriteAll(status_fd, &verdict, 1);
  close(status_fd);
  for (;;) pause();
}

void StopChildren(const std::vector<pid_t>& kids) {
  for (pid_t p : kids) kill(p, SIGTERM);
  double deadline = Now() + 5.0;
  size_t left = kids.size();
  while (left) {
    pid_t r = waitpid(-1, nullptr, WNOHANG);
    if (r > 0) {
      --left;
      continue;
    }
    if (r < 0 && errno == ECHILD) break;
    if (Now() > deadline) {
      for (pid_t p : kids) kill(p, SIGKILL);
      while (waitpid(-1, nullptr, 0) > 0 || errno == EINTR) {
      }
      break;
    }
    usleep(10000);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o = Parse(argc, argv);
  // The parent takes its signals through a signalfd; children unblock them.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  sigprocmask(SIG_BLOCK, &sigs, nullptr);
  int sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
  int pipefd[2];
  if (sfd < 0 || pipe2(pipefd, O_CLOEXEC) != 0) {
    std::perror("signalfd/pipe");
    return 1;
  }
  std::fflush(stdout);
  pid_t self = getpid();
  std::vector<pid_t> kids;
  kids.reserve(static_cast<size_t>(o.children));
  double t0 = Now();
  for (int i = 0; i < o.children; ++i) {
    pid_t p = fork();
    if (p < 0) {
      std::perror("fork");
      StopChildren(kids);
      return 1;
    }
    if (p == 0) {
      close(pipefd[0]);
      close(sfd);
      Child(o, i, self, pipefd[1]);
    }
    kids.push_back(p);
  }
  close(pipefd[1]);

  int ok = 0, failed = 0;
  bool stop = false, ready = false;
  double deadline = t0 + o.timeout_s;
  while (!stop) {
    double now = Now();
    if (!ready && ok + failed == o.children) {
      ready = true;
      std::printf("ready children=%d ok=%d failed=%d seconds=%.3f\n", o.children, ok, failed, now - t0);
      std::fflush(stdout);
      deadline = now + o.hold_s;
    }
    if (now >= deadline) {
      if (!ready)
        std::fprintf(stderr, "tracegap-fleet-clients: only %d of %d children reported within %d s\n",
                     ok + failed, o.children, o.timeout_s);
      else
        std::fprintf(stderr, "tracegap-fleet-clients: held %d s: stopping\n", o.hold_s);
      StopChildren(kids);
      return ready ? 0 : 1;
    }
    pollfd fds[3] = {{sfd, POLLIN, 0}, {ready ? -1 : pipefd[0], POLLIN, 0},
                     {o.stdin_eof ? 0 : -1, POLLIN, 0}};
    int ms = static_cast<int>((deadline - now) * 1000) + 1;
    int r = poll(fds, 3, ms > 1000 ? 1000 : ms);
    if (r < 0 && errno != EINTR) {
      std::perror("poll");
      break;
    }
    if (r <= 0) continue;
    if (fds[0].revents & POLLIN) stop = true;
    if (fds[1].revents & (POLLIN | POLLHUP)) {
      char b[4096];
      ssize_t n = read(pipefd[0], b, sizeof b);
      if (n > 0) {
        for (ssize_t k = 0; k < n; ++k) (b[k] == 'o' ? ok : failed)++;
      } else if (n == 0) {  // every child closed its end: the missing ones died
        failed = o.children - ok;
      }
    }
    if (fds[2].revents & (POLLIN | POLLHUP)) {
      char b[256];
      if (read(0, b, sizeof b) <= 0) stop = true;
    }
  }
  StopChildren(kids);
  return ready ? 0 : 1;
}
