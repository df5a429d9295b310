#include <gtest/gtest.h>

#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/http2/frame_parser.h"
#include "support/http2_frames.h"
#include "tracegap.h"

namespace tracegap::http2 {
namespace {

using namespace testutil;  // NOLINT: the wire builders

std::string Hex(std::string_view s) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : s) {
    out += kDigits[static_cast<uint8_t>(c) >> 4];
    out += kDigits[static_cast<uint8_t>(c) & 0xf];
  }
  return out;
}

// One line per frame: the views die with the callback.
class Frames : public FrameSink {
 public:
  bool OnFrame(const Frame& f) override {
    std::string s = "t" + std::to_string(f.header.type) + " f" + std::to_string(f.header.flags) +
                    " s" + std::to_string(f.header.stream_id) + " l" +
                    std::to_string(f.header.length);
    if (f.error != Error::kNone) s += " error:" + std::string(Label(f.error));
    if (!f.payload.empty()) s += " p=" + Hex(f.payload);
    if (!f.fragment.empty()) s += " frag=" + Hex(f.fragment);
    if (f.promised_stream_id != 0) s += " promised=" + std::to_string(f.promised_stream_id);
    if (f.header.type == TG_H2_GOAWAY) s += " last=" + std::to_string(f.last_stream_id);
    if (f.error_code != 0) s += " code=" + std::to_string(f.error_code);
    if (f.header_table_size) s += " hts=" + std::to_string(*f.header_table_size);
    if (f.max_frame_size) s += " mfs=" + std::to_string(*f.max_frame_size);
    lines.push_back(s);
    return lines.size() < stop_after;
  }
  std::vector<std::string> lines;
  std::size_t stop_after = SIZE_MAX;
};

// A bit of every frame type, with real header blocks.
std::string SampleWire() {
  Encoder enc;
  const std::string block = enc.Encode({{":method", "GET"},
                                        {":path", "/a?q=1"},
                                        {":scheme", "https"},
                                        {":authority", "example.com"},
                                        {"traceparent", std::string(55, '0')}});
  std::string w;
  w += Settings({{0x1, 8192}, {0x4, 65535}, {0x1, 2048}, {0x5, 32768}});
  w += WindowUpdate(0, 1000);
  w += Headers(1, block, {.max_fragment = 10, .pad = 3, .priority = true});
  w += Data(1, 300, true);
  w += WireFrame(TG_H2_PRIORITY, 0, 1, std::string(5, '\x01'));
  w += Ping();
  w += WireFrame(0xfa, 0xff, 7, "unknown payload");
  w += PushPromise(1, 2, enc.Encode({{":method", "GET"}, {":path", "/style.css"}}));
  w += RstStream(1, 8);
  w += SettingsAck();
  w += Goaway(1, 0, "bye");
  w += Headers(3, "", {.end_stream = true});
  return w;
}

std::vector<std::string> Parse(const std::vector<std::string_view>& pieces,
                               std::size_t max_payload = FrameParser::kDefaultMaxPayload) {
  FrameParser parser(max_payload);
  parser.set_max_frame_size(0);
  Frames frames;
  for (std::string_view p : pieces) parser.Feed(p, frames);
  EXPECT_FALSE(parser.mid_frame());
  EXPECT_EQ(parser.buffered_bytes(), 0u);
  return frames.lines;
}

TEST(Http2FrameParser, DecodesEveryFrameType) {
  const std::string records = ToRecords(SampleWire());
  const std::vector<std::string> lines = Parse({records});
  ASSERT_GE(lines.size(), 14u);
  EXPECT_EQ(lines[0].substr(0, 14), "t4 f0 s0 l24 p");
  EXPECT_NE(lines[0].find("hts=2048 mfs=32768"), std::string::npos);  // the last value wins
  EXPECT_EQ(lines[1], "t8 f0 s0 l4");                                 // payload not copied
  // HEADERS: PADDED and PRIORITY stripped around the first 10-byte fragment.
  EXPECT_EQ(lines[2].substr(0, 15), "t1 f40 s1 l19 p") << lines[2];
  EXPECT_EQ(lines[2].substr(lines[2].find("frag=")).size(), 5 + 20u);
  EXPECT_EQ(lines[3].substr(0, 13), "t9 f0 s1 l10 ");
  std::size_t d = 3;
  while (d < lines.size() && lines[d][1] == '9') ++d;  // the CONTINUATIONs
  EXPECT_EQ(lines[d - 1].substr(0, 6), "t9 f4 ");      // the last one ends the block
  ASSERT_EQ(lines.size(), d + 9);
  EXPECT_EQ(lines[d], "t0 f1 s1 l300");  // DATA: END_STREAM kept, payload not copied
  EXPECT_EQ(lines[d + 1], "t2 f0 s1 l5");
  EXPECT_EQ(lines[d + 2], "t6 f0 s0 l8");
  EXPECT_EQ(lines[d + 3], "t250 f255 s7 l15");
  EXPECT_NE(lines[d + 4].find("promised=2"), std::string::npos);
  EXPECT_NE(lines[d + 5].find("code=8"), std::string::npos);
  EXPECT_EQ(lines[d + 6], "t4 f1 s0 l0");
  EXPECT_NE(lines[d + 7].find("last=1"), std::string::npos);
  EXPECT_EQ(lines[d + 8], "t1 f5 s3 l0");
}

TEST(Http2FrameParser, FragmentsReassembleTheBlock) {
  Encoder enc;
  const std::string block = enc.Encode({{":method", "POST"}, {"x-long", std::string(100, 'v')}});
  std::string fragments;
  struct Collect : FrameSink {
    bool OnFrame(const Frame& f) override {
      EXPECT_EQ(f.error, Error::kNone);
      out->append(f.fragment);
      return true;
    }
    std::string* out;
  } sink;
  sink.out = &fragments;
  FrameParser parser;
  parser.Feed(ToRecords(Headers(5, block, {.max_fragment = 7, .pad = 0})), sink);
  EXPECT_EQ(fragments, block);
}

TEST(Http2FrameParser, SplitAtEveryOffsetGivesTheSameFrames) {
  const std::string records = ToRecords(SampleWire());
  const std::vector<std::string> whole = Parse({records});
  for (std::size_t i = 0; i <= records.size(); ++i) {
    const std::string_view r(records);
    ASSERT_EQ(Parse({r.substr(0, i), r.substr(i)}), whole) << "split at " << i;
  }
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < records.size(); ++i)
    bytes.push_back(std::string_view(records).substr(i, 1));
  EXPECT_EQ(Parse(bytes), whole);
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::vector<std::string_view> pieces;
    for (std::size_t at = 0; at < records.size();) {
      const std::size_t n = std::uniform_int_distribution<std::size_t>(0, 40)(rng);
      pieces.push_back(std::string_view(records).substr(at, n));
      at += n;
    }
    ASSERT_EQ(Parse(pieces), whole) << "round " << round;
  }
}

// The single frame line `wire` parses to (as records: non-copied payloads dropped).
std::string Only(const std::string& wire, std::size_t max_payload = 1 << 17) {
  const std::string records = ToRecords(wire);
  const std::vector<std::string> lines = Parse({records}, max_payload);
  return lines.size() == 1 ? lines[0] : "frames: " + std::to_string(lines.size());
}

std::string ErrorOf(const std::string& records) {
  const std::string line = Only(records);
  const std::size_t at = line.find("error:");
  if (at == std::string::npos) return "none";
  return line.substr(at + 6, line.find(' ', at) - at - 6);
}

TEST(Http2FrameParser, LengthRules) {
  EXPECT_EQ(ErrorOf(WireFrame(TG_H2_HEADERS, kFlagPadded, 1,
                              "\x05"
                              "abc")),
            "bad_padding");
  EXPECT_EQ(ErrorOf(WireFrame(TG_H2_HEADERS, kFlagPadded, 1, "")), "bad_padding");
  EXPECT_EQ(ErrorOf(WireFrame(TG_H2_HEADERS, kFlagPadded, 1,
                              "\x03"
                              "abc")),
            "none");  // all padding
  EXPECT_EQ(ErrorOf(WireFrame(TG_H2_HEADERS, kFlagPriority, 1, "abc")), "bad_frame_length");
  EXPECT_EQ(ErrorOf(WireFrame(TG_H2_HEADERS, kFlagPriority | kFlagPadded, 1,
                              "\x01"
                              "abcde")),
            "bad_frame_length");  // the priority fields do not fit before the padding
  EXPECT_EQ(ErrorOf(WireFrame(TG_H2_PUSH_PROMISE, 0, 1, "abc")), "bad_frame_length");
  EXPECT_EQ(ErrorOf(WireFrame(TG_H2_PRIORITY, 0, 1, "abcd")), "bad_frame_length");
  EXPECT_EQ(ErrorOf(WireFrame(TG_H2_RST_STREAM, 0, 1, "abcde")), "bad_frame_length");
  EXPECT_EQ(ErrorOf(WireFrame(TG_H2_SETTINGS, 0, 0, "1234567")), "bad_frame_length");
  EXPECT_EQ(ErrorOf(WireFrame(TG_H2_SETTINGS, kFlagAck, 0, "123456")), "bad_frame_length");
  EXPECT_EQ(ErrorOf(WireFrame(TG_H2_PING, 0, 0, "1234")), "bad_frame_length");
  EXPECT_EQ(ErrorOf(WireFrame(TG_H2_GOAWAY, 0, 0, "1234567")), "bad_frame_length");
  EXPECT_EQ(ErrorOf(WireFrame(TG_H2_WINDOW_UPDATE, 0, 1, "123")), "bad_frame_length");
}

TEST(Http2FrameParser, StreamIdRules) {
  for (uint8_t type : {TG_H2_DATA, TG_H2_HEADERS, TG_H2_PRIORITY, TG_H2_RST_STREAM,
                       TG_H2_PUSH_PROMISE, TG_H2_CONTINUATION}) {
    const std::string payload = type == TG_H2_PRIORITY ? "12345" : "1234";
    EXPECT_EQ(ErrorOf(WireFrame(type, 0, 0, payload)), "bad_stream_id") << int{type};
  }
  EXPECT_EQ(ErrorOf(WireFrame(TG_H2_SETTINGS, 0, 1, "")), "bad_stream_id");
  EXPECT_EQ(ErrorOf(WireFrame(TG_H2_PING, 0, 3, "12345678")), "bad_stream_id");
  EXPECT_EQ(ErrorOf(WireFrame(TG_H2_GOAWAY, 0, 3, "12345678")), "bad_stream_id");
  // The reserved bit is not part of the id.
  EXPECT_EQ(Only(WireFrameHeader(0, TG_H2_DATA, 0, 0x80000001u)), "t0 f0 s1 l0");
}

TEST(Http2FrameParser, TooLargePayloadIsSkippedAndBoundariesKept) {
  const std::string records = ToRecords(Settings({{0x1, 1}, {0x2, 0}, {0x3, 100}}) + Ping() +
                                        Headers(1, std::string(40, 'h')));
  const std::vector<std::string> lines = Parse({records}, 20);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].substr(0, 15), "t4 f0 s0 l18 p=");  // 18 bytes fit: no error
  EXPECT_EQ(lines[1], "t6 f0 s0 l8");
  EXPECT_EQ(lines[2], "t1 f4 s1 l40 error:frame_too_large");
  // The skipped payload is never buffered, however it is split.
  FrameParser parser(20);
  Frames frames;
  for (char c : records) {
    parser.Feed(std::string_view(&c, 1), frames);
    EXPECT_LE(parser.buffered_bytes(), 20u);
  }
  EXPECT_EQ(frames.lines, lines);
}

TEST(Http2FrameParser, FrameSizeLimit) {
  FrameParser parser;
  Frames frames;
  parser.Feed(ToRecords(Data(1, 16384, false) + Data(1, 16385, false) +
                        Headers(1, std::string(16385, 'h'), {.max_fragment = 20000})),
              frames);
  ASSERT_EQ(frames.lines.size(), 3u);
  EXPECT_EQ(frames.lines[0], "t0 f0 s1 l16384");
  EXPECT_EQ(frames.lines[1], "t0 f0 s1 l16385 error:frame_size_exceeded");
  EXPECT_EQ(frames.lines[2], "t1 f4 s1 l16385 error:frame_size_exceeded");
  EXPECT_EQ(parser.buffer_capacity(), std::string().capacity());  // never buffered
}

TEST(Http2FrameParser, BufferIsReleasedAfterALargeFrame) {
  FrameParser parser;
  parser.set_max_frame_size(0);
  Frames frames;
  const std::string records =
      ToRecords(Headers(1, std::string(40000, 'h'), {.max_fragment = 50000}));
  parser.Feed(std::string_view(records).substr(0, 100), frames);
  EXPECT_EQ(parser.buffered_bytes(), 91u);
  EXPECT_LE(parser.buffer_capacity(), 40000u + 32);  // reserved for exactly one payload
  parser.Feed(std::string_view(records).substr(100), frames);
  ASSERT_EQ(frames.lines.size(), 1u);
  EXPECT_EQ(parser.buffer_capacity(), std::string().capacity());  // released
}

TEST(Http2FrameParser, SinkCanStopTheParser) {
  const std::string records = ToRecords(Ping() + Ping() + Ping());
  FrameParser parser;
  Frames frames;
  frames.stop_after = 1;
  parser.Feed(records.substr(0, 20), frames);
  EXPECT_EQ(frames.lines.size(), 1u);
  EXPECT_FALSE(parser.mid_frame());  // the rest of that input was dropped
}

TEST(Http2FrameParser, MidFrame) {
  FrameParser parser;
  Frames frames;
  const std::string records = ToRecords(Headers(1, "abcdef"));
  parser.Feed(records.substr(0, 4), frames);
  EXPECT_TRUE(parser.mid_frame());
  parser.Feed(records.substr(4, 7), frames);
  EXPECT_TRUE(parser.mid_frame());
  parser.Feed(records.substr(11), frames);
  EXPECT_FALSE(parser.mid_frame());
  EXPECT_EQ(frames.lines.size(), 1u);
}

}  // namespace
}  // namespace tracegap::http2
