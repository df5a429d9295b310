// How a Connection follows sync: directions joined late (unsynced), lost bytes, HPACK state lost
// in one direction, truncation at close.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocols/http2/connection.h"
#include "support/http2_frames.h"
#include "tracegap.h"

namespace tracegap::http2 {
namespace {

using namespace testutil;  // NOLINT: builders and Recorder
using Strings = std::vector<std::string>;

constexpr Direction kOut = Direction::kEgress;
constexpr Direction kIn = Direction::kIngress;
constexpr uint16_t kLost = TG_DATA_HTTP2 | TG_DATA_LOST_BEFORE;

std::string Req(Encoder& enc, uint32_t stream, const std::string& path, bool end = true) {
  return Headers(stream, enc.Encode(Request("GET", path, {{"traceparent", Traceparent(stream)}})),
                 {.end_stream = end});
}

std::string Resp(Encoder& enc, uint32_t stream, const std::string& status = "200") {
  return Headers(stream, enc.Encode({{":status", status}}), {.end_stream = true});
}

TEST(Http2Sync, JoinedLateCountsRequestsButNeverDecodes) {
  Encoder client;
  Encoder server;
  for (uint32_t s = 1; s < 20; s += 2) {  // before the daemon joined: fills both tables
    Req(client, s, "/early");
    Resp(server, s);
  }
  Connection conn;
  Recorder rec;
  for (uint32_t s = 21; s < 27; s += 2) {
    Send(conn, rec, kOut, Req(client, s, "/late", false) + Data(s, 5, true), kJoinedLate);
    Send(conn, rec, kIn, Resp(server, s), kJoinedLate);
  }
  // Even a block made only of static-table fields is not decoded: never guess.
  Encoder fresh;
  Send(conn, rec, kOut, Headers(27, fresh.Encode({{":method", "GET"}, {":path", "/"}})),
       kJoinedLate);
  EXPECT_EQ(rec.events, (Strings{"req egress 21 undecoded http2", "resp ingress 21 undecoded 0",
                                 "end egress 21 complete", "req egress 23 undecoded http2",
                                 "resp ingress 23 undecoded 0", "end egress 23 complete",
                                 "req egress 25 undecoded http2", "resp ingress 25 undecoded 0",
                                 "end egress 25 complete", "req egress 27 undecoded http2"}));
  for (const Fields& f : rec.requests) EXPECT_TRUE(f.empty());
  EXPECT_EQ(conn.state(), State::kUnsynced);
  EXPECT_EQ(conn.client_direction(), kOut);  // from the static :method of the first block
}

TEST(Http2Sync, JoinedLateOnAResponse) {
  Encoder client;
  Encoder server;
  Req(client, 1, "/");
  Connection conn;
  Recorder rec;
  Send(conn, rec, kIn, Resp(server, 1), kJoinedLate);  // its request was before the join
  Send(conn, rec, kOut, Req(client, 3, "/"), kJoinedLate);
  Send(conn, rec, kIn, Resp(server, 3), kJoinedLate);
  conn.Close(rec);
  EXPECT_EQ(rec.events, (Strings{"req egress 3 undecoded http2 es", "resp ingress 3 undecoded 0",
                                 "end egress 3 complete"}));  // no response_without_request
}

TEST(Http2Sync, JoinedLateWithoutStaticHints) {
  // Blocks starting with a dynamic table reference (an encoder that sends :authority first and
  // has sent it before) say nothing about their kind: the first one on a stream opens it.
  Encoder client;
  const Fields fields = {{":authority", "h.example"}, {":method", "GET"}, {":path", "/"}};
  client.Encode(fields);
  Encoder server;
  server.Encode({{":status", "200"}, {"x", "y"}});
  Connection conn;
  Recorder rec;
  Send(conn, rec, kOut, Headers(5, client.Encode(fields), {.end_stream = true}), kJoinedLate);
  EXPECT_FALSE(conn.client_direction().has_value());
  Send(conn, rec, kIn, Headers(5, server.Encode({{"x", "y"}}), {.end_stream = true}), kJoinedLate);
  EXPECT_EQ(rec.events, (Strings{"req egress 5 undecoded http2 es", "resp ingress 5 undecoded 0",
                                 "end egress 5 complete"}));
  EXPECT_EQ(conn.client_direction(), kOut);  // learnt from the answer on the same stream
}

TEST(Http2Sync, LostBytesBreakTheDirectionForGood) {
  Encoder client;
  Encoder server;
  Connection conn;
  Recorder rec;
  Send(conn, rec, kOut, Settings({}) + Req(client, 1, "/a", false));
  const std::string partial = ToRecords(Req(client, 3, "/b"));
  conn.Feed(kOut, std::string_view(partial).substr(0, 12), kFromStart, rec);
  conn.Feed(kOut, ToRecords(Req(client, 5, "/c")), kLost | TG_DATA_H2_FROM_START, rec);
  conn.Feed(kOut, ToRecords(Req(client, 7, "/d")), kLost, rec);
  Send(conn, rec, kOut, Req(client, 9, "/e"));
  EXPECT_EQ(conn.state(), State::kBroken);
  // The other direction goes on.
  Send(conn, rec, kIn, Settings({}) + Resp(server, 1));
  conn.Close(rec);  // no "truncated": the lost direction has nothing pending
  EXPECT_EQ(rec.events,
            (Strings{"req egress 1 decoded http2 GET /a @svc.example:8080", "error:lost",
                     "resp ingress 1 decoded 200", "end egress 1 closed"}));
}

TEST(Http2Sync, LostOnTheFirstEvent) {
  Encoder client;
  Connection conn;
  Recorder rec;
  Send(conn, rec, kOut, Req(client, 1, "/"), kLost);
  EXPECT_EQ(rec.events, Strings{"error:lost"});
  EXPECT_EQ(conn.state(), State::kBroken);
}

TEST(Http2Sync, HpackFailureKeepsCountingWithoutDecoding) {
  Encoder client;
  Encoder server;
  Connection conn;
  Recorder rec;
  Send(conn, rec, kOut, Req(client, 1, "/ok"));
  Send(conn, rec, kOut, Headers(3, std::string("\x82\x86\xbf\xff\x0f", 5), {.end_stream = true}));
  Send(conn, rec, kOut, Req(client, 5, "/after"));
  Send(conn, rec, kIn, Resp(server, 1) + Resp(server, 3) + Resp(server, 5));
  EXPECT_EQ(
      rec.events,
      (Strings{"req egress 1 decoded http2 GET /ok @svc.example:8080 es", "error:hpack_invalid",
               "req egress 3 undecoded http2 es", "req egress 5 undecoded http2 es",
               "resp ingress 1 decoded 200", "end egress 1 complete", "resp ingress 3 decoded 200",
               "end egress 3 complete", "resp ingress 5 decoded 200", "end egress 5 complete"}));
  EXPECT_EQ(conn.state(), State::kBroken);
}

TEST(Http2Sync, FromStartWithdrawnStopsDecoding) {
  Encoder client;
  Connection conn;
  Recorder rec;
  Send(conn, rec, kOut, Req(client, 1, "/"));
  Send(conn, rec, kOut, Req(client, 3, "/"), kJoinedLate);
  Send(conn, rec, kOut, Req(client, 5, "/"));  // cannot become synced again
  EXPECT_EQ(rec.Count("req egress 1 decoded"), 1u);
  EXPECT_EQ(rec.Count("req egress 3 undecoded"), 1u);
  EXPECT_EQ(rec.Count("req egress 5 undecoded"), 1u);
  EXPECT_EQ(conn.state(), State::kUnsynced);
}

TEST(Http2Sync, UnknownPeerSettingsMakeTheLimitLenient) {
  // The server direction was joined late: whatever it advertised is unknown, so the client's
  // size update to 16384 is accepted (size updates are explicit, decoding stays exact).
  Encoder client(16384);
  Connection conn;
  Recorder rec;
  Send(conn, rec, kIn, Settings({{0x1, 16384}, {0x5, 32768}}), kJoinedLate);
  client.ChangeTableSize(16384);
  Send(conn, rec, kOut, Req(client, 3, "/") + Data(3, 20000, false));  // frames unchecked too
  EXPECT_EQ(rec.Count("req egress 3 decoded"), 1u);
  EXPECT_EQ(rec.Count("error:"), 0u);
}

TEST(Http2Sync, CloseInsideAFrameOrABlock) {
  Encoder client;
  Connection conn;
  Recorder rec;
  const std::string records = ToRecords(Req(client, 1, "/", false));
  conn.Feed(kOut, std::string_view(records).substr(0, records.size() - 1), kFromStart, rec);
  conn.Feed(kIn, ToRecords(Settings({})).substr(0, 4), kFromStart, rec);
  conn.Close(rec);
  EXPECT_EQ(rec.events, (Strings{"error:truncated", "error:truncated"}));
  // Inside a block: HEADERS without END_HEADERS, its CONTINUATION never came.
  rec.events.clear();
  Encoder fresh;
  const std::string block = fresh.Encode(Request("GET", "/"));
  Send(conn, rec, kOut, WireFrame(TG_H2_HEADERS, 0, 1, block));
  conn.Close(rec);
  EXPECT_EQ(rec.events, Strings{"error:truncated"});
}

TEST(Http2Sync, ConnectionIsAsNewAfterClose) {
  Encoder client;
  Connection conn;
  Recorder rec;
  Send(conn, rec, kOut, Req(client, 1, "/", false));
  Send(conn, rec, kIn, WireFrame(TG_H2_PING, 0, 0, "1"));  // bad length: the direction is dead
  conn.Close(rec);
  EXPECT_EQ(rec.events.back(), "end egress 1 closed noresp");
  EXPECT_EQ(conn.state(), State::kSynced);
  rec.events.clear();
  Encoder again;
  Send(conn, rec, kOut, Req(again, 1, "/x"));
  EXPECT_EQ(rec.events, Strings{"req egress 1 decoded http2 GET /x @svc.example:8080 es"});
}

}  // namespace
}  // namespace tracegap::http2
