#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "cli/document.h"
#include "cli/model.h"
#include "export/api/render.h"

namespace tracegap::api {
namespace {

ProcessSnapshot Snapshot() {
  ProcessSnapshot p;
  p.pid = 4242;
  p.start_time = 987654;
  p.comm = "api-gw";
  p.unit = "api-gw.service";
  p.exe = "/usr/bin/api-gw";
  p.workload = "shop/api-gw-5d8f7-x2k4q";
  p.container = "api-gw";
  p.namespace_ = "shop";
  p.inbound = {8, 1, 1, 0};
  p.outbound[static_cast<size_t>(Outcome::kOrigin)] = 2;
  p.outbound[static_cast<size_t>(Outcome::kPropagated)] = 6;
  p.outbound[static_cast<size_t>(Outcome::kDropped)] = 2;
  p.outbound[static_cast<size_t>(Outcome::kRestarted)] = 1;
  p.outbound[static_cast<size_t>(Outcome::kMangled)] = 1;
  p.outbound[static_cast<size_t>(Outcome::kUnknown)] = 3;
  p.first_seen_unix_ms = 1795550100123;
  p.last_seen_unix_ms = 1795550160456;
  return p;
}

GapExample Example() {
  GapExample e;
  e.time_unix_ms = 1795550130789;
  e.outcome = Outcome::kDropped;
  e.protocol = Protocol::kHttp1;
  e.method = "GET";
  e.authority = "users.internal:8080";
  e.path = "/v1/users";
  e.peer = "10.0.0.7:8080";
  e.inbound_trace_ids = {"4bf92f3577b34da6a3ce929d0e0e4736"};
  return e;
}

constexpr std::string_view kProcessJson =
    R"({"pid":4242,"start_time":987654,"comm":"api-gw","unit":"api-gw.service",)"
    R"("exe":"/usr/bin/api-gw","workload":"shop/api-gw-5d8f7-x2k4q","container":"api-gw",)"
    R"("namespace":"shop","inbound":{"valid":8,"missing":1,"malformed":1,"unknown":0},)"
    R"("outbound":{"origin":2,"untraced_upstream":0,"propagated":6,"passthrough":0,)"
    R"("dropped":2,"restarted":1,"mangled":1,"unknown":3},"gaps":4,"gap_ratio":0.4,)"
    R"("first_seen":"2026-11-24T19:55:00.123Z","last_seen":"2026-11-24T19:56:00.456Z",)"
    R"("exited":false)";

TEST(ApiRenderTest, ProcessList) {
  EXPECT_EQ(RenderProcessList({Snapshot()}),
            R"({"processes":[)" + std::string(kProcessJson) + "}]}");
  EXPECT_EQ(RenderProcessList({}), R"({"processes":[]})");
}

TEST(ApiRenderTest, ProcessDetailWithGapExamples) {
  ProcessSnapshot p = Snapshot();
  p.exited = true;
  p.gap_examples.push_back(Example());
  GapExample mangled = Example();
  mangled.outcome = Outcome::kMangled;
  mangled.protocol = Protocol::kGrpc;
  mangled.method = "POST";
  mangled.inbound_trace_ids.push_back("0af7651916cd43dd8448eb211c80319c");
  mangled.outbound_traceparent = "00-XYZ-bad";
  mangled.tls = true;
  p.gap_examples.push_back(mangled);
  std::string expected(kProcessJson);
  expected.replace(expected.find(R"("exited":false)"), 14, R"("exited":true)");
  expected += R"(,"gap_examples":[)"
              R"({"time":"2026-11-24T19:55:30.789Z","outcome":"dropped","protocol":"http1",)"
              R"("method":"GET","authority":"users.internal:8080","path":"/v1/users",)"
              R"("peer":"10.0.0.7:8080","inbound_trace_ids":["4bf92f3577b34da6a3ce929d0e0e4736"],)"
              R"("outbound_traceparent":"","tls":false},)"
              R"({"time":"2026-11-24T19:55:30.789Z","outcome":"mangled","protocol":"grpc",)"
              R"("method":"POST","authority":"users.internal:8080","path":"/v1/users",)"
              R"("peer":"10.0.0.7:8080","inbound_trace_ids":["4bf92f3577b34da6a3ce929d0e0e4736",)"
              R"("0af7651916cd43dd8448eb211c80319c"],"outbound_traceparent":"00-XYZ-bad",)"
              R"("tls":true}]})";
  EXPECT_EQ(RenderProcessDetail(p), expected);
}

TEST(ApiRenderTest, NoContextMeansZeroRatio) {
  ProcessSnapshot p;
  p.outbound[static_cast<size_t>(Outcome::kOrigin)] = 5;
  const std::string json = RenderProcessList({p});
  EXPECT_NE(json.find(R"("gaps":0,"gap_ratio":0.0)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("first_seen":"1970-01-01T00:00:00.000Z")"), std::string::npos);
}

TEST(ApiRenderTest, Status) {
  DaemonStatus s;
  s.version = "0.1.0";
  s.uptime_seconds = 3723.5;
  s.attach = "tracepoints";
  s.capture = "probe-reads+http1-only";
  s.load_failures = {"capture variant probe-reads+http2 failed to load: E2BIG"};
  s.kernel_drops = {{"ringbuf_full", 3}, {"read_user_failed", 0}};
  s.connections_tracked = 12;
  s.processes_tracked = 5;
  s.tls_mode = "auto";
  s.tls_libraries = {{"/usr/lib/x86_64-linux-gnu/libssl.so.3", "openssl-3", true, "", 14}};
  s.tls_unseen = {{42, "server", "/srv/server", "go", "a Go binary", 3}};
  EXPECT_EQ(RenderStatus(s),
            R"({"version":"0.1.0","uptime_seconds":3723.5,"attach":"tracepoints",)"
            R"("capture":"probe-reads+http1-only","http2":false,"degraded":true,)"
            R"("load_failures":["capture variant probe-reads+http2 failed to load: E2BIG"],)"
            R"("kernel_drops":{"ringbuf_full":3,"read_user_failed":0},)"
            R"("connections_tracked":12,"processes_tracked":5,)"
            R"("tls":{"mode":"auto","unavailable":"",)"
            R"("libraries":[{"path":"/usr/lib/x86_64-linux-gnu/libssl.so.3","kind":"openssl-3",)"
            R"("attached":true,"error":"","probes":14}],)"
            R"("unseen":[{"pid":42,"comm":"server","exe":"/srv/server","reason":"go",)"
            R"("detail":"a Go binary","connections":3}]}})");
}

TEST(ApiRenderTest, EdgesWorstFirstWithTheNewestGap) {
  EdgeTable table(10);
  const GapExample gap = Example();
  table.Count("shop/api-gw", "users.internal:8080", Protocol::kHttp1, Outcome::kDropped,
              1795550130789, &gap);
  table.Count("shop/api-gw", "users.internal:8080", Protocol::kHttp1, Outcome::kPropagated,
              1795550160456, nullptr);
  table.Count("shop/api-gw", "cart", Protocol::kGrpc, Outcome::kOrigin, 1795550100123, nullptr);
  std::vector<EdgeSnapshot> edges = table.List();
  SortWorstFirst(edges);
  EXPECT_EQ(RenderEdges(edges, table.totals()),
            R"({"max_edges":10,"edges_tracked":2,"folded_requests":0,"edges":[)"
            R"({"client":"shop/api-gw","server":"users.internal:8080","protocol":"http1",)"
            R"("outbound":{"origin":0,"untraced_upstream":0,"propagated":1,"passthrough":0,)"
            R"("dropped":1,"restarted":0,"mangled":0,"unknown":0},"requests":2,"gaps":1,)"
            R"("gap_ratio":0.5,"first_seen":"2026-11-24T19:55:30.789Z",)"
            R"("last_seen":"2026-11-24T19:56:00.456Z","last_gap":)"
            R"({"time":"2026-11-24T19:55:30.789Z","outcome":"dropped","protocol":"http1",)"
            R"("method":"GET","authority":"users.internal:8080","path":"/v1/users",)"
            R"("peer":"10.0.0.7:8080","inbound_trace_ids":["4bf92f3577b34da6a3ce929d0e0e4736"],)"
            R"("outbound_traceparent":"","tls":false}},)"
            R"({"client":"shop/api-gw","server":"cart","protocol":"grpc",)"
            R"("outbound":{"origin":1,"untraced_upstream":0,"propagated":0,"passthrough":0,)"
            R"("dropped":0,"restarted":0,"mangled":0,"unknown":0},"requests":1,"gaps":0,)"
            R"("gap_ratio":0.0,"first_seen":"2026-11-24T19:55:00.123Z",)"
            R"("last_seen":"2026-11-24T19:55:00.123Z","last_gap":null}]})");
  // The CLI reads back what the daemon writes.
  std::string error;
  std::optional<cli::Document> doc = cli::ParseDocument(RenderEdges(edges, table.totals()), &error);
  ASSERT_TRUE(doc.has_value()) << error;
  cli::EdgeList list;
  ASSERT_TRUE(cli::DecodeEdges(*doc, &list, &error)) << error;
  ASSERT_EQ(list.edges.size(), 2u);
  EXPECT_EQ(list.edges[0].count(Outcome::kDropped), 1u);
  ASSERT_TRUE(list.edges[0].last_gap.has_value());
  EXPECT_EQ(list.edges[0].last_gap->path, "/v1/users");
  EXPECT_FALSE(list.edges[1].last_gap.has_value());
  EXPECT_EQ(list.max_edges, 10u);
}

TEST(ApiRenderTest, ErrorIsEscaped) {
  EXPECT_EQ(RenderError("bad \"pid\"\n"), R"({"error":"bad \"pid\"\n"})");
}

// Names come from other users' processes: whatever bytes they hold, the document stays valid.
TEST(ApiRenderTest, HostileStringsStayValidJson) {
  ProcessSnapshot p = Snapshot();
  p.comm = std::string("\x1b[2J\xff\"\\\0x", 9);
  p.exe = "/tmp/\xc0\xaf";
  std::string error;
  std::optional<cli::Document> v = cli::ParseDocument(RenderProcessList({p}), &error);
  ASSERT_TRUE(v.has_value()) << error;
  const cli::Document& process = (*v)["processes"][0];
  EXPECT_EQ(process["comm"], std::string("\x1b[2J\xef\xbf\xbd\"\\\0x", 11));
  EXPECT_EQ(process["exe"], "/tmp/\xef\xbf\xbd\xef\xbf\xbd");  // one U+FFFD per invalid byte
}

// Ratios are rounded to 4 decimals and durations to milliseconds, whatever their binary
// expansion; what JSON cannot hold (NaN) is null.
TEST(ApiRenderTest, RoundedNumbers) {
  ProcessSnapshot p;
  p.outbound[static_cast<size_t>(Outcome::kPropagated)] = 2;
  p.outbound[static_cast<size_t>(Outcome::kDropped)] = 1;
  const std::string json = RenderProcessList({p});
  EXPECT_NE(json.find(R"("gap_ratio":0.3333,)"), std::string::npos) << json;
  DaemonStatus s;
  s.uptime_seconds = 0.1 + 0.2;
  EXPECT_NE(RenderStatus(s).find(R"("uptime_seconds":0.3,)"), std::string::npos);
  s.uptime_seconds = std::nan("");
  EXPECT_NE(RenderStatus(s).find(R"("uptime_seconds":null,)"), std::string::npos);
}

TEST(ApiRenderTest, Timestamps) {
  EXPECT_EQ(FormatTimestamp(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatTimestamp(1795550100123), "2026-11-24T19:55:00.123Z");
  EXPECT_EQ(FormatTimestamp(951782400000), "2000-02-29T00:00:00.000Z");
  EXPECT_EQ(FormatTimestamp(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatTimestamp(std::numeric_limits<int64_t>::max()), "9999-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatTimestamp(std::numeric_limits<int64_t>::min()), "0000-01-01T00:00:00.000Z");
}

// The contract between the daemon and the CLI: what one renders, the other decodes.
TEST(ApiRenderTest, CliDecodesWhatTheDaemonRenders) {
  ProcessSnapshot p = Snapshot();
  p.outbound[static_cast<size_t>(Outcome::kUntracedUpstream)] =
      std::numeric_limits<uint64_t>::max();
  p.gap_examples.push_back(Example());
  std::string error;
  std::optional<cli::Document> list = cli::ParseDocument(RenderProcessList({p}), &error);
  ASSERT_TRUE(list.has_value()) << error;
  std::vector<cli::ProcessRow> rows;
  ASSERT_TRUE(cli::DecodeProcessList(*list, &rows, &error)) << error;
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].pid, p.pid);
  EXPECT_EQ(rows[0].unit, p.unit);
  EXPECT_EQ(rows[0].inbound_total(), p.inbound_total());
  EXPECT_EQ(rows[0].outbound, p.outbound);
  EXPECT_EQ(rows[0].gaps, p.gaps());
  EXPECT_EQ(rows[0].with_context(), 10u);
  EXPECT_DOUBLE_EQ(rows[0].gap_ratio, 0.4);

  std::optional<cli::Document> detail = cli::ParseDocument(RenderProcessDetail(p), &error);
  ASSERT_TRUE(detail.has_value()) << error;
  cli::ProcessDetail d;
  ASSERT_TRUE(cli::DecodeProcessDetail(*detail, &d, &error)) << error;
  ASSERT_EQ(d.examples.size(), 1u);
  EXPECT_EQ(d.examples[0].outcome, "dropped");
  EXPECT_EQ(d.examples[0].inbound_trace_ids, Example().inbound_trace_ids);

  DaemonStatus s;
  s.version = "1";
  s.kernel_drops = {{"iov_limit", 7}};
  s.capture = "direct-reads+http2";
  s.http2 = true;
  s.load_failures = {"one\n    verifier: two"};
  std::optional<cli::Document> status = cli::ParseDocument(RenderStatus(s), &error);
  ASSERT_TRUE(status.has_value()) << error;
  cli::StatusInfo info;
  ASSERT_TRUE(cli::DecodeStatus(*status, &info, &error)) << error;
  EXPECT_EQ(info.kernel_drops, s.kernel_drops);
  EXPECT_EQ(info.capture, s.capture);
  EXPECT_TRUE(info.http2);
  EXPECT_TRUE(info.degraded);
  EXPECT_EQ(info.load_failures, s.load_failures);
}

}  // namespace
}  // namespace tracegap::api
