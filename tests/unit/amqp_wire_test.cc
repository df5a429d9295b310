#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "amqp_test_util.h"
#include "protocols/amqp/content_header.h"
#include "protocols/amqp/errors.h"
#include "protocols/amqp/field_table.h"
#include "protocols/amqp/frame.h"
#include "protocols/amqp/message.h"
#include "protocols/amqp/method.h"
#include "protocols/amqp/reader.h"

namespace tracegap::amqp {
namespace {

using namespace testutil;  // NOLINT: the wire builders
using Pairs = std::vector<std::pair<std::string, std::string>>;

Pairs ToPairs(const std::vector<HeaderField>& fields) {
  Pairs out;
  for (const HeaderField& f : fields) out.emplace_back(f.name, f.value);
  return out;
}

// Walks `table` whole (or its first `cut` bytes, as a cut copy) and returns its error and fields.
std::pair<Error, Pairs> Walk(std::string_view table, std::size_t cut = std::string_view::npos) {
  std::vector<HeaderField> fields;
  const bool whole = cut >= table.size();
  const Error e = WalkFieldTable(table.substr(0, cut), whole, fields);
  return {e, ToPairs(fields)};
}

// ---------------------------------------------------------------------------------------------
// Labels

TEST(AmqpLabels, ErrorLabelsAreDistinctMetricValues) {
  std::set<std::string_view> seen;
  for (std::string_view l : kErrorLabels) {
    EXPECT_FALSE(l.empty());
    EXPECT_NE(l, "invalid");
    EXPECT_TRUE(std::all_of(l.begin(), l.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || c == '_';
    })) << l;
    EXPECT_TRUE(seen.insert(l).second) << "duplicate label " << l;
  }
  EXPECT_EQ(kErrorLabels.size(), static_cast<std::size_t>(Error::kCount) - 1);
  EXPECT_EQ(kErrorLabels.front(), "lost");
  EXPECT_EQ(Label(Error::kBadFrameEnd), "bad_frame_end");
  EXPECT_EQ(Label(Error::kTruncatedTable), "truncated_table");
  EXPECT_EQ(Label(Error::kUnknownFieldType), "unknown_field_type");
  EXPECT_EQ(Label(Error::kUnexpectedMethod), "unexpected_method");
  EXPECT_EQ(Label(Error::kTooManyChannels), "too_many_channels");
  EXPECT_EQ(Label(Error::kNone), "none");
  EXPECT_EQ(Label(static_cast<Error>(200)), "invalid");
}

TEST(AmqpLabels, MessageKinds) {
  EXPECT_EQ(Labels(kAllMessageKinds),
            (std::array<std::string_view, 4>{"publish", "deliver", "get_ok", "return"}));
  EXPECT_EQ(Label(static_cast<MessageKind>(9)), kInvalidLabel);
}

// ---------------------------------------------------------------------------------------------
// Reader and frame records

TEST(AmqpReader, BigEndianAndStrings) {
  const std::string b = U8(0xab) + U16(0x1234) + U32(0xdeadbeef) + U64(0x0102030405060708ull) +
                        ShortStr("ex") + LongStr("long");
  Reader in(b);
  uint8_t u8 = 0;
  uint16_t u16 = 0;
  uint32_t u32 = 0;
  uint64_t u64 = 0;
  std::string_view s1, s2;
  ASSERT_TRUE(in.U8(u8) && in.U16(u16) && in.U32(u32) && in.U64(u64) && in.ShortStr(s1) &&
              in.LongStr(s2));
  EXPECT_EQ(u8, 0xab);
  EXPECT_EQ(u16, 0x1234);
  EXPECT_EQ(u32, 0xdeadbeefu);
  EXPECT_EQ(u64, 0x0102030405060708ull);
  EXPECT_EQ(s1, "ex");
  EXPECT_EQ(s2, "long");
  EXPECT_EQ(in.remaining(), 0u);
  EXPECT_FALSE(in.U8(u8));
}

TEST(AmqpReader, ReadsPastTheEndFail) {
  const std::string short_str = U8(5) + "abc";
  std::string_view s;
  EXPECT_FALSE(Reader(short_str).ShortStr(s));
  const std::string huge = U32(0xffffffffu) + "abc";
  EXPECT_FALSE(Reader(huge).LongStr(s));
  uint32_t v = 0;
  EXPECT_FALSE(Reader("abc").U32(v));
  EXPECT_FALSE(Reader("abc").Skip(4));
  EXPECT_TRUE(Reader("abc").Skip(3));
}

TEST(AmqpFrame, HeaderAndRecordGeometry) {
  const FrameHeader h = DecodeFrameHeader(U8(1) + U16(0x0102) + U32(0x0a0b0c0d));
  EXPECT_EQ(h.type, kFrameMethod);
  EXPECT_EQ(h.channel, 0x0102);
  EXPECT_EQ(h.size, 0x0a0b0c0du);

  auto body_len = [](uint8_t type, uint32_t size, std::size_t cap) {
    return RecordBodyLength(FrameHeader{type, 1, size}, cap);
  };
  EXPECT_EQ(body_len(kFrameMethod, 10, 4096), 11u);         // payload + frame end
  EXPECT_EQ(body_len(kFrameHeader, 4095, 4096), 4096u);     // exactly whole
  EXPECT_EQ(body_len(kFrameHeader, 4096, 4096), 4096u);     // cut: frame end not copied
  EXPECT_EQ(body_len(kFrameMethod, 0xffffffffu, 64), 64u);  // no overflow
  EXPECT_EQ(body_len(kFrameBody, 100, 4096), 0u);
  EXPECT_EQ(body_len(kFrameHeartbeat, 0, 4096), 0u);
  EXPECT_EQ(body_len(0x41, 100, 4096), 0u);

  const std::string whole = "abc" + U8(kFrameEnd);
  CopiedPayload p = SplitRecordBody(FrameHeader{kFrameMethod, 1, 3}, whole);
  EXPECT_TRUE(p.whole);
  EXPECT_TRUE(p.end_ok);
  EXPECT_EQ(p.bytes, "abc");
  p = SplitRecordBody(FrameHeader{kFrameMethod, 1, 3}, "abcX");
  EXPECT_TRUE(p.whole);
  EXPECT_FALSE(p.end_ok);
  p = SplitRecordBody(FrameHeader{kFrameMethod, 1, 10}, "abcd");  // cap 4
  EXPECT_FALSE(p.whole);
  EXPECT_EQ(p.bytes, "abcd");
}

TEST(AmqpFrame, RecordsHelperFollowsTheKernelRule) {
  const std::string wire = Publish(1, "ex", "rk") + Body(1, 100) + Heartbeat();
  const std::string rec = Records(wire);
  // Method frame whole, body and heartbeat frames as bare headers (no payload, no frame end).
  EXPECT_EQ(rec.size(), wire.size() - (100 + 1) - 1);
  EXPECT_EQ(Records(Publish(1, "ex", "rk"), 5).size(), 7u + 5u);
}

// ---------------------------------------------------------------------------------------------
// Field tables

TEST(AmqpFieldTable, StringEntries) {
  const std::string t = Table()
                            .Str("traceparent", Traceparent())
                            .Str("tracestate", "congo=t61rcWkgMzE")
                            .Str("x-app", "  padded\t")
                            .Encode();
  const auto [e, fields] = Walk(t);
  EXPECT_EQ(e, Error::kNone);
  EXPECT_EQ(fields, (Pairs{{"traceparent", Traceparent()},
                           {"tracestate", "congo=t61rcWkgMzE"},
                           {"x-app", "padded"}}));  // OWS trimmed, as HeaderField promises
}

TEST(AmqpFieldTable, ByteArrayValuesAreStrings) {
  const std::string bin("\x00\x01\xff", 3);
  const std::string t =
      Table().Bytes("traceparent", Traceparent(2)).Bytes("grpc-trace-bin", bin).Encode();
  const auto [e, fields] = Walk(t);
  EXPECT_EQ(e, Error::kNone);
  EXPECT_EQ(fields, (Pairs{{"traceparent", Traceparent(2)}, {"grpc-trace-bin", bin}}));
}

// Every value type of RabbitMQ's table, before the traceparent: each must be skipped by exactly
// its size, or the traceparent would be misread.
TEST(AmqpFieldTable, EveryValueTypeIsSkipped) {
  const std::string nested = Table().Str("traceparent", "inner, never reported").Encode();
  const std::string array = U32(0) + std::string("S") + LongStr("in array") + "F" + nested;
  const std::string array_value = U32(static_cast<uint32_t>(array.size())) + array;
  const std::string t = Table()
                            .Raw("t", 't', U8(1))
                            .Raw("b", 'b', U8(0x80))
                            .Raw("B", 'B', U8(0xff))
                            .Raw("s", 's', U16(0xffff))
                            .Raw("u", 'u', U16(7))
                            .Raw("I", 'I', U32(0xffffffffu))
                            .Raw("i", 'i', U32(7))
                            .Raw("l", 'l', U64(~0ull))
                            .Raw("f", 'f', U32(0x3f800000))
                            .Raw("d", 'd', U64(0x3ff0000000000000ull))
                            .Raw("D", 'D', U8(2) + U32(12345))
                            .Raw("T", 'T', U64(1700000000))
                            .Raw("V", 'V', "")
                            .Raw("A", 'A', array_value)
                            .Raw("F", 'F', nested)
                            .Str("S", "string")
                            .Bytes("x", "bytes")
                            .Str("traceparent", Traceparent())
                            .Encode();
  const auto [e, fields] = Walk(t);
  EXPECT_EQ(e, Error::kNone);
  EXPECT_EQ(fields, (Pairs{{"S", "string"}, {"x", "bytes"}, {"traceparent", Traceparent()}}));
}

TEST(AmqpFieldTable, TraceContextNameWithOtherTypeHasEmptyValue) {
  const std::string t = Table()
                            .Raw("TraceParent", 'I', U32(5))
                            .Raw("b3", 'l', U64(1))
                            .Raw("X-B3-Sampled", 't', U8(1))
                            .Raw("uber-trace-id", 'F', Table().Encode())
                            .Raw("tracestate", 'V', "")
                            .Raw("retry-count", 'I', U32(3))  // not a trace-context name: left out
                            .Encode();
  const auto [e, fields] = Walk(t);
  EXPECT_EQ(e, Error::kNone);
  EXPECT_EQ(fields, (Pairs{{"TraceParent", ""},
                           {"b3", ""},
                           {"X-B3-Sampled", ""},
                           {"uber-trace-id", ""},
                           {"tracestate", ""}}));
}

TEST(AmqpFieldTable, TraceContextNames) {
  for (std::string_view n : {"traceparent", "TRACESTATE", "b3", "uber-trace-id", "X-Amzn-Trace-Id",
                             "sw8", "grpc-trace-bin", "x-b3-traceid"}) {
    EXPECT_TRUE(IsTraceContextName(n)) << n;
  }
  for (std::string_view n : {"", "trace", "traceparent2", "x-retry", "content-type"}) {
    EXPECT_FALSE(IsTraceContextName(n)) << n;
  }
}

TEST(AmqpFieldTable, EmptyTable) {
  const auto [e, fields] = Walk(Table().Encode());
  EXPECT_EQ(e, Error::kNone);
  EXPECT_TRUE(fields.empty());
}

TEST(AmqpFieldTable, UnknownTypeStopsTheWalk) {
  // 'L' (the 0-9-1 spec's long-long-uint) is not in RabbitMQ's table.
  const std::string t =
      Table().Str("a", "1").Raw("n", 'L', U64(1)).Str("traceparent", Traceparent()).Encode();
  const auto [e, fields] = Walk(t);
  EXPECT_EQ(e, Error::kUnknownFieldType);
  EXPECT_EQ(fields, (Pairs{{"a", "1"}}));
}

TEST(AmqpFieldTable, EntryOverrunningTheTableIsBad) {
  // A string whose length runs past the table's declared size (but not past the payload).
  std::string entries = ShortStr("a") + "S" + U32(10) + "0123456789";
  const std::string t = U32(static_cast<uint32_t>(entries.size() - 4)) + entries;
  EXPECT_EQ(Walk(t).first, Error::kBadTable);
  // A table size beyond the whole payload.
  EXPECT_EQ(Walk(U32(100) + ShortStr("a") + "V").first, Error::kBadTable);
  EXPECT_EQ(Walk(U16(0)).first, Error::kBadTable);  // not even the size
}

TEST(AmqpFieldTable, HugeDeclaredSizes) {
  // Nothing is allocated from a size: they are only compared with the bytes at hand.
  const auto [e1, f1] = Walk(U32(0xffffffffu) + ShortStr("traceparent") + "S" + LongStr("x"));
  EXPECT_EQ(e1, Error::kBadTable);
  std::string entries = ShortStr("traceparent") + "S" + U32(0xfffffff0u) + "abc";
  const auto [e2, f2] = Walk(U32(static_cast<uint32_t>(entries.size())) + entries);
  EXPECT_EQ(e2, Error::kBadTable);
  // Cut copies report truncation instead.
  const std::string t = U32(0xffffffffu) + ShortStr("a") + "S" + LongStr("1") + ShortStr("b");
  const auto [e3, f3] = Walk(t, t.size() - 1);
  EXPECT_EQ(e3, Error::kTruncatedTable);
  EXPECT_EQ(f3, (Pairs{{"a", "1"}}));
}

// Cut at every byte: truncated with the entries read to their end, until the cut reaches the
// table's end.
TEST(AmqpFieldTable, CutAtEveryPosition) {
  const std::string t =
      Table().Str("traceparent", Traceparent()).Raw("n", 'I', U32(1)).Str("k", "v").Encode();
  const std::size_t first_end = 4 + 1 + 11 + 1 + 4 + 55;
  const std::size_t second_end = first_end + 1 + 1 + 1 + 4;
  for (std::size_t cut = 0; cut < t.size(); ++cut) {
    SCOPED_TRACE(cut);
    const auto [e, fields] = Walk(t, cut);
    EXPECT_EQ(e, Error::kTruncatedTable);
    Pairs want;
    if (cut >= first_end) want.push_back({"traceparent", Traceparent()});
    if (cut >= second_end + 1 + 1 + 1 + 4 + 1) want.push_back({"k", "v"});
    EXPECT_EQ(fields, want);
  }
  EXPECT_EQ(Walk(t, t.size()).first, Error::kNone);
  EXPECT_EQ(Walk(t).second.size(), 2u);
}

// ---------------------------------------------------------------------------------------------
// Methods

std::string_view PayloadOf(const std::string& frame) {
  return std::string_view(frame).substr(kFrameHeaderLen, frame.size() - kFrameHeaderLen - 1);
}

TEST(AmqpMethod, ContentMethods) {
  struct Case {
    std::string frame;
    MessageKind kind;
  };
  const Case cases[] = {{Publish(1, "amq.topic", "orders.new"), MessageKind::kPublish},
                        {Deliver(1, "amq.topic", "orders.new"), MessageKind::kDeliver},
                        {GetOk(1, "amq.topic", "orders.new"), MessageKind::kGetOk},
                        {Return(1, "amq.topic", "orders.new"), MessageKind::kReturn}};
  for (const Case& c : cases) {
    SCOPED_TRACE(Label(c.kind));
    const Method m = ParseMethod(PayloadOf(c.frame), true);
    EXPECT_EQ(m.error, Error::kNone);
    EXPECT_TRUE(m.identified);
    EXPECT_EQ(m.class_id, kClassBasic);
    ASSERT_TRUE(m.content.has_value());
    EXPECT_EQ(*m.content, c.kind);
    EXPECT_EQ(m.exchange, "amq.topic");
    EXPECT_EQ(m.routing_key, "orders.new");
  }
}

TEST(AmqpMethod, OtherMethodsAreOnlyIdentified) {
  const std::string ack = Ack(1);
  const Method m = ParseMethod(PayloadOf(ack), true);
  EXPECT_EQ(m.error, Error::kNone);
  EXPECT_TRUE(m.identified);
  EXPECT_EQ(m.method_id, 80);
  EXPECT_FALSE(m.content.has_value());
  // connection.start-ok (10,11) with no arguments read: fine, they are not parsed.
  const std::string start_ok = MethodFrame(0, 10, 11, "whatever");
  EXPECT_EQ(ParseMethod(PayloadOf(start_ok), true).error, Error::kNone);
  // Class 60 with the publish method id of another class is not a publish.
  EXPECT_FALSE(ContentMethodKind(20, kMethodPublish).has_value());
}

TEST(AmqpMethod, TooShortWhenWhole) {
  EXPECT_EQ(ParseMethod(U16(60), true).error, Error::kBadFrame);
  EXPECT_FALSE(ParseMethod(U16(60), true).identified);
  // Publish without its trailing bits octet.
  const std::string args = U16(0) + ShortStr("ex") + ShortStr("rk");
  const std::string payload = U16(60) + U16(40) + args;
  const Method m = ParseMethod(payload, true);
  EXPECT_EQ(m.error, Error::kBadFrame);
  EXPECT_EQ(m.exchange, "ex");
  // A routing key length past the payload.
  EXPECT_EQ(
      ParseMethod(U16(60) + U16(40) + U16(0) + ShortStr("ex") + U8(200) + "rk" + U8(0), true).error,
      Error::kBadFrame);
}

TEST(AmqpMethod, CutCopiesKeepWhatWasRead) {
  const std::string frame = Publish(1, "exchange", std::string(100, 'k'));
  const std::string_view payload = PayloadOf(frame);
  Method m = ParseMethod(payload.substr(0, 20), false);
  EXPECT_EQ(m.error, Error::kNone);
  EXPECT_TRUE(m.identified);
  EXPECT_EQ(m.content, MessageKind::kPublish);
  EXPECT_EQ(m.exchange, "exchange");
  EXPECT_EQ(m.routing_key, "");
  m = ParseMethod(payload.substr(0, 3), false);
  EXPECT_EQ(m.error, Error::kNone);
  EXPECT_FALSE(m.identified);
  EXPECT_FALSE(m.content.has_value());
}

// ---------------------------------------------------------------------------------------------
// Content headers

ContentHeader ParseHeader(const std::string& payload, std::vector<HeaderField>& fields,
                          std::size_t cut = std::string::npos) {
  return ParseContentHeader(std::string_view(payload).substr(0, cut), cut >= payload.size(),
                            fields);
}

TEST(AmqpContentHeader, HeadersTable) {
  const std::string payload =
      HeaderPayload({.headers = Table().Str("traceparent", Traceparent()).Encode()}, 1234);
  std::vector<HeaderField> fields;
  const ContentHeader h = ParseHeader(payload, fields);
  EXPECT_EQ(h.error, Error::kNone);
  EXPECT_EQ(h.class_id, kClassBasic);
  EXPECT_EQ(h.body_size, 1234u);
  EXPECT_TRUE(h.has_headers);
  EXPECT_EQ(ToPairs(fields), (Pairs{{"traceparent", Traceparent()}}));
}

TEST(AmqpContentHeader, NoHeadersProperty) {
  const std::string payload = HeaderPayload({.content_type = "text/plain", .has_headers = false});
  std::vector<HeaderField> fields;
  const ContentHeader h = ParseHeader(payload, fields);
  EXPECT_EQ(h.error, Error::kNone);
  EXPECT_FALSE(h.has_headers);
  EXPECT_TRUE(fields.empty());
  // Complete as soon as the flags are read, however the rest is cut.
  EXPECT_EQ(ParseHeader(payload, fields, 14).error, Error::kNone);
  EXPECT_EQ(ParseHeader(payload, fields, 13).error, Error::kTruncatedTable);
}

TEST(AmqpContentHeader, ContentTypeAndEncodingBeforeHeaders) {
  const std::string payload = HeaderPayload({.content_type = "application/json",
                                             .content_encoding = "gzip",
                                             .headers = Table().Str("tracestate", "a=1").Encode()});
  std::vector<HeaderField> fields;
  EXPECT_EQ(ParseHeader(payload, fields).error, Error::kNone);
  EXPECT_EQ(ToPairs(fields), (Pairs{{"tracestate", "a=1"}}));
  // Cut inside content-type: the table was not reached.
  fields.clear();
  EXPECT_EQ(ParseHeader(payload, fields, 20).error, Error::kTruncatedTable);
  EXPECT_TRUE(fields.empty());
}

TEST(AmqpContentHeader, TooShortWhenWhole) {
  std::vector<HeaderField> fields;
  EXPECT_EQ(ParseHeader(U16(60) + U16(0) + U64(1), fields).error, Error::kBadFrame);
  // Headers flag set, content-type flag set, the shortstr runs past the payload.
  EXPECT_EQ(ParseHeader(U16(60) + U16(0) + U64(1) + U16(0xa000) + U8(50) + "ab", fields).error,
            Error::kBadFrame);
  // The table's size runs past the payload: a table error.
  EXPECT_EQ(ParseHeader(U16(60) + U16(0) + U64(1) + U16(0x2000) + U32(50), fields).error,
            Error::kBadTable);
}

TEST(AmqpContentHeader, MoreFlagsWords) {
  const std::string table = Table().Str("traceparent", Traceparent()).Encode();
  // One extra flags word (bit 0 of the first set), then the table.
  std::string payload = U16(60) + U16(0) + U64(1) + U16(0x2001) + U16(0x0000) + table;
  std::vector<HeaderField> fields;
  EXPECT_EQ(ParseHeader(payload, fields).error, Error::kNone);
  EXPECT_EQ(fields.size(), 1u);
  // Words chained up to the limit are accepted, one more is not.
  std::string words = U16(0x2001);
  for (std::size_t i = 1; i + 1 < kMaxFlagWords; ++i) words += U16(0x0001);
  words += U16(0);
  fields.clear();
  EXPECT_EQ(ParseHeader(U16(60) + U16(0) + U64(1) + words + table, fields).error, Error::kNone);
  std::string too_many = U16(0x2001);
  for (std::size_t i = 1; i < kMaxFlagWords; ++i) too_many += U16(0x0001);
  too_many += U16(0);
  EXPECT_EQ(ParseHeader(U16(60) + U16(0) + U64(1) + too_many + table, fields).error,
            Error::kBadFrame);
}

TEST(AmqpContentHeader, StopsAfterTheTable) {
  // Garbage after the table (where delivery-mode etc. would be) is never read.
  std::string payload = HeaderPayload({.headers = Table().Str("b3", "x").Encode(), .more = false});
  payload[12] = '\x3f';  // flags: headers plus every later property, none present
  payload[13] = '\xfc';
  std::vector<HeaderField> fields;
  EXPECT_EQ(ParseHeader(payload, fields).error, Error::kNone);
  EXPECT_EQ(ToPairs(fields), (Pairs{{"b3", "x"}}));
}

}  // namespace
}  // namespace tracegap::amqp
