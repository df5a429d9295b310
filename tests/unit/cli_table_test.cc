#include <gtest/gtest.h>

#include <cmath>

#include "cli/format.h"
#include "cli/model.h"
#include "cli/table.h"

namespace tracegap::cli {
namespace {

ProcessRow Row(uint32_t pid, std::string comm, std::string workload) {
  ProcessRow r;
  r.pid = pid;
  r.comm = std::move(comm);
  r.workload = std::move(workload);
  return r;
}

void SetOutcome(ProcessRow& r, Outcome o, uint64_t n) {
  r.outbound[static_cast<size_t>(o)] = n;
  r.gaps = r.count(Outcome::kDropped) + r.count(Outcome::kRestarted) + r.count(Outcome::kMangled);
  r.gap_ratio = r.with_context() == 0 ? 0 : static_cast<double>(r.gaps) / r.with_context();
}

// nginx: 3 gaps of 8 with context; worker: only origin requests; idle: no outbound at all.
std::vector<ProcessRow> Rows() {
  ProcessRow nginx = Row(7, "nginx", "nginx.service");
  nginx.inbound = {9, 1, 0, 0};
  SetOutcome(nginx, Outcome::kOrigin, 2);
  SetOutcome(nginx, Outcome::kPropagated, 5);
  SetOutcome(nginx, Outcome::kDropped, 3);
  ProcessRow worker = Row(12345, "worker", "");
  SetOutcome(worker, Outcome::kOrigin, 4);
  ProcessRow idle = Row(99, "idle", "idle.service");
  idle.inbound = {1, 0, 0, 0};
  return {worker, idle, nginx};
}

std::vector<uint32_t> Pids(const std::vector<ProcessRow>& rows) {
  std::vector<uint32_t> pids;
  for (const ProcessRow& r : rows) pids.push_back(r.pid);
  return pids;
}

TEST(CliTableTest, AlignedColumnsWorstFirst) {
  EXPECT_EQ(FormatProcessTable(SelectRows(Rows(), SortKey::kGaps, false)),
            "  PID  COMM    WORKLOAD       IN  IN-CTX%  OUT  PROPAGATED  PASSTHRU  DROPPED  "
            "RESTARTED  MANGLED  GAP%\n"
            "    7  nginx   nginx.service  10     90.0   10           5         0        3  "
            "        0        0  37.5\n"
            "12345  worker  -               0        -    4           0         0        0  "
            "        0        0     -\n");
}

TEST(CliTableTest, HeaderOnlyForNoRows) {
  EXPECT_EQ(FormatProcessTable({}),
            "PID  COMM  WORKLOAD  IN  IN-CTX%  OUT  PROPAGATED  PASSTHRU  DROPPED  RESTARTED  "
            "MANGLED  GAP%\n");
}

TEST(CliTableTest, AllIncludesProcessesWithoutOutboundRequests) {
  EXPECT_EQ(Pids(SelectRows(Rows(), SortKey::kGaps, false)), (std::vector<uint32_t>{7, 12345}));
  EXPECT_EQ(Pids(SelectRows(Rows(), SortKey::kGaps, true)), (std::vector<uint32_t>{7, 12345, 99}));
}

TEST(CliTableTest, SortKeys) {
  // a: 1 gap of 1 (100%), 1 outbound; b: 2 gaps of 10 (20%), 10 outbound; c: 30 origin only.
  ProcessRow a = Row(1, "a", "");
  SetOutcome(a, Outcome::kMangled, 1);
  ProcessRow b = Row(2, "b", "");
  SetOutcome(b, Outcome::kPropagated, 8);
  SetOutcome(b, Outcome::kRestarted, 2);
  ProcessRow c = Row(3, "c", "");
  SetOutcome(c, Outcome::kOrigin, 30);
  const std::vector<ProcessRow> rows = {a, b, c};
  EXPECT_EQ(Pids(SelectRows(rows, SortKey::kGaps, false)), (std::vector<uint32_t>{2, 1, 3}));
  EXPECT_EQ(Pids(SelectRows(rows, SortKey::kGapRatio, false)), (std::vector<uint32_t>{1, 2, 3}));
  EXPECT_EQ(Pids(SelectRows(rows, SortKey::kOutbound, false)), (std::vector<uint32_t>{3, 2, 1}));
}

TEST(CliTableTest, TiesFallBackToTheOtherKeysThenPid) {
  ProcessRow a = Row(30, "a", "");  // 1 gap of 2: 50%
  SetOutcome(a, Outcome::kDropped, 1);
  SetOutcome(a, Outcome::kPropagated, 1);
  ProcessRow b = Row(20, "b", "");  // 1 gap of 1: 100%
  SetOutcome(b, Outcome::kDropped, 1);
  ProcessRow c = Row(10, "c", "");  // same as b
  SetOutcome(c, Outcome::kDropped, 1);
  ProcessRow d = Row(5, "d", "");  // same as b, more outbound
  SetOutcome(d, Outcome::kDropped, 1);
  SetOutcome(d, Outcome::kOrigin, 9);
  EXPECT_EQ(Pids(SelectRows({a, b, c, d}, SortKey::kGaps, false)),
            (std::vector<uint32_t>{5, 10, 20, 30}));
}

TEST(CliTableTest, RatioIsComparedExactly) {
  ProcessRow a = Row(1, "a", "");  // 1/3
  SetOutcome(a, Outcome::kDropped, 1);
  SetOutcome(a, Outcome::kPropagated, 2);
  ProcessRow b = Row(2, "b", "");  // 3333/10000 rounds to the same 0.3333
  SetOutcome(b, Outcome::kDropped, 3333);
  SetOutcome(b, Outcome::kPropagated, 6667);
  a.gap_ratio = b.gap_ratio = 0.3333;
  EXPECT_EQ(Pids(SelectRows({b, a}, SortKey::kGapRatio, false)), (std::vector<uint32_t>{1, 2}));
}

EdgeRow Edge(std::string client, std::string server, uint64_t propagated, uint64_t dropped) {
  EdgeRow e;
  e.client = std::move(client);
  e.server = std::move(server);
  e.protocol = "http1";
  e.outbound[static_cast<size_t>(Outcome::kPropagated)] = propagated;
  e.outbound[static_cast<size_t>(Outcome::kDropped)] = dropped;
  e.requests = propagated + dropped;
  e.gaps = dropped;
  e.gap_ratio = e.requests == 0 ? 0 : static_cast<double>(dropped) / e.requests;
  return e;
}

TEST(CliTableTest, EdgesKeepTheDaemonsOrderWithTheNewestGapUnderEach) {
  EdgeRow bad = Edge("shop/checkout", "payments:8080", 1, 3);
  ExampleRow g;
  g.time = "2026-11-24T19:55:30.789Z";
  g.outcome = "dropped";
  g.method = "POST";
  g.authority = "payments:8080";
  g.path = "/charge";
  g.peer = "10.0.0.7:8080";
  g.inbound_trace_ids = {"4bf92f3577b34da6a3ce929d0e0e4736"};
  bad.last_gap = g;
  EdgeRow good = Edge("shop/cart", "\x1b[2Jredis", 5, 0);
  EdgeRow origin_only = Edge("cron", "api", 0, 0);
  origin_only.outbound[static_cast<size_t>(Outcome::kOrigin)] = 9;
  origin_only.requests = 9;
  const std::vector<EdgeRow> shown = SelectEdges({bad, good, origin_only}, false);
  ASSERT_EQ(shown.size(), 2u);
  EXPECT_EQ(FormatEdgeTable(shown),
            "CLIENT         SERVER         PROTO  OUT  PROPAGATED  PASSTHRU  DROPPED  RESTARTED  "
            "MANGLED  GAP%\n"
            "shop/checkout  payments:8080  http1    4           1         0        3          0  "
            "      0  75.0\n"
            "  last gap: 2026-11-24T19:55:30.789Z dropped POST payments:8080/charge -> "
            "10.0.0.7:8080 (inbound trace 4bf92f3577b34da6a3ce929d0e0e4736)\n"
            "shop/cart      ?[2Jredis      http1    5           5         0        0          0  "
            "      0   0.0\n");
  EXPECT_EQ(SelectEdges({bad, good, origin_only}, true).size(), 3u);
}

TEST(CliTableTest, HostileNamesCannotDriveTheTerminal) {
  ProcessRow r = Row(1, "\x1b[2Jevil", "");  // ESC
  r.workload = "u\xc2\x9bx";                 // CSI (a C1 control) encoded as UTF-8
  SetOutcome(r, Outcome::kOrigin, 1);
  const std::string table = FormatProcessTable({r});
  EXPECT_EQ(table.find('\x1b'), std::string::npos);
  EXPECT_NE(table.find("?[2Jevil"), std::string::npos);
  EXPECT_NE(table.find("u?x"), std::string::npos);
}

TEST(CliTableTest, Utf8NamesAlignByCodePoint) {
  ProcessRow r = Row(1, "café", "");
  SetOutcome(r, Outcome::kOrigin, 1);
  ProcessRow s = Row(2, "tea", "");
  SetOutcome(s, Outcome::kOrigin, 1);
  const std::string table = FormatProcessTable({r, s});
  EXPECT_NE(table.find("1  café  -"), std::string::npos) << table;
  EXPECT_NE(table.find("2  tea   -"), std::string::npos) << table;
}

TEST(CliTableTest, Percentages) {
  EXPECT_EQ(Percent(1, 8), "12.5");
  EXPECT_EQ(Percent(0, 8), "0.0");
  EXPECT_EQ(Percent(2, 3), "66.7");
  EXPECT_EQ(Percent(5, 5), "100.0");
  EXPECT_EQ(Percent(1, 0), "-");
  EXPECT_EQ(PercentOfRatio(0.375), "37.5");
}

TEST(CliTableTest, ParseSortKey) {
  EXPECT_EQ(ParseSortKey("gaps"), SortKey::kGaps);
  EXPECT_EQ(ParseSortKey("gap-ratio"), SortKey::kGapRatio);
  EXPECT_EQ(ParseSortKey("outbound"), SortKey::kOutbound);
  EXPECT_EQ(ParseSortKey("Gaps"), std::nullopt);
  EXPECT_EQ(ParseSortKey(""), std::nullopt);
}

// ---------------------------------------------------------------------------------------------
// Detail and status

TEST(CliFormatTest, ProcessDetail) {
  ProcessDetail d;
  d.process = Rows()[2];
  d.process.exe = "/usr/sbin/nginx";
  d.process.unit = "nginx.service";
  d.process.first_seen = "2026-11-24T19:55:00.123Z";
  ExampleRow e;
  e.time = "2026-11-24T19:55:30.789Z";
  e.outcome = "dropped";
  e.protocol = "http1";
  e.method = "GET";
  e.authority = "users:8080";
  e.path = "/v1/users";
  e.peer = "10.0.0.7:8080";
  e.inbound_trace_ids = {"aaaa", "bbbb"};
  d.examples.push_back(e);
  const std::string text = FormatProcessDetail(d);
  EXPECT_TRUE(
      text.starts_with("nginx (pid 7)\n  workload    nginx.service\n  container   -\n"
                       "  namespace   -\n  unit        nginx.service\n"))
      << text;
  EXPECT_NE(text.find("\ninbound requests: 10\n  valid      9  (90.0%)\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("  dropped            3  gap\n"), std::string::npos) << text;
  EXPECT_NE(text.find("gaps: 3 of 8 requests with context to pass on (37.5%)\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("gap examples (1, newest last):\n"
                      "  2026-11-24T19:55:30.789Z  dropped  http1\n"
                      "    GET users:8080/v1/users -> 10.0.0.7:8080\n"
                      "    inbound trace ids: aaaa, bbbb\n"
                      "    outbound traceparent: (none)\n"),
            std::string::npos)
      << text;
}

TEST(CliFormatTest, ProcessWithoutExamples) {
  ProcessDetail d;
  d.process = Rows()[0];
  d.process.exited = true;
  const std::string text = FormatProcessDetail(d);
  EXPECT_TRUE(text.starts_with("worker (pid 12345), exited\n")) << text;
  EXPECT_NE(text.find("(-%)"), std::string::npos) << text;
  EXPECT_NE(text.find("gaps: 0 of 0 requests with context to pass on (-)\n"), std::string::npos);
  EXPECT_TRUE(text.ends_with("gap examples: none\n")) << text;
}

TEST(CliFormatTest, Status) {
  StatusInfo s;
  s.version = "0.1.0";
  s.uptime_seconds = 3723.9;
  s.attach = "tracepoints";
  s.capture = "probe-reads+http1-only";
  s.degraded = true;
  s.load_failures = {
      "capture variant probe-reads+http2 failed to load: E2BIG\n    verifier: too \x1b[1mlarge"};
  s.kernel_drops = {{"ringbuf_full", 3}, {"iov_limit", 1}};
  s.connections_tracked = 12;
  s.processes_tracked = 4;
  EXPECT_EQ(
      FormatStatus(s),
      "tracegapd 0.1.0\n"
      "  uptime               1h 02m 03s\n"
      "  attach               tracepoints\n"
      "  capture              probe-reads+http1-only (degraded: better variants failed to load)\n"
      "  connections tracked  12\n"
      "  processes tracked    4\n"
      "load failures (the kernel refused these variants; the verifier's words follow):\n"
      "  capture variant probe-reads+http2 failed to load: E2BIG\n"
      "      verifier: too ?[1mlarge\n"
      "kernel drops: 4\n"
      "  ringbuf_full  3\n"
      "  iov_limit     1\n");
}

TEST(CliFormatTest, Durations) {
  EXPECT_EQ(FormatDuration(0), "0s");
  EXPECT_EQ(FormatDuration(59.9), "59s");
  EXPECT_EQ(FormatDuration(61), "1m 01s");
  EXPECT_EQ(FormatDuration(90061), "1d 01h 01m 01s");
  EXPECT_EQ(FormatDuration(-5), "0s");
  EXPECT_EQ(FormatDuration(std::nan("")), "0s");
}

// ---------------------------------------------------------------------------------------------
// Decoding

TEST(CliDecodeTest, NamesTheOffendingField) {
  std::string error;
  std::vector<ProcessRow> rows;
  auto decode = [&](std::string_view text) {
    std::optional<Document> v = ParseDocument(text, &error);
    EXPECT_TRUE(v.has_value()) << error;
    return v && DecodeProcessList(*v, &rows, &error);
  };
  EXPECT_FALSE(decode("[]"));
  EXPECT_EQ(error, "response is an array, not an object");
  EXPECT_FALSE(decode(R"({"processes":{}})"));
  EXPECT_EQ(error, "response.processes is an object, not an array");
  EXPECT_FALSE(decode(R"({"processes":[{"pid":-1}]})"));
  EXPECT_EQ(error, "processes[0].pid is not a non-negative integer");
  EXPECT_FALSE(decode(R"({"processes":[{"pid":4294967296}]})"));
  EXPECT_EQ(error, "processes[0].pid is too large");
  EXPECT_FALSE(decode(R"({"processes":[{"pid":1,"start_time":1,"comm":"x"}]})"));
  EXPECT_EQ(error, "processes[0].unit is missing");
  EXPECT_TRUE(decode(R"({"processes":[]})"));
}

}  // namespace
}  // namespace tracegap::cli
