// Bad and hostile input to a Connection: every case reports a stable error, keeps memory
// bounded, and leaves the connection in the documented state.
#include <gtest/gtest.h>

#include <random>
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

// What one direction may hold at most: a frame payload and a block's decoded fields.
constexpr std::size_t kMaxBuffers = 2 * (FrameParser::kDefaultMaxPayload + 256 * 1024);

Strings Events(const std::string& wire, const Limits& limits = {}) {
  Connection conn(limits);
  Recorder rec;
  Send(conn, rec, kOut, wire);
  EXPECT_LE(conn.buffer_capacity(), kMaxBuffers);
  return rec.events;
}

TEST(Http2Hostile, HeaderBlockOverTheLimit) {
  Encoder enc;
  Fields big;
  for (int i = 0; i < 5; ++i) big.emplace_back("x-h" + std::to_string(i), std::string(24000, 'a'));
  const std::string block = enc.Encode(Request("GET", "/", big));
  ASSERT_GT(block.size(), 64u * 1024);
  Connection conn;
  Recorder rec;
  Send(conn, rec, kOut, Headers(1, block, {.end_stream = true}));
  Send(conn, rec, kOut, Headers(3, enc.Encode(Request("GET", "/")), {.end_stream = true}));
  EXPECT_EQ(rec.events, (Strings{"error:header_block_too_large", "req egress 1 undecoded http2 es",
                                 "req egress 3 undecoded http2 es"}));
  EXPECT_EQ(conn.state(), State::kBroken);
}

TEST(Http2Hostile, ContinuationFlood) {
  Encoder enc;
  const std::string block = enc.Encode(Request("GET", "/", {{"x-a", std::string(300, 'z')}}));
  Connection conn;
  Recorder rec;
  Send(conn, rec, kOut, Headers(1, block, {.max_fragment = 1}));
  Send(conn, rec, kOut, Headers(3, enc.Encode(Request("GET", "/"))));
  EXPECT_EQ(rec.events, Strings{"error:continuation_flood"});  // and nothing after it
  EXPECT_EQ(conn.state(), State::kBroken);
  // 128 CONTINUATIONs are fine.
  Encoder fresh;
  const std::string ok = fresh.Encode(Request("GET", "/", {{"x-a", std::string(100, 'z')}}));
  EXPECT_EQ(Events(Headers(1, ok, {.max_fragment = ok.size() / 128 + 1})).size(), 1u);
}

TEST(Http2Hostile, ContinuationMisuse) {
  Encoder enc;
  const std::string block = enc.Encode(Request("GET", "/"));
  EXPECT_EQ(Events(WireFrame(TG_H2_CONTINUATION, kFlagEndHeaders, 1, block)),
            Strings{"error:orphan_continuation"});
  EXPECT_EQ(Events(WireFrame(TG_H2_HEADERS, 0, 1, block) +
                   WireFrame(TG_H2_CONTINUATION, kFlagEndHeaders, 3, "")),
            Strings{"error:orphan_continuation"});
  EXPECT_EQ(Events(WireFrame(TG_H2_HEADERS, 0, 1, block) + Ping()),
            Strings{"error:continuation_expected"});
}

TEST(Http2Hostile, HpackBomb) {
  Encoder enc;
  Fields bomb = Request("GET", "/bomb");
  for (int i = 0; i < 3000; ++i) bomb.emplace_back("x-bomb", std::string(3000, 'B'));
  Connection conn;
  Recorder rec;
  Send(conn, rec, kOut, Headers(1, enc.Encode(bomb), {.end_stream = true}));
  EXPECT_LE(conn.buffer_capacity(), kMaxBuffers);
  // The table stayed in step: the next block refers to the bomb's entry and decodes.
  Send(conn, rec, kOut,
       Headers(3, enc.Encode(Request("GET", "/next", {{"x-bomb", std::string(3000, 'B')}})),
               {.end_stream = true}));
  EXPECT_EQ(rec.events, (Strings{"error:decoded_too_large", "req egress 1 undecoded http2 es",
                                 "req egress 3 decoded http2 GET /next @svc.example:8080 es"}));
  EXPECT_EQ(conn.state(), State::kSynced);
}

TEST(Http2Hostile, InvalidHpack) {
  const Strings bad = {
      std::string("\x82\x80", 2),                      // index 0
      std::string("\x82\xc0", 2),                      // index 64, table empty
      std::string("\x82\xff\x80\x80\x80\x80\x01", 7),  // index far beyond the table
      std::string("\x82\x00\x01"
                  "a"
                  "\x84\xff\xff\xff\xff",
                  9),                      // Huffman with EOS
      std::string("\x82\x3f\xe1\x3f", 4),  // size update after a field
  };
  for (const std::string& block : bad) {
    EXPECT_EQ(Events(Headers(1, block, {.end_stream = true})),
              (Strings{"error:hpack_invalid", "req egress 1 undecoded http2 es"}))
        << ::testing::PrintToString(block);
  }
}

TEST(Http2Hostile, TableSizeUpdateAboveTheSetting) {
  {
    Encoder enc(8192);
    enc.ChangeTableSize(8192);  // no SETTINGS allowed it
    EXPECT_EQ(Events(Headers(1, enc.Encode(Request("GET", "/")))).front(), "error:hpack_invalid");
  }
  Encoder client;
  Connection conn;
  Recorder rec;
  Send(conn, rec, kIn, Settings({{0x1, 2048}}));
  Send(conn, rec, kOut, SettingsAck());
  client.ChangeTableSize(4096);  // re-announces 4096: above the acknowledged 2048
  Send(conn, rec, kOut, Headers(1, client.Encode(Request("GET", "/"))));
  EXPECT_EQ(rec.events.front(), "error:hpack_invalid");
  EXPECT_EQ(conn.state(), State::kBroken);
}

TEST(Http2Hostile, FrameTooLargeToBuffer) {
  Encoder enc;
  const std::string block = enc.Encode(Request("GET", "/", {{"x", std::string(200, 'x')}}));
  EXPECT_EQ(Events(Headers(1, block, {.end_stream = true}) +
                       Headers(3, enc.Encode(Request("GET", "/")), {.end_stream = true}),
                   {.max_payload = 100}),
            (Strings{"error:frame_too_large", "req egress 1 undecoded http2 es",
                     "req egress 3 undecoded http2 es"}));
  // A GOAWAY with a long debug text costs nothing else.
  Encoder fresh;
  EXPECT_EQ(
      Events(Goaway(0, 0, std::string(200, 'g')) + Headers(5, fresh.Encode(Request("GET", "/"))),
             {.max_payload = 100}),
      (Strings{"error:frame_too_large", "req egress 5 decoded http2 GET / @svc.example:8080"}));
}

TEST(Http2Hostile, SettingsFlood) {
  std::string wire;
  for (int i = 0; i < 17; ++i) wire += Settings({{0x1, 100}});
  EXPECT_EQ(Events(wire), Strings{"error:settings_flood"});
}

TEST(Http2Hostile, GarbageAfterAValidStart) {
  Encoder enc;
  std::string records = ToRecords(Settings({}) + Headers(1, enc.Encode(Request("GET", "/ok"))));
  std::mt19937 rng(42);
  for (int i = 0; i < 4096; ++i) records.push_back(static_cast<char>(rng()));
  Connection conn;
  Recorder rec;
  for (std::size_t at = 0; at < records.size(); at += 100) {
    conn.Feed(kOut, std::string_view(records).substr(at, 100), kFromStart, rec);
  }
  conn.Close(rec);
  ASSERT_GE(rec.events.size(), 2u);
  EXPECT_EQ(rec.events[0], "req egress 1 decoded http2 GET /ok @svc.example:8080");
  EXPECT_EQ(rec.events[1].substr(0, 6), "error:");
  EXPECT_EQ(rec.Count("req egress 1 decoded"), 1u);
  EXPECT_LE(rec.events.size(), 4u);
}

TEST(Http2Hostile, RandomEventsNeverBreakTheBounds) {
  // A small deterministic fuzz: valid records cut anywhere, random bytes, random flags.
  Encoder enc;
  std::string valid;
  for (uint32_t s = 1; s < 200; s += 2) {
    valid += ToRecords(Headers(s, enc.Encode(Request("GET", "/" + std::to_string(s))),
                               {.max_fragment = 9, .pad = static_cast<int>(s % 5)}));
  }
  std::mt19937 rng(1);
  const uint16_t flag_choices[] = {kFromStart, kJoinedLate, TG_DATA_LOST_BEFORE,
                                   kFromStart | TG_DATA_LOST_BEFORE};
  for (int round = 0; round < 200; ++round) {
    Connection conn({.max_streams = 16});
    Recorder rec;
    std::size_t at = 0;
    for (int event = 0; event < 50; ++event) {
      std::string bytes;
      if (rng() % 3 == 0) {
        for (unsigned n = rng() % 64; n > 0; --n) bytes.push_back(static_cast<char>(rng()));
      } else {
        const std::size_t n = rng() % 300;
        bytes = valid.substr(at % valid.size(), n);
        at += n;
      }
      const uint16_t flags = rng() % 10 == 0 ? flag_choices[rng() % 4] : kFromStart;
      conn.Feed(rng() % 2 ? kOut : kIn, bytes, flags, rec);
      ASSERT_LE(conn.buffer_capacity(), kMaxBuffers);
      ASSERT_LE(conn.tracked_streams(), 16u);
    }
    conn.Close(rec);
    EXPECT_EQ(conn.tracked_streams(), 0u);
  }
}

}  // namespace
}  // namespace tracegap::http2
