#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <chrono>
#include <random>
#include <stdexcept>
#include <vector>

#include "api_test_util.h"
#include "cli/document.h"
#include "export/api/server.h"

namespace tracegap::api {
namespace {

using namespace std::string_literals;
using std::chrono::milliseconds;
using testutil::Get;
using testutil::RawExchange;

ProcessSnapshot Identity(const std::string& comm) {
  ProcessSnapshot s;
  s.comm = comm;
  s.unit = comm + ".service";
  return s;
}

DaemonStatus TestStatus() {
  DaemonStatus s;
  s.version = "9.9.9";
  s.attach = "tracepoints";
  s.processes_tracked = 2;
  return s;
}

class ApiServerTest : public testing::Test {
 protected:
  void SetUp() override {
    table_.CountInbound({100, 1}, Identity("front"), ContextVerdict::kValid, 1000);
    GapExample e;
    e.outcome = Outcome::kDropped;
    e.method = "GET";
    e.path = "/x";
    table_.CountOutbound({100, 1}, Identity("front"), Outcome::kDropped, 1001, &e);
    table_.CountOutbound({200, 1}, Identity("back"), Outcome::kOrigin, 1002, nullptr);
  }

  std::unique_ptr<ApiServer> StartServer(StatusProvider status = TestStatus) {
    std::string error;
    auto server = ApiServer::Start(path_, table_, std::move(status), &error);
    EXPECT_NE(server, nullptr) << error;
    return server;
  }

  static cli::HttpResponse Parse(const std::string& bytes) {
    return testutil::ParseHttpResponse(bytes);
  }

  static cli::Document Body(const cli::HttpResponse& r) {
    std::string error;
    std::optional<cli::Document> v = cli::ParseDocument(r.body, &error);
    EXPECT_TRUE(v.has_value()) << error << ": " << r.body;
    return v ? std::move(*v) : cli::Document();
  }

  testutil::ScratchDir dir_;
  const std::string path_ = dir_.File("api.sock");
  ProcessTable table_{10000, std::chrono::seconds(60)};
};

TEST_F(ApiServerTest, ServesEveryRoute) {
  auto server = StartServer();
  cli::HttpResponse list = Parse(Get(path_, "/v1/processes"));
  EXPECT_EQ(list.status, 200);
  EXPECT_EQ(list.content_type, "application/json");
  EXPECT_EQ(Body(list)["processes"].size(), 2u);

  cli::HttpResponse one = Parse(Get(path_, "/v1/processes/100?ignored=1"));
  EXPECT_EQ(one.status, 200);
  cli::Document detail = Body(one);
  EXPECT_EQ(detail["comm"], "front");
  EXPECT_EQ(detail["gap_examples"].size(), 1u);

  cli::HttpResponse status = Parse(Get(path_, "/v1/status"));
  EXPECT_EQ(status.status, 200);
  EXPECT_EQ(Body(status)["version"], "9.9.9");
}

TEST_F(ApiServerTest, WireFormat) {
  auto server = StartServer();
  const std::string raw = Get(path_, "/v1/processes/999999");
  EXPECT_EQ(raw,
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 39\r\n"
            "Connection: close\r\nCache-Control: no-store\r\n\r\n"
            "{\"error\":\"no process with pid 999999\"}\n");
}

TEST_F(ApiServerTest, ClientErrors) {
  auto server = StartServer();
  EXPECT_EQ(Parse(Get(path_, "/v1/processes/abc")).status, 400);
  EXPECT_EQ(Parse(Get(path_, "/v1/processes/-1")).status, 400);
  EXPECT_EQ(Parse(Get(path_, "/v1/processes/99999999999")).status, 400);
  EXPECT_EQ(Parse(Get(path_, "/v1/processes/")).status, 400);
  EXPECT_EQ(Parse(Get(path_, "/v1/nope")).status, 404);
  EXPECT_EQ(Parse(Get(path_, "/")).status, 404);
  cli::HttpResponse post = Parse(RawExchange(path_, "POST /v1/status HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(Parse(RawExchange(path_, "\x01\x02garbage\xff\r\n\r\n")).status, 400);
  EXPECT_EQ(Parse(RawExchange(path_, "GET /v1/status HTTP/1.1\nHost: x\n\n")).status, 400);
  EXPECT_EQ(Parse(RawExchange(path_, "HTTP/1.1 200 OK\r\n\r\n")).status, 400);
  EXPECT_EQ(Parse(RawExchange(path_, std::string(9000, 'A'))).status, 413);
  // The head fits, but its end lies past the limit.
  std::string big = "GET /v1/status HTTP/1.1\r\nX: " + std::string(8200, 'a') + "\r\n\r\n";
  EXPECT_EQ(Parse(RawExchange(path_, big)).status, 413);
  // Still serving after all that.
  EXPECT_EQ(Parse(Get(path_, "/v1/status")).status, 200);
}

TEST_F(ApiServerTest, HalfClosedRequestGets400AndSilentPeerIsDropped) {
  auto server = StartServer();
  int fd = testutil::Connect(path_);
  ASSERT_GE(fd, 0);
  testutil::SendAll(fd, "GET /v1/status HTTP/1.1\r\n");
  shutdown(fd, SHUT_WR);
  EXPECT_EQ(Parse(testutil::ReadAll(fd)).status, 400);
  close(fd);

  fd = testutil::Connect(path_);  // connects and leaves without a word
  close(fd);
  EXPECT_EQ(Parse(Get(path_, "/v1/status")).status, 200);
}

TEST_F(ApiServerTest, SlowRequestTimesOutWithoutBlockingOthers) {
  auto server = StartServer();
  const int slow = testutil::Connect(path_);
  ASSERT_GE(slow, 0);
  testutil::SendAll(slow, "GET /v1/status HTTP/1.1\r\n");
  std::vector<int> idle;
  for (int i = 0; i < 10; ++i) idle.push_back(testutil::Connect(path_));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Parse(Get(path_, "/v1/status")).status, 200);  // served while the others dawdle
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(500));
  EXPECT_EQ(Parse(testutil::ReadAll(slow, std::chrono::seconds(4))).status, 408);
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(1500));
  close(slow);
  for (int fd : idle) close(fd);
}

TEST_F(ApiServerTest, LargeAnswerIsWrittenInFull) {
  for (uint32_t pid = 1000; pid < 4000; ++pid) {
    table_.CountOutbound({pid, 1}, Identity("p" + std::to_string(pid)), Outcome::kPropagated, 5,
                         nullptr);
  }
  auto server = StartServer();
  cli::HttpResponse r = Parse(Get(path_, "/v1/processes"));
  ASSERT_EQ(r.status, 200);
  EXPECT_GT(r.body.size(), 1'000'000u);
  EXPECT_EQ(Body(r)["processes"].size(), 3002u);
}

TEST_F(ApiServerTest, FailingStatusProviderGives500) {
  auto server = StartServer([]() -> DaemonStatus { throw std::runtime_error("metrics gone"); });
  cli::HttpResponse r = Parse(Get(path_, "/v1/status"));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(Body(r)["error"], "internal error: metrics gone");
  EXPECT_EQ(Parse(Get(path_, "/v1/processes")).status, 200);
}

TEST_F(ApiServerTest, SocketIsOwnerOnlyWhateverTheUmask) {
  const mode_t old = umask(0);
  auto server = StartServer();
  umask(old);
  struct stat st;
  ASSERT_EQ(lstat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(ApiServerTest, StaleSocketIsReplaced) {
  {
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    const sockaddr_un addr = testutil::Address(path_);
    ASSERT_EQ(bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0);
    close(fd);  // the file stays, nobody listens: a crashed daemon's leftover
  }
  auto server = StartServer();
  EXPECT_EQ(Parse(Get(path_, "/v1/status")).status, 200);
}

TEST_F(ApiServerTest, LiveSocketIsNotTakenOver) {
  auto first = StartServer();
  std::string error;
  EXPECT_EQ(ApiServer::Start(path_, table_, TestStatus, &error), nullptr);
  EXPECT_EQ(error, "another tracegapd is serving " + path_);
  EXPECT_EQ(Parse(Get(path_, "/v1/status")).status, 200);
}

TEST_F(ApiServerTest, RefusesPathsItMustNotTouch) {
  std::string error;
  const std::string file = dir_.File("regular");
  FILE* f = fopen(file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fclose(f);
  EXPECT_EQ(ApiServer::Start(file, table_, TestStatus, &error), nullptr);
  EXPECT_EQ(error, file + " exists and is not a socket; not replacing it with the API socket");

  const std::string orphan = dir_.File("missing/api.sock");
  EXPECT_EQ(ApiServer::Start(orphan, table_, TestStatus, &error), nullptr);
  EXPECT_EQ(error, "cannot create the API socket " + orphan + ": directory " +
                       dir_.File("missing") +
                       " does not exist (create it, or choose another --api-socket)");

  EXPECT_EQ(ApiServer::Start(dir_.File(std::string(200, 'x')), table_, TestStatus, &error),
            nullptr);
  EXPECT_NE(error.find("must be 1 to 107 bytes long"), std::string::npos) << error;
}

TEST_F(ApiServerTest, StopIsPromptAndRemovesTheSocket) {
  auto server = StartServer();
  const int idle = testutil::Connect(path_);  // a client in the middle of a request
  testutil::SendAll(idle, "GET /v1/sta");
  std::this_thread::sleep_for(milliseconds(50));
  const auto start = std::chrono::steady_clock::now();
  server.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(100));
  struct stat st;
  EXPECT_NE(lstat(path_.c_str(), &st), 0);
  EXPECT_EQ(testutil::ReadAll(idle, milliseconds(500)), "");  // closed, not answered
  close(idle);
}

TEST_F(ApiServerTest, StopLeavesANewerDaemonsSocketAlone) {
  auto server = StartServer();
  ASSERT_EQ(unlink(path_.c_str()), 0);
  const int other = socket(AF_UNIX, SOCK_STREAM, 0);
  const sockaddr_un addr = testutil::Address(path_);
  ASSERT_EQ(bind(other, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0);
  server.reset();
  struct stat st;
  EXPECT_EQ(lstat(path_.c_str(), &st), 0);
  close(other);
}

TEST(ApiPeerMayQueryTest, RootAndOwnUserOnly) {
  EXPECT_TRUE(PeerMayQuery(0, 1000));
  EXPECT_TRUE(PeerMayQuery(1000, 1000));
  EXPECT_FALSE(PeerMayQuery(1001, 1000));
  EXPECT_TRUE(PeerMayQuery(0, 0));
  EXPECT_FALSE(PeerMayQuery(65534, 0));
}

// The credentials check behind the file mode: even with the mode opened up, another user gets
// 403. Needs root to become that other user.
TEST_F(ApiServerTest, OtherUsersGet403) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to another uid";
  auto server = StartServer();
  ASSERT_EQ(chmod(dir_.path().c_str(), 0711), 0);
  ASSERT_EQ(chmod(path_.c_str(), 0666), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Raw syscalls: only async-signal-safe work in the child of a threaded process.
    if (syscall(SYS_setresgid, 65534, 65534, 65534) != 0 ||
        syscall(SYS_setresuid, 65534, 65534, 65534) != 0) {
      _exit(10);
    }
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    const sockaddr_un addr = testutil::Address(path_);
    if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) _exit(11);
    const char req[] = "GET /v1/status HTTP/1.1\r\n\r\n";
    if (write(fd, req, sizeof(req) - 1) != sizeof(req) - 1) _exit(12);
    char buf[64] = {};
    const ssize_t n = read(fd, buf, 12);
    _exit(n == 12 && memcmp(buf, "HTTP/1.1 403", 12) == 0 ? 0 : 13);
  }
  int wstatus = 0;
  ASSERT_EQ(waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(WIFEXITED(wstatus));
  EXPECT_EQ(WEXITSTATUS(wstatus), 0);
}

// Any method and target at all yield an answer from the router: never a crash.
TEST(ApiRouterTest, GarbageRequests) {
  ProcessTable table(10, std::chrono::seconds(1));
  Router router(table, TestStatus);
  std::mt19937 rng(3);
  const std::string alphabet = "GET /v1processes0123456789 HTTP/1.\r\n:\x00\xff?%#"s;
  auto random = [&] {
    std::string s;
    const size_t n = rng() % 32;
    for (size_t j = 0; j < n; ++j) s.push_back(alphabet[rng() % alphabet.size()]);
    return s;
  };
  for (int i = 0; i < 20000; ++i) {
    const std::string method = i % 2 == 0 ? "GET" : random();
    const std::string target = (i % 3 == 0 ? "/v1/" : "") + random();
    const Response r = router.Handle(method, target);
    ASSERT_TRUE(r.status == 200 || r.status == 400 || r.status == 404 || r.status == 405)
        << method << " " << target;
    ASSERT_TRUE(cli::ParseDocument(r.body, nullptr).has_value());
  }
  EXPECT_EQ(router.Handle("GET", "/v1/status?x#y").status, 200);
  EXPECT_EQ(router.Handle("HEAD", "/v1/status").status, 405);
}

}  // namespace
}  // namespace tracegap::api
