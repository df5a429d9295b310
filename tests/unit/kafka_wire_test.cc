#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kafka_test_util.h"
#include "protocols/kafka/errors.h"
#include "protocols/kafka/fetch.h"
#include "protocols/kafka/frame.h"
#include "protocols/kafka/in_flight.h"
#include "protocols/kafka/message.h"
#include "protocols/kafka/produce.h"
#include "protocols/kafka/reader.h"
#include "protocols/kafka/record_batch.h"

namespace tracegap::kafka {
namespace {

using namespace testutil;  // NOLINT: the wire builders
using Strings = std::vector<std::string>;
using Pairs = std::vector<std::pair<std::string, std::string>>;

// ---------------------------------------------------------------------------------------------
// Labels

TEST(KafkaLabels, ErrorLabelsAreDistinctMetricValues) {
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
  EXPECT_EQ(Label(Error::kTruncated), "truncated");
  EXPECT_EQ(Label(Error::kUnsupportedVersion), "unsupported_version");
  EXPECT_EQ(Label(Error::kUnmatchedResponse), "unmatched_response");
  EXPECT_EQ(Label(Error::kTooManyInFlight), "too_many_in_flight");
  EXPECT_EQ(Label(Error::kCompressed), "compressed");
  EXPECT_EQ(Label(Error::kBadRecord), "bad_record");
  EXPECT_EQ(Label(Error::kNone), "none");
  EXPECT_EQ(Label(static_cast<Error>(200)), "invalid");
}

TEST(KafkaLabels, MessageKinds) {
  EXPECT_EQ(Label(MessageKind::kProduce), "produce");
  EXPECT_EQ(Label(MessageKind::kFetch), "fetch");
  EXPECT_EQ(Label(static_cast<MessageKind>(9)), kInvalidLabel);
}

// ---------------------------------------------------------------------------------------------
// Reader

TEST(KafkaReader, VarintsRoundTrip) {
  for (int64_t v : {int64_t{0}, int64_t{1}, int64_t{-1}, int64_t{63}, int64_t{-64}, int64_t{64},
                    int64_t{300}, int64_t{-300}, int64_t{std::numeric_limits<int32_t>::max()},
                    int64_t{std::numeric_limits<int32_t>::min()}}) {
    SCOPED_TRACE(v);
    const std::string v32 = Varint(static_cast<int32_t>(v));
    const std::string v64 = Varlong(v * 4096);
    Reader r32(v32);
    int32_t got32 = 0;
    EXPECT_TRUE(r32.Varint(got32));
    EXPECT_EQ(got32, v);
    EXPECT_EQ(r32.remaining(), 0u);
    Reader r64(v64);
    int64_t got64 = 0;
    EXPECT_TRUE(r64.Varlong(got64));
    EXPECT_EQ(got64, v * 4096);
  }
  const std::string min64 = Varlong(std::numeric_limits<int64_t>::min());
  Reader r(min64);
  int64_t got = 0;
  EXPECT_TRUE(r.Varlong(got));
  EXPECT_EQ(got, std::numeric_limits<int64_t>::min());
}

TEST(KafkaReader, VarintsTooLongAreBadAndCutOnesShort) {
  int32_t v = 0;
  Reader too_long("\xff\xff\xff\xff\xff\x01");
  EXPECT_FALSE(too_long.Varint(v));
  EXPECT_TRUE(too_long.bad());
  Reader cut("\xff\xff");
  EXPECT_FALSE(cut.Varint(v));
  EXPECT_TRUE(cut.short_read());
  EXPECT_EQ(cut.remaining(), 2u);
  // Sticky: later reads fail too.
  int16_t x = 0;
  Reader r("\x80");
  EXPECT_FALSE(r.Varint(v));
  EXPECT_FALSE(Reader(r).I16(x));
  int64_t l = 0;
  const std::string eleven_bytes = std::string(10, '\x80') + "\x01";
  Reader eleven(eleven_bytes);
  EXPECT_FALSE(eleven.Varlong(l));
  EXPECT_TRUE(eleven.bad());
}

TEST(KafkaReader, StringsAndArrays) {
  std::string_view s;
  const std::string bytes = Str("abc") + Str(std::nullopt) + Str("xy", true) +
                            Str(std::nullopt, true) + Count(-1, false) + Count(-1, true) +
                            Count(3, true) + I16(-2);
  Reader r(bytes);
  EXPECT_TRUE(r.String(s, false));
  EXPECT_EQ(s, "abc");
  EXPECT_TRUE(r.String(s, true));
  EXPECT_EQ(s, "");
  EXPECT_TRUE(r.CompactString(s, false));
  EXPECT_EQ(s, "xy");
  EXPECT_TRUE(r.CompactString(s, true));
  EXPECT_EQ(s, "");
  uint32_t n = 7;
  EXPECT_TRUE(r.ArrayCount(false, n, true));
  EXPECT_EQ(n, 0u);
  EXPECT_TRUE(r.ArrayCount(true, n, true));
  EXPECT_EQ(n, 0u);
  EXPECT_TRUE(r.ArrayCount(true, n, false));
  EXPECT_EQ(n, 3u);
  EXPECT_FALSE(r.String(s, true));  // -2
  EXPECT_TRUE(r.bad());

  const std::string null_string = Str(std::nullopt);
  Reader null_not_allowed(null_string);
  EXPECT_FALSE(null_not_allowed.String(s, false));
  EXPECT_TRUE(null_not_allowed.bad());
  const std::string compact_null_count = Count(-1, true);
  Reader compact_null(compact_null_count);
  EXPECT_FALSE(compact_null.ArrayCount(true, n, false));
  EXPECT_TRUE(compact_null.bad());
  const std::string overrun_bytes = Str("abcdef").substr(0, 5);
  Reader overrun(overrun_bytes);
  EXPECT_FALSE(overrun.String(s, false));
  EXPECT_TRUE(overrun.short_read());
}

TEST(KafkaReader, TaggedFields) {
  const std::string bytes = Tags(true, true) + Tags(true) + "\x02";
  Reader r(bytes);
  EXPECT_TRUE(r.SkipTaggedFields());
  EXPECT_TRUE(r.SkipTaggedFields());
  EXPECT_EQ(r.remaining(), 1u);
  const std::string huge_count = UVarint(0xffffffff);
  Reader huge(huge_count);  // a count of 2^32-1 fields: ends at the bytes' end
  EXPECT_FALSE(huge.SkipTaggedFields());
  EXPECT_TRUE(huge.short_read());
}

// ---------------------------------------------------------------------------------------------
// Frame records

TEST(KafkaFrame, Headers) {
  const std::string req = Request(kApiProduce, 9, 0x01020304, "rest");
  const FrameHeader h = DecodeFrameHeader(Side::kRequests, req);
  EXPECT_EQ(h.size, 12u);
  EXPECT_EQ(h.api_key, kApiProduce);
  EXPECT_EQ(h.api_version, 9);
  EXPECT_EQ(h.correlation_id, 0x01020304);
  EXPECT_EQ(RestLength(Side::kRequests, h), 4u);
  const FrameHeader r = DecodeFrameHeader(Side::kResponses, Response(-7, "abc"));
  EXPECT_EQ(r.size, 7u);
  EXPECT_EQ(r.correlation_id, -7);
  EXPECT_EQ(RestLength(Side::kResponses, r), 3u);
}

TEST(KafkaFrame, CopyRule) {
  auto request = [](uint32_t size, int16_t api_key) {
    FrameHeader h;
    h.size = size;
    h.api_key = api_key;
    return h;
  };
  // Requests: only Produce has a body; size counts the 8 header bytes after it.
  EXPECT_EQ(RecordBodyLength(Side::kRequests, request(108, kApiProduce), 4096), 100u);
  EXPECT_EQ(RecordBodyLength(Side::kRequests, request(108, kApiFetch), 4096), 0u);
  EXPECT_EQ(RecordBodyLength(Side::kRequests, request(10000, kApiProduce), 4096), 4096u);
  EXPECT_EQ(RecordBodyLength(Side::kRequests, request(8, kApiProduce), 4096), 0u);
  EXPECT_EQ(RecordBodyLength(Side::kRequests, request(3, kApiProduce), 4096), 0u);
  EXPECT_EQ(RecordBodyLength(Side::kRequests, request(0xffffffff, kApiProduce), 4096), 4096u);
  // Responses: every one; size counts the correlation id.
  FrameHeader resp;
  resp.size = 4;
  EXPECT_EQ(RecordBodyLength(Side::kResponses, resp, 4096), 0u);
  resp.size = 2;
  EXPECT_EQ(RecordBodyLength(Side::kResponses, resp, 4096), 0u);
  resp.size = 50;
  EXPECT_EQ(RecordBodyLength(Side::kResponses, resp, 4096), 46u);
  resp.size = 0x80000000u;
  EXPECT_EQ(RecordBodyLength(Side::kResponses, resp, 64), 64u);
}

TEST(KafkaFrame, RecordsHelperAppliesTheRule) {
  const std::string wire = FetchRequest(11, 1) + Request(kApiProduce, 7, 2, std::string(50, 'p'));
  EXPECT_EQ(Requests(wire, 20), wire.substr(0, 12) + wire.substr(FetchRequest(11, 1).size(), 12) +
                                    std::string(20, 'p'));
}

// ---------------------------------------------------------------------------------------------
// Records

std::pair<Error, Pairs> Parse(const std::string& record_with_length) {
  Reader r(record_with_length);
  int32_t length = 0;
  EXPECT_TRUE(r.Varint(length));
  std::vector<HeaderField> fields;
  const Error e = ParseRecord(r.rest(), fields);
  Pairs pairs;
  for (const HeaderField& f : fields) pairs.emplace_back(f.name, f.value);
  return {e, pairs};
}

TEST(KafkaRecord, Headers) {
  EXPECT_EQ(Parse(Record(Rec{})), (std::pair<Error, Pairs>{Error::kNone, {}}));
  EXPECT_EQ(Parse(Record(Rec{.key = "k",
                             .value = std::nullopt,
                             .headers = {{"a", "1"}, {"b", std::nullopt}, {"c", " 3 "}}})),
            (std::pair<Error, Pairs>{Error::kNone, {{"a", "1"}, {"b", ""}, {"c", "3"}}}));
}

TEST(KafkaRecord, Malformed) {
  const std::string good = Record(Rec{.headers = {{"a", "1"}, {"b", "2"}}});
  Reader r(good);
  int32_t length = 0;
  ASSERT_TRUE(r.Varint(length));
  const std::string body(r.rest());
  std::vector<HeaderField> fields;
  // Every cut of the body is malformed (the length says more), with the headers read before.
  for (std::size_t n = 0; n < body.size(); ++n) {
    fields.clear();
    EXPECT_EQ(ParseRecord(std::string_view(body).substr(0, n), fields), Error::kBadRecord) << n;
    EXPECT_LE(fields.size(), 2u);
  }
  // A byte too many.
  fields.clear();
  EXPECT_EQ(ParseRecord(body + "x", fields), Error::kBadRecord);
  EXPECT_EQ(fields.size(), 2u);
  // Negative lengths and counts.
  const std::string prefix = I8(0) + Varlong(0) + Varint(0);
  for (const std::string& bad :
       {prefix + Varint(-2) + Varint(-1) + Varint(0), prefix + Varint(-1) + Varint(-5) + Varint(0),
        prefix + Varint(-1) + Varint(-1) + Varint(-1),
        prefix + Varint(-1) + Varint(-1) + Varint(1) + Varint(-1) + Varint(-1)}) {
    fields.clear();
    EXPECT_EQ(ParseRecord(bad, fields), Error::kBadRecord) << Hex(bad);
  }
}

// WalkRecordSet over `copied` (the first `cut` bytes of `records`), as a produce or a fetch.
Strings Walk(const std::string& records, bool fetch, std::size_t cut = std::string::npos) {
  Recorder rec;
  std::vector<HeaderField> fields;
  FrameReports reports(rec, fields, Error::kTruncated);
  Place place;
  place.kind = fetch ? MessageKind::kFetch : MessageKind::kProduce;
  place.topic = "t";
  WalkRecordSet(std::string_view(records).substr(0, cut), records.size(), fetch, place, reports);
  if (reports.cut()) rec.lines.emplace_back("(cut)");
  return rec.lines;
}

TEST(KafkaRecordSet, BatchesBackToBack) {
  const std::string records = Batch({Traced(1), Rec{}}) + Batch({Traced(2)});
  EXPECT_EQ(Walk(records, false),
            (Strings{"produce t/0 c0 v0 complete {traceparent}={" + Traceparent(1) + "}",
                     "produce t/0 c0 v0 complete",
                     "produce t/0 c0 v0 complete {traceparent}={" + Traceparent(2) + "}"}));
  EXPECT_EQ(Walk("", false), (Strings{}));
}

TEST(KafkaRecordSet, EveryCutIsReportedOnceAndNeverOverCounts) {
  std::vector<Rec> recs;
  for (int i = 1; i <= 4; ++i) recs.push_back(Traced(i, std::string(i * 10, 'v')));
  const std::string records =
      Batch(recs) + Batch({Traced(5)}, {.attributes = 2, .raw = "zz"}) + Batch({Traced(6)});
  const std::size_t first = Batch(recs).size();
  for (std::size_t cut = 0; cut < records.size(); ++cut) {
    SCOPED_TRACE(cut);
    for (bool fetch : {false, true}) {
      const Strings lines = Walk(records, fetch, cut);
      ASSERT_FALSE(lines.empty());
      EXPECT_EQ(lines.back(), "(cut)");
      const auto truncated = std::count(lines.begin(), lines.end(), "error truncated");
      EXPECT_EQ(truncated, 1);
      // Never more messages than records; all of them once the first batch's header is seen.
      std::size_t messages = 0;
      for (const std::string& l : lines)
        messages += l.rfind("produce", 0) == 0 || l.rfind("fetch", 0) == 0;
      EXPECT_LE(messages, 6u);
      if (cut >= kBatchHeaderLen && cut < first) {
        EXPECT_EQ(messages, 4u);
      }
    }
  }
  EXPECT_EQ(Walk(records, true).size(), 7u);  // 4 + compressed error + 1 + 1
}

TEST(KafkaRecordSet, PartialLastBatch) {
  const std::string last = Batch({Traced(2)});
  for (std::size_t n = 1; n < last.size(); ++n) {
    SCOPED_TRACE(n);
    const std::string records = Batch({Traced(1)}) + last.substr(0, n);
    // In a fetch, the broker's cut: not delivered, not an error. In a produce: a bad batch.
    EXPECT_EQ(Walk(records, true).size(), 1u);
    EXPECT_EQ(Walk(records, false).back(), "error bad_batch");
  }
}

TEST(KafkaRecordSet, BadBatchHeaders) {
  std::string negative = Batch({Traced()});
  negative.replace(8, 4, I32(-1));
  std::string short_length = Batch({Traced()});
  short_length.replace(8, 4, I32(10));
  short_length.resize(22);
  std::string negative_count = Batch({Traced()}, {.count = -3});
  std::string magic3 = Batch({Traced()}, {.magic = 3});
  for (const std::string& bad : {negative, short_length, negative_count, magic3}) {
    EXPECT_EQ(Walk(bad + Batch({Traced()}), true), (Strings{"error bad_batch"}));
  }
}

// ---------------------------------------------------------------------------------------------
// Frames: produce and fetch bodies directly

Strings Produce(const std::string& wire, std::size_t cap = kDefaultCap) {
  const FrameHeader h = DecodeFrameHeader(Side::kRequests, wire);
  const std::string_view rest = std::string_view(wire).substr(kRequestHeaderLen);
  Recorder rec;
  std::vector<HeaderField> fields;
  FrameReports reports(rec, fields, Error::kTruncated);
  const ProduceSummary s = ParseProduceRequest(h, rest.substr(0, cap), rest.size() <= cap, reports);
  rec.lines.push_back("acks " + (s.acks_read ? std::to_string(s.acks) : std::string("?")));
  return rec.lines;
}

TEST(KafkaProduce, AcksAndEveryCut) {
  const std::string wire =
      ProduceRequest(11, 4, {{"t", {{0, Batch({Traced(1), Traced(2)})}, {1, Batch({Traced(3)})}}}},
                     {.acks = 0, .transactional_id = "tx", .tagged = true});
  const Strings whole = Produce(wire);
  EXPECT_EQ(whole.size(), 4u);
  EXPECT_EQ(whole.back(), "acks 0");
  for (std::size_t cap = 0; cap < wire.size() - kRequestHeaderLen; ++cap) {
    SCOPED_TRACE(cap);
    const Strings lines = Produce(wire, cap);
    EXPECT_LE(std::count(lines.begin(), lines.end(), "error truncated"), 1);
    EXPECT_EQ(std::count(lines.begin(), lines.end(), "error bad_frame"), 0);
    EXPECT_LE(lines.size(), 5u);
  }
}

TEST(KafkaProduce, WholeFramesTooShortAreBad) {
  const std::string wire = ProduceRequest(7, 4, {{"t", {{0, Batch({Traced(1)})}}}});
  // The same bytes, but the request's size says they are all of it.
  for (std::size_t n = 0; n + kRequestHeaderLen < wire.size(); ++n) {
    SCOPED_TRACE(n);
    std::string cut = wire.substr(0, kRequestHeaderLen + n);
    cut.replace(0, 4, I32(static_cast<int32_t>(cut.size() - 4)));
    const Strings lines = Produce(cut);
    EXPECT_EQ(std::count(lines.begin(), lines.end(), "error truncated"), 0);
    EXPECT_GE(std::count(lines.begin(), lines.end(), "error bad_frame") +
                  std::count(lines.begin(), lines.end(), "error bad_batch") +
                  std::count(lines.begin(), lines.end(), "error bad_record"),
              1);
  }
}

TEST(KafkaFetch, AbortedTransactionsAndTaggedFields) {
  for (int16_t v : {int16_t{4}, int16_t{7}, int16_t{11}, int16_t{12}, int16_t{16}}) {
    SCOPED_TRACE(v);
    const std::string wire = FetchResponse(v, 9, {{"t", {{2, Batch({Traced()}), 3}}}}, true);
    Recorder rec;
    std::vector<HeaderField> fields;
    FrameReports reports(rec, fields, Error::kTruncated);
    ParseFetchResponse(v, 9, std::string_view(wire).substr(kResponseHeaderLen), true, reports);
    const std::string topic = FetchTopicIds(v) ? "id:" + Hex(std::string(16, '\x11')) : "t";
    EXPECT_EQ(rec.lines, (Strings{"fetch " + topic + "/2 c9 v" + std::to_string(v) +
                                  " complete {traceparent}={" + Traceparent() + "}"}));
  }
}

// ---------------------------------------------------------------------------------------------
// Requests in flight

TEST(KafkaInFlight, QueueInOrder) {
  InFlight f(4);
  EXPECT_TRUE(f.Add({1, 1, 11}));
  EXPECT_TRUE(f.Add({2, 3, 9}));
  EXPECT_TRUE(f.Add({3, 1, 12}));
  const auto two = f.Take(2);
  ASSERT_TRUE(two.has_value());
  EXPECT_EQ(two->api_key, 3);
  EXPECT_EQ(f.size(), 1u);  // 1 was forgotten with it
  EXPECT_FALSE(f.Take(1).has_value());
  EXPECT_EQ(f.size(), 1u);
  const auto three = f.Take(3);
  ASSERT_TRUE(three.has_value());
  EXPECT_EQ(three->api_version, 12);
  EXPECT_EQ(f.size(), 0u);
}

TEST(KafkaInFlight, BoundedAndWrapping) {
  InFlight f(3);
  for (int32_t i = 0; i < 3; ++i) EXPECT_TRUE(f.Add({i, 0, 0}));
  for (int32_t i = 3; i < 100; ++i) {
    EXPECT_FALSE(f.Add({i, 0, 0}));  // the oldest gives way
    EXPECT_EQ(f.size(), 3u);
    EXPECT_LE(f.memory_bytes(), InFlight::MemoryBound(3));
  }
  EXPECT_FALSE(f.Take(96).has_value());
  EXPECT_EQ(f.Take(97)->correlation_id, 97);
  EXPECT_EQ(f.Take(99)->correlation_id, 99);
  EXPECT_EQ(f.size(), 0u);

  InFlight none(0);
  EXPECT_FALSE(none.Add({1, 0, 0}));
  EXPECT_EQ(none.size(), 0u);
  EXPECT_FALSE(none.Take(1).has_value());

  InFlight big;
  for (int32_t i = 0; i < 5000; ++i) big.Add({i, 0, 0});
  EXPECT_EQ(big.size(), InFlight::kDefaultMax);
  EXPECT_LE(big.memory_bytes(), InFlight::MemoryBound(InFlight::kDefaultMax));
  EXPECT_EQ(big.Take(4999)->correlation_id, 4999);
  EXPECT_EQ(big.memory_bytes(), 0u);  // drained past kRetainEntries: released
  big.Add({1, 0, 0});
  big.Clear();
  EXPECT_EQ(big.memory_bytes(), 0u);
}

}  // namespace
}  // namespace tracegap::kafka
