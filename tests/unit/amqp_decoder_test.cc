#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "amqp_test_util.h"
#include "protocols/amqp/direction_decoder.h"
#include "protocols/amqp/errors.h"
#include "tracegap.h"

namespace tracegap::amqp {
namespace {

using namespace testutil;  // NOLINT: the wire builders and Recorder
using Strings = std::vector<std::string>;

constexpr uint16_t kLost = TG_DATA_LOST_BEFORE;
constexpr uint16_t kCont = TG_DATA_CONTINUATION;

// Feeds `records` as one event and returns what was reported (Close() included if asked).
Strings Decode(const std::string& records, std::size_t cap = kDefaultCap, bool close = false) {
  DirectionDecoder d(cap);
  Recorder rec;
  d.Feed(records, 0, rec);
  EXPECT_EQ(d.buffered_bytes(), 0u);
  if (close) d.Close(rec);
  return rec.lines;
}

std::string TracedHeader(uint16_t channel, int n = 1) {
  return HeaderFrame(channel,
                     Table().Str("traceparent", Traceparent(n)).Str("tracestate", "rojo=1"));
}

std::string Tp(int n = 1) { return " {traceparent}={" + Traceparent(n) + "}"; }

TEST(AmqpDecoder, PublishWithTraceparentAndTracestate) {
  const std::string wire = Publish(1, "orders", "orders.new") + TracedHeader(1) + Body(1, 300);
  EXPECT_EQ(Decode(Records(wire)), (Strings{"publish ch1 [orders] [orders.new] complete" + Tp() +
                                            " {tracestate}={rojo=1}"}));
}

TEST(AmqpDecoder, DeliverAndGetOk) {
  const std::string wire = Deliver(2, "", "q1") + TracedHeader(2, 1) + Body(2, 10) +
                           GetOk(3, "amq.direct", "q2") + TracedHeader(3, 2) + Body(3, 10);
  EXPECT_EQ(Decode(Records(wire)),
            (Strings{"deliver ch2 [] [q1] complete" + Tp(1) + " {tracestate}={rojo=1}",
                     "get_ok ch3 [amq.direct] [q2] complete" + Tp(2) + " {tracestate}={rojo=1}"}));
}

TEST(AmqpDecoder, ReturnIsNotAPublish) {
  const std::string wire = Return(1, "orders", "nowhere") + TracedHeader(1) + Body(1, 3);
  const Strings lines = Decode(Records(wire));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].rfind("return ch1 [orders] [nowhere] complete", 0), 0u) << lines[0];
}

TEST(AmqpDecoder, ByteArrayTraceparent) {
  const std::string wire =
      Publish(1, "", "q") + HeaderFrame(1, Table().Bytes("traceparent", Traceparent(4)));
  EXPECT_EQ(Decode(Records(wire)), (Strings{"publish ch1 [] [q] complete" + Tp(4)}));
}

TEST(AmqpDecoder, NoHeadersPropertyIsCompleteWithoutFields) {
  const std::string wire = Publish(1, "", "q") + HeaderFrame(1, Properties{.has_headers = false});
  EXPECT_EQ(Decode(Records(wire)), (Strings{"publish ch1 [] [q] complete"}));
}

TEST(AmqpDecoder, ContentTypeAndEncodingBeforeHeaders) {
  const std::string wire =
      Publish(1, "", "q") +
      HeaderFrame(1, Properties{.content_type = "application/json",
                                .content_encoding = "utf-8",
                                .headers = Table().Str("traceparent", Traceparent()).Encode()});
  EXPECT_EQ(Decode(Records(wire)), (Strings{"publish ch1 [] [q] complete" + Tp()}));
}

// The content header frame, as copied with `cap`: the header's payload starts 7 bytes in.
TEST(AmqpDecoder, CapCutsInsideOrAfterTheTable) {
  const std::string table =
      Table().Str("traceparent", Traceparent()).Str("x-padding", std::string(200, 'p')).Encode();
  const std::string header = HeaderFrame(1, Properties{.headers = table});
  const std::string wire = Publish(1, "", "q") + header + Body(1, 5);
  const std::size_t table_end = 14 + table.size();            // payload bytes up to the table's end
  ASSERT_LT(table_end, header.size() - kFrameHeaderLen - 1);  // properties follow the table

  // Cut inside the table, after the traceparent entry.
  EXPECT_EQ(
      Decode(Records(wire, 100), 100),
      (Strings{"error truncated_table", "publish ch1 [] [q] incomplete:truncated_table" + Tp()}));
  // Cut exactly at the table's end, and a little after: complete, frame end never seen.
  for (std::size_t cap : {table_end, table_end + 3}) {
    SCOPED_TRACE(cap);
    EXPECT_EQ(Decode(Records(wire, cap), cap),
              (Strings{"publish ch1 [] [q] complete" + Tp() + " {x-padding}={" +
                       std::string(200, 'p') + "}"}));
  }
  EXPECT_EQ(Decode(Records(wire, table_end - 1), table_end - 1)[0], "error truncated_table");
}

TEST(AmqpDecoder, MethodCutByCapKeepsWhatWasCopied) {
  const std::string key(255, 'k');
  const std::string wire = Publish(1, "exchange", key) + TracedHeader(1);
  // 200 bytes of the publish payload: ids, reserved, exchange, then part of the routing key;
  // the content header is copied whole.
  ASSERT_LT(TracedHeader(1).size(), 200u);
  EXPECT_EQ(Decode(Records(wire, 200), 200),
            (Strings{"publish ch1 [exchange] [] complete" + Tp() + " {tracestate}={rojo=1}"}));
}

TEST(AmqpDecoder, TwoChannelsInterleaved) {
  const std::string wire = Publish(1, "a", "k1") + Publish(2, "b", "k2") + Heartbeat() +
                           TracedHeader(2, 2) + Ack(3) + TracedHeader(1, 1) + Body(2, 7) +
                           Body(1, 9);
  EXPECT_EQ(Decode(Records(wire)),
            (Strings{"publish ch2 [b] [k2] complete" + Tp(2) + " {tracestate}={rojo=1}",
                     "publish ch1 [a] [k1] complete" + Tp(1) + " {tracestate}={rojo=1}"}));
}

// A stream with every kind of record: its reports must not depend on where events split it.
std::string MixedRecords(std::size_t cap) {
  const std::string wire =
      MethodFrame(0, 10, 11, std::string(40, 's')) + Publish(1, "ex", "rk") + Heartbeat() +
      Publish(2, "ex2", "rk2") + TracedHeader(1, 1) + Body(1, 5000) +
      HeaderFrame(2, Properties{.headers = Table()
                                               .Raw("n", 'I', U32(1))
                                               .Str("traceparent", Traceparent(2))
                                               .Str("big", std::string(300, 'z'))
                                               .Encode()}) +
      Deliver(5, "", "q") + HeaderFrame(5, Properties{.has_headers = false}) + Ack(1) +
      Frame(0x41, 0, "??") + HeaderFrame(7, Table()) + Publish(3, "", "q") +
      HeaderFrame(3, Table().Raw("x", 'Z', "")) + Publish(4, "", "q4");
  return Records(wire, cap);
}

TEST(AmqpDecoder, SplitAtEveryPositionGivesTheSameReports) {
  for (std::size_t cap : {std::size_t{64}, std::size_t{200}, kDefaultCap}) {
    SCOPED_TRACE(cap);
    const std::string records = MixedRecords(cap);
    const Strings want = Decode(records, cap, true);
    ASSERT_GE(want.size(), 6u);
    for (std::size_t i = 0; i <= records.size(); ++i) {
      DirectionDecoder d(cap);
      Recorder rec;
      d.Feed(std::string_view(records).substr(0, i), 0, rec);
      EXPECT_LE(d.buffered_bytes(), kFrameHeaderLen + cap);
      d.Feed(std::string_view(records).substr(i), kCont, rec);
      d.Close(rec);
      ASSERT_EQ(rec.lines, want) << "split at " << i;
    }
    // One byte per event.
    DirectionDecoder d(cap);
    Recorder rec;
    for (std::size_t i = 0; i < records.size(); ++i) {
      d.Feed(std::string_view(records).substr(i, 1), i == 0 ? 0 : kCont, rec);
      EXPECT_LE(d.buffered_bytes(), kFrameHeaderLen + cap);
      EXPECT_LE(d.memory_bytes(), DirectionDecoder::MemoryBound(cap, 256));
    }
    d.Close(rec);
    EXPECT_EQ(rec.lines, want);
  }
}

TEST(AmqpDecoder, MixedStreamReports) {
  // What SplitAtEveryPosition compares against, so that it cannot pass by reporting nothing.
  EXPECT_EQ(
      Decode(MixedRecords(kDefaultCap), kDefaultCap, true),
      (Strings{"publish ch1 [ex] [rk] complete" + Tp(1) + " {tracestate}={rojo=1}",
               "publish ch2 [ex2] [rk2] complete {traceparent}={" + Traceparent(2) + "} {big}={" +
                   std::string(300, 'z') + "}",
               "deliver ch5 [] [q] complete", "error unknown_frame_type", "error unexpected_header",
               "error unknown_field_type", "publish ch3 [] [q] incomplete:unknown_field_type",
               "error truncated", "publish ch4 [] [q4] incomplete:truncated"}));
}

TEST(AmqpDecoder, LossReportsPendingThenSkipsContinuationsThenResumes) {
  DirectionDecoder d;
  Recorder rec;
  const std::string first = Records(Publish(1, "ex", "rk"));
  const std::string header = Records(TracedHeader(1));
  d.Feed(first + header.substr(0, 10), 0, rec);  // the publish, and the start of its header
  EXPECT_EQ(d.pending_messages(), 1u);
  EXPECT_EQ(d.buffered_bytes(), 10u);
  EXPECT_TRUE(rec.lines.empty());

  // Lost events, then one that begins inside a record: skipped whatever it holds.
  d.Feed(Records(Publish(2, "x", "y")) + "garbage", kLost | kCont, rec);
  EXPECT_EQ(rec.lines, (Strings{"error lost", "publish ch1 [ex] [rk] incomplete:lost"}));
  EXPECT_EQ(d.pending_messages(), 0u);
  EXPECT_EQ(d.buffered_bytes(), 0u);
  EXPECT_TRUE(d.skipping());
  d.Feed(Records(Publish(3, "x", "y")), kCont, rec);  // still inside: skipped
  EXPECT_TRUE(d.skipping());
  EXPECT_EQ(d.pending_messages(), 0u);

  // The first event without CONTINUATION begins at a record: resume there.
  rec.lines.clear();
  d.Feed(header + Records(Publish(4, "e", "r") + TracedHeader(4, 4)), 0, rec);
  EXPECT_FALSE(d.skipping());
  EXPECT_EQ(rec.lines, (Strings{"error unexpected_header", "publish ch4 [e] [r] complete" + Tp(4) +
                                                               " {tracestate}={rojo=1}"}));
}

TEST(AmqpDecoder, LossWithoutContinuationResumesAtOnce) {
  DirectionDecoder d;
  Recorder rec;
  const std::string records = Records(Publish(1, "ex", "rk") + TracedHeader(1));
  d.Feed(records.substr(0, 5), 0, rec);  // a partial header, dropped by the loss
  d.Feed(records, kLost, rec);
  EXPECT_EQ(rec.lines, (Strings{"error lost", "publish ch1 [ex] [rk] complete" + Tp() +
                                                  " {tracestate}={rojo=1}"}));
  EXPECT_FALSE(d.skipping());
}

TEST(AmqpDecoder, ContinuationIsIgnoredOutsideLoss) {
  // Only after a loss does the flag matter; otherwise the stream is continuous.
  const std::string records = Records(Publish(1, "ex", "rk") + TracedHeader(1));
  DirectionDecoder d;
  Recorder rec;
  d.Feed(records, kCont, rec);
  EXPECT_EQ(rec.lines.size(), 1u);
}

TEST(AmqpDecoder, BadFrameEnd) {
  std::string header = TracedHeader(1);
  header.back() = 'X';
  std::string ack = Ack(2);
  ack.back() = 0;
  const std::string wire = Publish(1, "", "q") + header + Publish(2, "", "q2") + ack +
                           Publish(3, "", "q3") + TracedHeader(3);
  EXPECT_EQ(Decode(Records(wire)),
            (Strings{"error bad_frame_end", "publish ch1 [] [q] incomplete:bad_frame_end",
                     "error bad_frame_end", "publish ch2 [] [q2] incomplete:bad_frame_end",
                     "publish ch3 [] [q3] complete" + Tp() + " {tracestate}={rojo=1}"}));
  // A cut frame's end octet is never copied, so never checked.
  std::string big =
      HeaderFrame(1, Table().Str("traceparent", Traceparent()).Str("p", std::string(500, 'p')));
  big.back() = 'X';
  EXPECT_EQ(
      Decode(Records(Publish(1, "", "q") + big, 300), 300),
      (Strings{"error truncated_table", "publish ch1 [] [q] incomplete:truncated_table" + Tp()}));
}

TEST(AmqpDecoder, BadFrames) {
  // A method payload too short for its ids, a content header of the wrong class.
  const std::string wire = Publish(1, "", "q") + Frame(kFrameMethod, 1, U16(60)) +
                           Publish(2, "", "q2") +
                           HeaderFrame(2, Properties{.headers = Table().Encode(), .class_id = 50});
  EXPECT_EQ(Decode(Records(wire)),
            (Strings{"error bad_frame", "publish ch1 [] [q] incomplete:bad_frame",
                     "error bad_frame", "publish ch2 [] [q2] incomplete:bad_frame"}));
}

TEST(AmqpDecoder, UnknownValueType) {
  const std::string wire =
      Publish(1, "", "q") +
      HeaderFrame(1, Table().Str("traceparent", Traceparent()).Raw("n", 'U', U16(1)));
  EXPECT_EQ(Decode(Records(wire)),
            (Strings{"error unknown_field_type",
                     "publish ch1 [] [q] incomplete:unknown_field_type" + Tp()}));
}

TEST(AmqpDecoder, TraceparentOfAnotherTypeIsReportedEmpty) {
  const std::string wire =
      Publish(1, "", "q") + HeaderFrame(1, Table().Raw("traceparent", 'l', U64(1)));
  EXPECT_EQ(Decode(Records(wire)), (Strings{"publish ch1 [] [q] complete {traceparent}={}"}));
}

TEST(AmqpDecoder, UnexpectedMethodEndsThePendingMessage) {
  const std::string wire = Publish(1, "", "a") + Ack(2) + Ack(1) + Publish(1, "", "b") +
                           Publish(1, "", "c") + TracedHeader(1);
  EXPECT_EQ(Decode(Records(wire)),
            (Strings{"error unexpected_method", "publish ch1 [] [a] incomplete:unexpected_method",
                     "error unexpected_method", "publish ch1 [] [b] incomplete:unexpected_method",
                     "publish ch1 [] [c] complete" + Tp() + " {tracestate}={rojo=1}"}));
}

TEST(AmqpDecoder, HeaderWithoutMethodIsIgnored) {
  const std::string wire = TracedHeader(1) + Body(1, 3) + Heartbeat();
  EXPECT_EQ(Decode(Records(wire)), (Strings{"error unexpected_header"}));
}

TEST(AmqpDecoder, TooManyChannelsEndsTheOldest) {
  DirectionDecoder d(kDefaultCap, 2);
  Recorder rec;
  d.Feed(Records(Publish(1, "", "q1") + Publish(2, "", "q2") + Publish(3, "", "q3")), 0, rec);
  EXPECT_EQ(rec.lines, (Strings{"error too_many_channels",
                                "publish ch1 [] [q1] incomplete:too_many_channels"}));
  EXPECT_EQ(d.pending_messages(), 2u);
  rec.lines.clear();
  d.Feed(Records(TracedHeader(3) + TracedHeader(2) + TracedHeader(1)), 0, rec);
  EXPECT_EQ(rec.lines, (Strings{"publish ch3 [] [q3] complete" + Tp() + " {tracestate}={rojo=1}",
                                "publish ch2 [] [q2] complete" + Tp() + " {tracestate}={rojo=1}",
                                "error unexpected_header"}));

  DirectionDecoder none(kDefaultCap, 0);
  rec.lines.clear();
  none.Feed(Records(Publish(1, "", "q")), 0, rec);
  EXPECT_EQ(rec.lines, (Strings{"error too_many_channels",
                                "publish ch1 [] [q] incomplete:too_many_channels"}));
  EXPECT_EQ(none.pending_messages(), 0u);
}

TEST(AmqpDecoder, CloseReportsPendingAndPartialRecords) {
  const std::string records = Records(Publish(1, "", "q") + TracedHeader(1));
  DirectionDecoder d;
  Recorder rec;
  d.Feed(records.substr(0, records.size() - 20), 0, rec);
  d.Close(rec);
  EXPECT_EQ(rec.lines, (Strings{"error truncated", "publish ch1 [] [q] incomplete:truncated"}));
  EXPECT_EQ(d.buffered_bytes(), 0u);
  EXPECT_EQ(d.pending_messages(), 0u);
  EXPECT_EQ(d.memory_bytes(), 0u);

  // A partial frame header alone.
  rec.lines.clear();
  d.Feed(records.substr(0, 3), 0, rec);
  d.Close(rec);
  EXPECT_EQ(rec.lines, (Strings{"error truncated"}));

  // As new: a whole stream decodes, and a clean close reports nothing.
  rec.lines.clear();
  d.Feed(records, 0, rec);
  d.Close(rec);
  EXPECT_EQ(rec.lines.size(), 1u);
  EXPECT_EQ(rec.lines[0].rfind("publish ch1 [] [q] complete", 0), 0u);
}

TEST(AmqpDecoder, HugeDeclaredSizesAllocateNothingHuge) {
  const std::size_t cap = 256;
  DirectionDecoder d(cap);
  Recorder rec;
  // A method frame declaring 4 GiB: cap bytes follow its header, fed a byte at a time so they
  // are buffered.
  const std::string method_header = U8(kFrameMethod) + U16(1) + U32(0xffffffffu);
  std::string stream =
      method_header + U16(60) + U16(40) + U16(0) + ShortStr("ex") + ShortStr("rk") + U8(0);
  stream += std::string(kFrameHeaderLen + cap - stream.size(), 'j');
  // Bodies and unknown frames declaring 4 GiB: nothing follows their headers.
  stream += U8(kFrameBody) + U16(1) + U32(0xffffffffu);
  stream += U8(0x77) + U16(1) + U32(0xffffffffu);
  // A whole content header whose table declares 4 GiB.
  stream += Records(HeaderFrame(1, Properties{.headers = U32(0xffffffffu) + "abc"}));
  for (char c : stream) {
    d.Feed(std::string_view(&c, 1), 0, rec);
    EXPECT_LE(d.buffered_bytes(), kFrameHeaderLen + cap);
    EXPECT_LE(d.memory_bytes(), DirectionDecoder::MemoryBound(cap, 256));
  }
  EXPECT_EQ(rec.lines, (Strings{"error unknown_frame_type", "error bad_table",
                                "publish ch1 [ex] [rk] incomplete:bad_table"}));
}

TEST(AmqpDecoder, RecordsInsideOneEventAreNotCopied) {
  DirectionDecoder d;
  Recorder rec;
  d.Feed(Records(Ack(1) + MethodFrame(0, 10, 11, std::string(500, 's')) + Heartbeat()), 0, rec);
  EXPECT_TRUE(rec.lines.empty());
  EXPECT_EQ(d.memory_bytes(), 0u);
  // Split: the body is buffered, and the buffer kept since it is small.
  const std::string records = Records(Ack(1));
  d.Feed(records.substr(0, 10), 0, rec);
  EXPECT_EQ(d.buffered_bytes(), 10u);
  d.Feed(records.substr(10), 0, rec);
  EXPECT_EQ(d.buffered_bytes(), 0u);
  EXPECT_EQ(d.memory_bytes(), records.size() - kFrameHeaderLen);
}

TEST(AmqpDecoder, ManyFieldsAreReleasedAfterTheMessage) {
  Table t;
  for (int i = 0; i < 300; ++i) t.Str("k" + std::to_string(i), "v");
  const std::string records = Records(Publish(1, "", "q") + HeaderFrame(1, t));
  DirectionDecoder d;
  Recorder rec;
  d.Feed(records, 0, rec);
  ASSERT_EQ(rec.lines.size(), 1u);
  EXPECT_NE(rec.lines[0].find("{k299}={v}"), std::string::npos);
  EXPECT_LE(d.memory_bytes(),
            DirectionDecoder::kRetainFields * sizeof(HeaderField) + DirectionDecoder::kRetainBytes);
}

}  // namespace
}  // namespace tracegap::amqp
