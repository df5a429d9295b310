#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocols/http2/connection.h"
#include "protocols/trace_context/trace_context.h"
#include "support/http2_frames.h"
#include "tracegap.h"

namespace tracegap::http2 {
namespace {

using namespace testutil;  // NOLINT: builders and Recorder
using Strings = std::vector<std::string>;

constexpr Direction kOut = Direction::kEgress;
constexpr Direction kIn = Direction::kIngress;

// A client (this process, egress) and a server, each with its own HPACK encoder.
struct Peers {
  Encoder client;
  Encoder server;
  Connection conn;
  Recorder rec;

  void Client(const std::string& wire, uint16_t flags = kFromStart) {
    Send(conn, rec, kOut, wire, flags);
  }
  void Server(const std::string& wire, uint16_t flags = kFromStart) {
    Send(conn, rec, kIn, wire, flags);
  }
  std::string Ok(uint32_t stream, bool end_stream = true, Fields extra = {}) {
    Fields f = {{":status", "200"}};
    f.insert(f.end(), extra.begin(), extra.end());
    return Headers(stream, server.Encode(f), {.end_stream = end_stream});
  }
};

TEST(Http2Connection, RequestResponseAndEnd) {
  Peers p;
  p.Client(Settings({}) + Headers(1,
                                  p.client.Encode(Request("GET", "/a/b?token=secret#frag",
                                                          {{"traceparent", Traceparent(1)}})),
                                  {.end_stream = true}));
  p.Server(Settings({}) + SettingsAck() + p.Ok(1, false) + Data(1, 1000, true));
  p.Client(SettingsAck());
  EXPECT_EQ(p.rec.events, (Strings{"req egress 1 decoded http2 GET /a/b @svc.example:8080 es",
                                   "resp ingress 1 decoded 200", "end egress 1 complete"}));
  EXPECT_EQ(p.rec.Field(0, "traceparent"), Traceparent(1));
  EXPECT_EQ(p.rec.Field(0, ":path"), "/a/b?token=secret#frag");  // the span has all fields
  EXPECT_EQ(p.conn.state(), State::kSynced);
  EXPECT_EQ(p.conn.client_direction(), kOut);
  EXPECT_EQ(p.conn.tracked_streams(), 0u);
}

TEST(Http2Connection, ServerSideSeesInboundRequests) {
  Peers p;
  Send(p.conn, p.rec, kIn, Settings({}) + Headers(1, p.client.Encode(Request("POST", "/p"))));
  Send(p.conn, p.rec, kOut, Settings({}) + p.Ok(1));
  Send(p.conn, p.rec, kIn, Data(1, 10, true));
  EXPECT_EQ(p.rec.events, (Strings{"req ingress 1 decoded http2 POST /p @svc.example:8080",
                                   "resp egress 1 decoded 200", "end ingress 1 complete"}));
}

TEST(Http2Connection, HeadersSentAsContextIsClassified) {
  struct Classify : Recorder {
    void OnRequest(const StreamRequest& r) override {
      Recorder::OnRequest(r);
      verdicts.push_back(ClassifyContext(r.headers).verdict);
    }
    std::vector<ContextVerdict> verdicts;
  } rec;
  Encoder enc;
  Connection conn;
  Send(conn, rec, kOut,
       Headers(1, enc.Encode(Request("GET", "/", {{"traceparent", Traceparent(9)}}))));
  Send(conn, rec, kOut, Headers(3, enc.Encode(Request("GET", "/"))));
  EXPECT_EQ(rec.verdicts, (std::vector{ContextVerdict::kValid, ContextVerdict::kMissing}));
}

TEST(Http2Connection, GrpcAndTrailers) {
  Peers p;
  const Fields grpc = {{"content-type", "application/grpc+proto"}, {"te", "trailers"}};
  p.Client(Headers(1, p.client.Encode(Request("POST", "/pkg.Svc/Method", grpc))) +
           Data(1, 5, true));
  p.Server(p.Ok(1, false, {{"content-type", "application/grpc"}}) + Data(1, 5, false) +
           Headers(1, p.server.Encode({{"grpc-status", "0"}}), {.end_stream = true}));
  EXPECT_EQ(p.rec.events,
            (Strings{"req egress 1 decoded grpc POST /pkg.Svc/Method @svc.example:8080 "
                     "ct=application/grpc+proto",
                     "resp ingress 1 decoded 200", "end egress 1 complete"}));
}

TEST(Http2Connection, InterimResponseIsSkipped) {
  Peers p;
  p.Client(Headers(1, p.client.Encode(Request("PUT", "/u", {{"expect", "100-continue"}}))));
  p.Server(Headers(1, p.server.Encode({{":status", "100"}})));
  p.Client(Data(1, 10, true));
  p.Server(p.Ok(1));
  EXPECT_EQ(p.rec.events, (Strings{"req egress 1 decoded http2 PUT /u @svc.example:8080",
                                   "resp ingress 1 decoded 200", "end egress 1 complete"}));
}

// Distinct traceparents and large distinct headers churn the 4 KiB dynamic table; every fourth
// request repeats the previous one, so its traceparent is a reference into the table.
TEST(Http2Connection, ManyRequestsThroughAnEvictingDynamicTable) {
  Peers p;
  std::vector<std::string> sent;
  Fields fields;
  for (uint32_t i = 0; i < 80; ++i) {
    const uint32_t stream = 2 * i + 1;
    const bool repeat = i % 4 == 3;
    if (!repeat) {
      fields = Request("GET", "/item/" + std::to_string(i),
                       {{"traceparent", Traceparent(i)},
                        {"x-padding", std::string(300 + i, static_cast<char>('a' + i % 26))},
                        {"tracestate", "k=" + std::to_string(i)}});
    }
    const std::string block = p.client.Encode(fields);
    // The 55-byte traceparent and 300-byte padding are table references (:path is never indexed).
    if (repeat) {
      EXPECT_LT(block.size(), 30u) << i;
    }
    sent.push_back(fields[4].second);
    p.Client(Headers(stream, block, {.end_stream = true}));
    p.Server(p.Ok(stream, true, {{"x-response", std::string(200, 'r') + std::to_string(i)}}));
  }
  ASSERT_EQ(p.rec.requests.size(), 80u);
  for (std::size_t i = 0; i < sent.size(); ++i) {
    EXPECT_EQ(p.rec.Field(i, "traceparent"), sent[i]) << i;
    EXPECT_EQ(p.rec.Field(i, "tracestate"), "k=" + std::to_string(i - (i % 4 == 3 ? 1 : 0)));
  }
  EXPECT_EQ(p.rec.Count("resp ingress"), 80u);
  EXPECT_EQ(p.rec.Count("resp ingress 159 decoded 200"), 1u);
  EXPECT_EQ(p.rec.Count("end egress"), 80u);
  EXPECT_EQ(p.rec.Count("error:"), 0u);
  EXPECT_EQ(p.conn.state(), State::kSynced);
}

TEST(Http2Connection, PeerLowersTheTableSize) {
  Peers p;
  p.Client(Settings({}) + Headers(1, p.client.Encode(Request("GET", "/1")), {.end_stream = true}));
  p.Server(Settings({{0x1, 512}}) + p.Ok(1));
  // Before its ACK the encoder may still use the old size.
  p.Client(Headers(3, p.client.Encode(Request("GET", "/3", {{"x-a", std::string(600, 'a')}})),
                   {.end_stream = true}));
  p.client.ChangeTableSize(512);
  p.Client(SettingsAck());
  for (uint32_t s = 5; s < 25; s += 2) {
    p.Client(Headers(
        s,
        p.client.Encode(Request("GET", "/" + std::to_string(s), {{"traceparent", Traceparent(s)}})),
        {.end_stream = true}));
    EXPECT_EQ(p.rec.Field(p.rec.requests.size() - 1, "traceparent"), Traceparent(s));
  }
  EXPECT_EQ(p.rec.Count("req egress"), 12u);
  for (const std::string& e : p.rec.events) EXPECT_EQ(e.find("undecoded"), std::string::npos);
  EXPECT_EQ(p.rec.Count("error:"), 0u);
  EXPECT_EQ(p.conn.state(), State::kSynced);
}

TEST(Http2Connection, PeerRaisesTheTableSize) {
  Peers p;
  Encoder client(16384);
  p.Server(Settings({{0x1, 16384}}));
  client.ChangeTableSize(16384);  // takes the larger table at once, before its ACK goes out
  p.Client(Headers(1, client.Encode(Request("GET", "/big", {{"x-a", std::string(9000, 'a')}}))) +
           SettingsAck());
  p.Client(Headers(3, client.Encode(Request("GET", "/big", {{"x-a", std::string(9000, 'a')}}))));
  EXPECT_EQ(p.rec.Count("req egress 1 decoded"), 1u);
  EXPECT_EQ(p.rec.Count("req egress 3 decoded"), 1u);
  EXPECT_EQ(p.rec.Field(1, "x-a").size(), 9000u);
  EXPECT_EQ(p.rec.Count("error:"), 0u);
}

TEST(Http2Connection, LargerFramesOnceThePeerAllowsThem) {
  Peers p;
  p.Server(Settings({{0x5, 65536}}));
  p.Client(SettingsAck() + Data(1, 60000, false));
  EXPECT_EQ(p.conn.state(), State::kSynced);
  p.Server(Data(2, 16385, false));  // the client never raised its limit
  EXPECT_EQ(p.rec.events, Strings{"error:frame_size_exceeded"});
}

TEST(Http2Connection, EverySplitOfAConversationGivesTheSameEvents) {
  Encoder client;
  Encoder server;
  std::string c = Settings({{0x1, 4096}});
  std::string s = Settings({}) + SettingsAck();
  for (uint32_t stream = 1; stream <= 9; stream += 2) {
    c += Headers(
        stream, client.Encode(Request("GET", "/s", {{"traceparent", Traceparent(stream)}})),
        {.end_stream = stream % 3 == 0, .max_fragment = 20, .pad = 2, .priority = stream == 5});
    if (stream % 3 != 0) c += Data(stream, 99, true);
    s += Headers(stream, server.Encode({{":status", "204"}}), {.end_stream = true});
  }
  c += SettingsAck() + RstStream(9, 8) + Goaway(0, 0);
  const std::string cr = ToRecords(c);
  const std::string sr = ToRecords(s);
  const auto run = [&](std::size_t ci, std::size_t si) {
    Connection conn;
    Recorder rec;
    conn.Feed(kOut, std::string_view(cr).substr(0, ci), kFromStart, rec);
    conn.Feed(kOut, std::string_view(cr).substr(ci), kFromStart, rec);
    conn.Feed(kIn, std::string_view(sr).substr(0, si), kFromStart, rec);
    conn.Feed(kIn, std::string_view(sr).substr(si), kFromStart, rec);
    conn.Close(rec);
    return rec.events;
  };
  const Strings whole = run(cr.size(), sr.size());
  ASSERT_EQ(whole.size(), 14u);
  EXPECT_EQ(whole[0], "req egress 1 decoded http2 GET /s @svc.example:8080");
  for (std::size_t i = 0; i <= cr.size(); ++i) ASSERT_EQ(run(i, sr.size()), whole) << i;
  for (std::size_t i = 0; i <= sr.size(); ++i) ASSERT_EQ(run(cr.size(), i), whole) << i;
}

TEST(Http2Connection, PushIsDecodedButNotReported) {
  Peers p;
  p.Client(Headers(1, p.client.Encode(Request("GET", "/")), {.end_stream = true}));
  p.Server(PushPromise(1, 2, p.server.Encode(Request("GET", "/style.css"))) +
           Headers(2, p.server.Encode({{":status", "200"}, {"x-pushed", "1"}})) + Data(2, 9, true));
  p.Server(p.Ok(1, true, {{"x-pushed", "1"}}));
  EXPECT_EQ(p.rec.events, (Strings{"req egress 1 decoded http2 GET / @svc.example:8080 es",
                                   "resp ingress 1 decoded 200", "end egress 1 complete"}));
}

TEST(Http2Connection, ResetAndGoaway) {
  Peers p;
  for (uint32_t s : {1, 3, 5, 7}) p.Client(Headers(s, p.client.Encode(Request("GET", "/"))));
  p.Server(RstStream(3, 8));
  p.Client(RstStream(1, 8));
  p.Server(Goaway(5, 0));
  EXPECT_EQ(p.rec.Count("req egress"), 4u);
  EXPECT_EQ(Strings(p.rec.events.begin() + 4, p.rec.events.end()),
            (Strings{"end egress 3 reset noresp", "end egress 1 reset noresp",
                     "end egress 7 refused noresp"}));
  p.conn.Close(p.rec);
  EXPECT_EQ(p.rec.events.back(), "end egress 5 closed noresp");
}

TEST(Http2Connection, ResponseBeforeItsRequestIsHeld) {
  // The two directions' events can race: the response's read may be reported first.
  Peers p;
  const std::string request =
      Headers(1, p.client.Encode(Request("GET", "/r")), {.end_stream = true});
  p.Server(p.Ok(1));
  EXPECT_TRUE(p.rec.events.empty());
  p.Client(request);
  EXPECT_EQ(p.rec.events, (Strings{"req egress 1 decoded http2 GET /r @svc.example:8080 es",
                                   "resp ingress 1 decoded 200", "end egress 1 complete"}));
}

TEST(Http2Connection, ResponseOnAStreamNeverOpened) {
  Peers p;
  p.Client(Headers(1, p.client.Encode(Request("GET", "/")), {.end_stream = true}));
  p.Server(p.Ok(1) + p.Ok(3));
  p.Client(Headers(5, p.client.Encode(Request("GET", "/")), {.end_stream = true}));
  p.Server(p.Ok(7));
  p.conn.Close(p.rec);
  EXPECT_EQ(p.rec.Count("error:response_without_request"), 2u);  // 3 when 5 came; 7 at close
  EXPECT_EQ(p.rec.events[3], "error:response_without_request");
  EXPECT_EQ(p.rec.events.back(), "error:response_without_request");
}

TEST(Http2Connection, StreamTableIsBounded) {
  Encoder enc;
  Connection conn({.max_streams = 2});
  Recorder rec;
  for (uint32_t s : {1, 3, 5}) Send(conn, rec, kOut, Headers(s, enc.Encode(Request("GET", "/"))));
  EXPECT_EQ(rec.Count("error:too_many_streams"), 1u);
  EXPECT_EQ(rec.Count("end egress 1 evicted noresp"), 1u);
  EXPECT_EQ(conn.tracked_streams(), 2u);
}

TEST(Http2Connection, ClientHintDecidesTheRole) {
  Encoder enc;
  Connection conn;
  Recorder rec;
  conn.SetClientDirection(kIn);
  Send(conn, rec, kIn, Headers(1, enc.Encode(Request("GET", "/")), {.end_stream = true}),
       kJoinedLate);
  EXPECT_EQ(rec.events, Strings{"req ingress 1 undecoded http2 es"});
}

TEST(Http2Connection, LabelsAreStable) {
  EXPECT_EQ(Label(State::kSynced), "synced");
  EXPECT_EQ(Label(State::kUnsynced), "unsynced");
  EXPECT_EQ(Label(State::kBroken), "broken");
  EXPECT_EQ(kErrorLabels.size(), 16u);
  EXPECT_EQ(kErrorLabels.front(), "lost");
  EXPECT_EQ(kErrorLabels.back(), "truncated");
  for (std::string_view l : kErrorLabels) EXPECT_NE(l, "invalid");
}

}  // namespace
}  // namespace tracegap::http2
