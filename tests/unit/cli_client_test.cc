// The CLI against real and fake daemons: exit codes and one-line errors, in-process through
// RunCli() and, for a few cases, through the built binary.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cstdlib>
#include <sstream>

#include "api_test_util.h"
#include "cli/app.h"
#include "cli/client.h"
#include "export/api/server.h"

namespace tracegap::cli {
namespace {

using testutil::FakeDaemon;

struct CliRun {
  int code;
  std::string out;
  std::string err;
};

CliRun Cli(std::vector<std::string> args, const char* env_socket = nullptr) {
  args.insert(args.begin(), "tracegap");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  const int code = RunCli(static_cast<int>(argv.size()), argv.data(), out, err, env_socket);
  return CliRun{code, out.str(), err.str()};
}

std::string Http(int status, std::string_view body) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\n" +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

class CliTest : public testing::Test {
 protected:
  testutil::ScratchDir dir_;
  const std::string path_ = dir_.File("api.sock");
};

TEST_F(CliTest, NoSocketMeansNotRunning) {
  CliRun r = Cli({"--socket", path_, "processes"});
  EXPECT_EQ(r.code, kExitNotRunning);
  EXPECT_EQ(r.err, "tracegap: tracegapd is not running (no socket at " + path_ + ")\n");
  EXPECT_EQ(r.out, "");
}

TEST_F(CliTest, RefusedConnectionMeansNotRunning) {
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  const sockaddr_un addr = testutil::Address(path_);
  ASSERT_EQ(bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0);
  CliRun r = Cli({"status", "--socket", path_});
  close(fd);
  EXPECT_EQ(r.code, kExitNotRunning);
  EXPECT_NE(r.err.find("tracegapd is not running"), std::string::npos) << r.err;
}

TEST_F(CliTest, GarbageAnswerIsMalformed) {
  FakeDaemon fake(path_, "\x01\x02 not http at all\r\n\r\n");
  CliRun r = Cli({"--socket", path_, "status"});
  EXPECT_EQ(r.code, kExitMalformed);
  EXPECT_EQ(r.err, "tracegap: malformed response from tracegapd: bad version\n");
}

// Answers that are not one well-formed HTTP/1 response: malformed, never a crash or a hang.
TEST_F(CliTest, MalformedAnswers) {
  int i = 0;
  for (std::string bad :
       {"garbage\r\n\r\n", "HTTP/2 200\r\n\r\n", "HTTP/1.1 20x OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        "HTTP/1.1 200 OK\r\n", "HTTP/1.12000\r\n\r\n"}) {
    const std::string path = dir_.File("bad" + std::to_string(i++) + ".sock");
    FakeDaemon fake(path, bad);
    CliRun r = Cli({"--socket", path, "status"});
    EXPECT_EQ(r.code, kExitMalformed) << bad;
    EXPECT_TRUE(r.err.starts_with("tracegap: malformed response from tracegapd: ")) << r.err;
  }
}

TEST_F(CliTest, OversizedAnswerIsMalformed) {
  FakeDaemon fake(path_, "HTTP/1.1 200 OK\r\nContent-Length: " +
                             std::to_string(kMaxResponseBytes + 1) + "\r\n\r\n{}");
  CliRun r = Cli({"--socket", path_, "status"});
  EXPECT_EQ(r.code, kExitMalformed);
  EXPECT_EQ(r.err, "tracegap: malformed response from tracegapd: larger than " +
                       std::to_string(kMaxResponseBytes) + " bytes\n");
}

// Hostile documents are refused with the reason, before anything is decoded or printed.
TEST_F(CliTest, HostileJsonIsMalformed) {
  FakeDaemon fake(path_, Http(200, std::string(100'000, '[') + std::string(100'000, ']')));
  CliRun r = Cli({"--socket", path_, "processes", "--json"});
  EXPECT_EQ(r.code, kExitMalformed);
  EXPECT_EQ(r.err,
            "tracegap: malformed response from tracegapd: invalid JSON: nesting deeper "
            "than 64 levels\n");
  EXPECT_EQ(r.out, "");
}

TEST_F(CliTest, InvalidJsonIsMalformed) {
  FakeDaemon fake(path_, Http(200, "{\"processes\": [1,]}"));
  CliRun r = Cli({"--socket", path_, "processes"});
  EXPECT_EQ(r.code, kExitMalformed);
  EXPECT_EQ(r.err,
            "tracegap: malformed response from tracegapd: invalid JSON: parse error at line 1, "
            "column 18: syntax error while parsing value - unexpected ']'; expected '[', '{', or "
            "a literal\n");
}

TEST_F(CliTest, WrongSchemaIsMalformed) {
  FakeDaemon fake(path_, Http(200, R"({"version": 1})"));
  CliRun r = Cli({"--socket", path_, "status"});
  EXPECT_EQ(r.code, kExitMalformed);
  EXPECT_EQ(r.err,
            "tracegap: malformed response from tracegapd: status.version is a number, "
            "not a string\n");
}

TEST_F(CliTest, ClosedWithoutAnswerIsMalformed) {
  FakeDaemon fake(path_, "");
  EXPECT_EQ(Cli({"--socket", path_, "status"}).code, kExitMalformed);
}

TEST_F(CliTest, UnknownPid) {
  FakeDaemon fake(path_, Http(404, R"({"error":"no process with pid 42"})"));
  CliRun r = Cli({"--socket", path_, "process", "42"});
  EXPECT_EQ(r.code, kExitUnknownPid);
  EXPECT_EQ(r.err, "tracegap: no process with pid 42\n");
}

TEST_F(CliTest, NotFoundElsewhereIsUnexpected) {
  FakeDaemon fake(path_, Http(404, R"({"error":"no such endpoint"})"));
  CliRun r = Cli({"--socket", path_, "status"});
  EXPECT_EQ(r.code, kExitMalformed);
  EXPECT_EQ(r.err, "tracegap: tracegapd answered GET /v1/status with HTTP 404: no such endpoint\n");
}

TEST_F(CliTest, ForbiddenIsPermissionDenied) {
  FakeDaemon fake(path_, Http(403, R"({"error":"permission denied"})"));
  CliRun r = Cli({"--socket", path_, "processes"});
  EXPECT_EQ(r.code, kExitPermission);
  EXPECT_EQ(r.err, "tracegap: permission denied on " + path_ + ": run as root\n");
}

TEST_F(CliTest, SilentDaemonTimesOut) {
  FakeDaemon fake(path_, "", /*silent=*/true);
  const auto start = std::chrono::steady_clock::now();
  FetchResult f = Fetch(path_, "/v1/status", std::chrono::milliseconds(200));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  ASSERT_FALSE(f.response.has_value());
  EXPECT_EQ(f.failure.code, kExitNotRunning);
  EXPECT_EQ(f.failure.message, "tracegapd at " + path_ + " did not answer within 200 ms");
}

TEST_F(CliTest, ConnectEaccesIsPermissionDenied) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to another uid";
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  const sockaddr_un addr = testutil::Address(path_);
  ASSERT_EQ(bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  ASSERT_EQ(chmod(dir_.path().c_str(), 0711), 0);
  ASSERT_EQ(chmod(path_.c_str(), 0600), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // no other threads run in this test, so the child may allocate
    if (syscall(SYS_setresgid, 65534, 65534, 65534) != 0 ||
        syscall(SYS_setresuid, 65534, 65534, 65534) != 0) {
      _exit(10);
    }
    FetchResult f = Fetch(path_, "/v1/status", std::chrono::milliseconds(500));
    const bool ok =
        !f.response && f.failure.message == "permission denied on " + path_ + ": run as root";
    _exit(ok ? f.failure.code : 11);
  }
  int wstatus = 0;
  ASSERT_EQ(waitpid(child, &wstatus, 0), child);
  close(fd);
  ASSERT_TRUE(WIFEXITED(wstatus));
  EXPECT_EQ(WEXITSTATUS(wstatus), kExitPermission);
}

TEST_F(CliTest, UsageErrors) {
  EXPECT_EQ(Cli({}).code, kExitUsage);
  EXPECT_EQ(Cli({"frobnicate"}).code, kExitUsage);
  EXPECT_EQ(Cli({"processes", "--sort", "pid"}).code, kExitUsage);
  EXPECT_EQ(Cli({"processes", "extra"}).code, kExitUsage);
  EXPECT_EQ(Cli({"process"}).code, kExitUsage);
  EXPECT_EQ(Cli({"process", "0"}).code, kExitUsage);
  EXPECT_EQ(Cli({"process", "12x"}).code, kExitUsage);
  EXPECT_EQ(Cli({"process", "99999999999"}).code, kExitUsage);
  EXPECT_EQ(Cli({"--socket"}).code, kExitUsage);
  CliRun r = Cli({"--bogus", "status"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err, "tracegap: unrecognised option '--bogus' (see tracegap --help)\n");
}

TEST_F(CliTest, HelpAndVersion) {
  CliRun help = Cli({"--help"});
  EXPECT_EQ(help.code, kExitOk);
  for (std::string_view want :
       {"processes", "process PID", "status", "--socket", "--json", "--sort", "--all",
        "TRACEGAP_SOCKET", "Exit codes:", "5  malformed"}) {
    EXPECT_NE(help.out.find(want), std::string::npos) << want;
  }
  EXPECT_EQ(Cli({"processes", "--help"}).code, kExitOk);
  CliRun version = Cli({"--version"});
  EXPECT_EQ(version.code, kExitOk);
  EXPECT_TRUE(version.out.starts_with("tracegap ")) << version.out;
}

TEST_F(CliTest, SocketPrecedenceFlagThenEnvThenDefault) {
  const std::string env = dir_.File("env.sock");
  CliRun r = Cli({"--socket", path_, "status"}, env.c_str());
  EXPECT_NE(r.err.find("no socket at " + path_ + ")"), std::string::npos) << r.err;
  r = Cli({"status"}, env.c_str());
  EXPECT_NE(r.err.find("no socket at " + env + ")"), std::string::npos) << r.err;
  r = Cli({"status"}, "");
  EXPECT_NE(r.err.find(std::string(api::kDefaultSocketPath)), std::string::npos) << r.err;
}

// ---------------------------------------------------------------------------------------------
// Against the real server

class CliServerTest : public CliTest {
 protected:
  void SetUp() override {
    ProcessSnapshot id;
    id.comm = "front";
    id.unit = "front.service";
    id.workload = "front.service";
    table_.CountInbound({100, 1}, id, ContextVerdict::kValid, 1000);
    GapExample e;
    e.outcome = Outcome::kDropped;
    e.method = "GET";
    e.authority = "back:80";
    e.path = "/api";
    e.peer = "10.1.1.1:80";
    const GapExample edge_gap = e;  // CountOutbound moves from e
    table_.CountOutbound({100, 1}, id, Outcome::kDropped, 1001, &e);
    table_.CountOutbound({100, 1}, id, Outcome::kPropagated, 1002, nullptr);
    id.comm = "quiet";
    table_.CountInbound({200, 1}, id, ContextVerdict::kMissing, 1003);
    edges_.Count("front.service", "back", Protocol::kHttp1, Outcome::kDropped, 1001, &edge_gap);
    edges_.Count("front.service", "back", Protocol::kHttp1, Outcome::kPropagated, 1002, nullptr);
    edges_.Count("front.service", "metrics:9090", Protocol::kHttp1, Outcome::kOrigin, 1003,
                 nullptr);
    std::string error;
    server_ = api::ApiServer::Start(
        path_, table_,
        [] {
          DaemonStatus s;
          s.version = "test";
          s.kernel_drops = {{"ringbuf_full", 0}};
          return s;
        },
        &error, &edges_);
    ASSERT_NE(server_, nullptr) << error;
  }

  ProcessTable table_{10, std::chrono::seconds(60)};
  EdgeTable edges_{10};
  std::unique_ptr<api::ApiServer> server_;
};

TEST_F(CliServerTest, Processes) {
  CliRun r = Cli({"--socket", path_, "processes"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "PID  COMM   WORKLOAD       IN  IN-CTX%  OUT  PROPAGATED  PASSTHRU  DROPPED  "
            "RESTARTED  MANGLED  GAP%\n"
            "100  front  front.service   1    100.0    2           1         0        1  "
            "        0        0  50.0\n");
  r = Cli({"processes", "--all", "--sort", "outbound", "--socket", path_});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_NE(r.out.find("\n200  quiet"), std::string::npos) << r.out;
}

TEST_F(CliServerTest, Edges) {
  CliRun r = Cli({"--socket", path_, "edges"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "CLIENT         SERVER  PROTO  OUT  PROPAGATED  PASSTHRU  DROPPED  RESTARTED  MANGLED  "
            "GAP%\n"
            "front.service  back    http1    2           1         0        1          0        0  "
            "50.0\n"
            "  last gap: 1970-01-01T00:00:00.000Z dropped GET back:80/api -> 10.1.1.1:80\n");
  r = Cli({"edges", "--all", "--socket", path_});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_NE(r.out.find("\nfront.service  metrics:9090  http1"), std::string::npos) << r.out;
  r = Cli({"--socket", path_, "edges", "--json"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  std::string error;
  std::optional<Document> v = ParseDocument(r.out, &error);
  ASSERT_TRUE(v.has_value()) << error;
  EXPECT_EQ((*v)["edges"].size(), 2u);
  EXPECT_EQ((*v)["edges"][0]["server"], "back");
  EXPECT_EQ((*v)["max_edges"], 10);
}

TEST_F(CliServerTest, ProcessesJson) {
  CliRun r = Cli({"--socket", path_, "processes", "--json"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  std::string error;
  std::optional<Document> v = ParseDocument(r.out, &error);
  ASSERT_TRUE(v.has_value()) << error;
  EXPECT_EQ((*v)["processes"].size(), 2u);
  EXPECT_TRUE(r.out.starts_with("{\n  \"processes\": [\n    {\n      \"pid\": ")) << r.out;
}

TEST_F(CliServerTest, ProcessAndStatus) {
  CliRun r = Cli({"--socket", path_, "process", "100"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_NE(r.out.find("    GET back:80/api -> 10.1.1.1:80\n"), std::string::npos) << r.out;
  r = Cli({"--socket", path_, "process", "4242"});
  EXPECT_EQ(r.code, kExitUnknownPid);
  EXPECT_EQ(r.err, "tracegap: no process with pid 4242\n");
  r = Cli({"--socket", path_, "status"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_TRUE(r.out.starts_with("tracegapd test\n")) << r.out;
  r = Cli({"--socket", path_, "status", "--json"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_NE(r.out.find("\"ringbuf_full\": 0"), std::string::npos) << r.out;
}

// ---------------------------------------------------------------------------------------------
// The built binary (path from CMake; $TRACEGAP overrides).

std::string BinaryPath() {
  const char* env = std::getenv("TRACEGAP");
  return env != nullptr && *env != '\0' ? env : TRACEGAP_CLI_PATH;
}

int RunBinary(const std::string& args) {
  const std::string cmd = "'" + BinaryPath() + "' " + args + " >/dev/null 2>&1";
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST_F(CliServerTest, BinaryExitCodes) {
  EXPECT_EQ(RunBinary("--socket '" + path_ + "' processes"), kExitOk);
  EXPECT_EQ(RunBinary("--socket '" + path_ + "' process 4242"), kExitUnknownPid);
  EXPECT_EQ(RunBinary("--socket '" + dir_.File("none.sock") + "' status"), kExitNotRunning);
  EXPECT_EQ(RunBinary("--frob"), kExitUsage);
  const std::string env = "TRACEGAP_SOCKET='" + path_ + "' ";
  EXPECT_EQ(std::system((env + "'" + BinaryPath() + "' status >/dev/null").c_str()), 0);
}

}  // namespace
}  // namespace tracegap::cli
