// Tests the Kafka decoder (daemon/protocols/kafka/connection.h) on frame records as the kernel
// emits them (kafka_test_util.h builds the wire). In this order:
//   produce requests        records, headers, topics and partitions, every version from 3
//   fetch responses         batches, every version from 4, compressed and control batches
//   the --max-header-bytes cap   batches cut by it, what is still counted
//   request/response matching    correlation ids, acks=0, in-flight limit
//   malformed input         unsupported versions, bad records, bad batches and frames
//   splits, loss, close     any split gives the same reports; loss and close mid-frame
//   memory                  huge counts allocate nothing huge; no copies; headers released
// The wire format itself is tested in kafka_wire_test.cc.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "kafka_test_util.h"
#include "protocols/kafka/connection.h"
#include "protocols/kafka/errors.h"
#include "protocols/kafka/record_batch.h"
#include "tracegap.h"

namespace tracegap::kafka {
namespace {

using namespace testutil;  // NOLINT: the wire builders and Recorder
using Strings = std::vector<std::string>;

constexpr uint16_t kLost = TG_DATA_LOST_BEFORE;
constexpr uint16_t kCont = TG_DATA_CONTINUATION;

// One data event: of the requests or the responses, as wire bytes (turned into frame records).
struct Event {
  bool requests;
  std::string wire;
};
Event Req(std::string wire) { return {true, std::move(wire)}; }
Event Resp(std::string wire) { return {false, std::move(wire)}; }

// Feeds each event whole and returns what was reported, Close() included.
Strings Decode(const std::vector<Event>& events, std::size_t cap = kDefaultCap) {
  Connection c(cap);
  Recorder rec;
  for (const Event& e : events) {
    c.Feed(e.requests, Records(e.wire, e.requests ? Side::kRequests : Side::kResponses, cap), 0,
           rec);
    EXPECT_EQ(c.requests().buffered_bytes() + c.responses().buffered_bytes(), 0u);
  }
  c.Close(rec);
  return rec.lines;
}

std::string Tp(int n = 1) { return " {traceparent}={" + Traceparent(n) + "}"; }

std::string Produce7(int32_t correlation_id, const std::vector<Topic>& topics,
                     const ProduceOptions& o = {}) {
  return ProduceRequest(7, correlation_id, topics, o);
}

TEST(KafkaDecoder, ProduceOfThreeRecordsWithTraceparent) {
  const std::string batch = Batch({Traced(1), Traced(2), Traced(3)});
  EXPECT_EQ(
      Decode({Req(ApiVersionsRequest(1) + Produce7(2, {{"orders", {{0, batch}}}}))}),
      (Strings{"produce orders/0 c2 v7 complete" + Tp(1), "produce orders/0 c2 v7 complete" + Tp(2),
               "produce orders/0 c2 v7 complete" + Tp(3)}));
}

TEST(KafkaDecoder, RecordsWithoutHeadersAreComplete) {
  const std::string batch =
      Batch({Rec{}, Rec{.key = "k", .value = std::nullopt}, Rec{.value = std::string(300, 'v')}});
  EXPECT_EQ(Decode({Req(Produce7(5, {{"t", {{3, batch}}}}))}),
            (Strings{"produce t/3 c5 v7 complete", "produce t/3 c5 v7 complete",
                     "produce t/3 c5 v7 complete"}));
}

TEST(KafkaDecoder, SeveralHeadersWithANullValue) {
  const Rec r{.key = "key",
              .headers = {{"traceparent", Traceparent()},
                          {"tracestate", " rojo=00f067aa0ba902b7\t"},
                          {"x-null", std::nullopt},
                          {"", "empty-key"},
                          {"bin", std::string("\x00\xff", 2)}}};
  EXPECT_EQ(Decode({Req(Produce7(1, {{"t", {{0, Batch({r})}}}}))}),
            (Strings{"produce t/0 c1 v7 complete" + Tp() +
                     " {tracestate}={rojo=00f067aa0ba902b7} {x-null}={} {}={empty-key} {bin}={" +
                     std::string("\x00\xff", 2) + "}"}));
}

TEST(KafkaDecoder, TwoTopicsAndPartitions) {
  const std::vector<Topic> topics = {
      {"orders", {{0, Batch({Traced(1)})}, {7, Batch({Traced(2), Rec{}})}}},
      {"payments", {{2, std::nullopt}, {3, Batch({Traced(3)})}}},
  };
  EXPECT_EQ(
      Decode({Req(Produce7(9, topics))}),
      (Strings{"produce orders/0 c9 v7 complete" + Tp(1), "produce orders/7 c9 v7 complete" + Tp(2),
               "produce orders/7 c9 v7 complete", "produce payments/3 c9 v7 complete" + Tp(3)}));
}

TEST(KafkaDecoder, EveryProduceVersionFromThree) {
  for (int16_t v = kMinProduceVersion; v <= kMaxProduceVersion; ++v) {
    SCOPED_TRACE(v);
    const std::string records = Batch({Traced(v)});
    const std::string topic = ProduceTopicIds(v) ? "id:" + Hex(std::string(16, '\x11')) : "t";
    const std::string want =
        "produce " + topic + "/1 c3 v" + std::to_string(v) + " complete" + Tp(v);
    // With a transactional id and, in flexible versions, a tagged field in every section.
    const ProduceOptions o{.transactional_id = "tx-1", .tagged = true};
    EXPECT_EQ(Decode({Req(ProduceRequest(v, 3, {{"t", {{1, records}, {2, std::nullopt}}}}, o))}),
              (Strings{want}));
  }
}

TEST(KafkaDecoder, FetchV11WithTwoBatchesAndATrailingPartialBatch) {
  const std::string next = Batch({Traced(9), Traced(10)});
  const std::string records = Batch({Traced(1), Traced(2)}, {.base_offset = 10}) +
                              Batch({Traced(3)}, {.base_offset = 12}) +
                              next.substr(0, next.size() - 5);  // the broker's cut
  EXPECT_EQ(
      Decode({Req(ApiVersionsRequest(1) + FetchRequest(11, 2)),
              Resp(Response(1, std::string(30, 'a')) +
                   FetchResponse(11, 2, {{"orders", {{4, records, 2}}}}))}),
      (Strings{"fetch orders/4 c2 v11 complete" + Tp(1), "fetch orders/4 c2 v11 complete" + Tp(2),
               "fetch orders/4 c2 v11 complete" + Tp(3)}));
  // A partial batch shorter than its length field: the same.
  EXPECT_EQ(Decode({Req(FetchRequest(11, 2)),
                    Resp(FetchResponse(11, 2, {{"o", {{0, Batch({Traced(1)}) + "\0\0\0\0"}}}}))}),
            (Strings{"fetch o/0 c2 v11 complete" + Tp(1)}));
}

TEST(KafkaDecoder, EveryFetchVersionFromFour) {
  for (int16_t v = kMinFetchVersion; v <= kMaxFetchVersion; ++v) {
    SCOPED_TRACE(v);
    const std::string topic = FetchTopicIds(v) ? "id:" + Hex(std::string(16, '\x11')) : "t";
    const std::string prefix = "fetch " + topic + "/";
    const std::string version = " c8 v" + std::to_string(v) + " complete";
    const std::vector<Topic> topics = {
        {"t", {{0, Batch({Traced(1)}), 2}, {1, std::nullopt, 0}, {5, Batch({Traced(2)}), 1}}}};
    EXPECT_EQ(Decode({Req(FetchRequest(v, 8)), Resp(FetchResponse(v, 8, topics, true))}),
              (Strings{prefix + "0" + version + Tp(1), prefix + "5" + version + Tp(2)}));
  }
}

TEST(KafkaDecoder, CompressedBatchesAreCountedIncomplete) {
  const std::string gzip = Batch({}, {.attributes = 1, .count = 3, .raw = std::string(50, 'z')});
  const std::string zstd = Batch({}, {.attributes = 4, .count = 2, .raw = std::string(20, 'z')});
  EXPECT_EQ(
      Decode({Req(Produce7(4, {{"t", {{0, gzip}}}}) + FetchRequest(11, 5)),
              Resp(FetchResponse(11, 5, {{"t", {{1, zstd + Batch({Traced()})}}}}))}),
      (Strings{"error compressed", "produce t/0 c4 v7 incomplete:compressed",
               "produce t/0 c4 v7 incomplete:compressed", "produce t/0 c4 v7 incomplete:compressed",
               "error compressed", "fetch t/1 c5 v11 incomplete:compressed",
               "fetch t/1 c5 v11 incomplete:compressed", "fetch t/1 c5 v11 complete" + Tp()}));
}

TEST(KafkaDecoder, ControlBatchesHaveNoMessages) {
  const std::string marker = Batch({Rec{.key = std::string("\0\0\0\0", 4)}}, {.attributes = 0x30});
  EXPECT_EQ(Decode({Req(FetchRequest(11, 1)),
                    Resp(FetchResponse(11, 1, {{"t", {{0, Batch({Traced()}) + marker}}}}))}),
            (Strings{"fetch t/0 c1 v11 complete" + Tp()}));
}

// A produce whose single batch of five 200-byte records is cut by the cap after the second one.
TEST(KafkaDecoder, CapCutsABatch) {
  std::vector<Rec> recs;
  for (int i = 1; i <= 5; ++i) recs.push_back(Traced(i, std::string(200, 'v')));
  const std::string request = Produce7(6, {{"t", {{0, Batch(recs)}, {1, Batch({Traced(9)})}}}});
  // The records start 12 + 14 + 2 + 2 + 4 + 4 + 3 + 4 + 4 + 4 + 61 = 114 bytes into the frame.
  const std::size_t record_len = Record(recs[0]).size();
  const std::size_t cap = 114 - 12 + 2 * record_len + 10;
  EXPECT_EQ(Decode({Req(request)}, cap),
            (Strings{"produce t/0 c6 v7 complete" + Tp(1), "produce t/0 c6 v7 complete" + Tp(2),
                     "error truncated", "produce t/0 c6 v7 incomplete:truncated",
                     "produce t/0 c6 v7 incomplete:truncated",
                     "produce t/0 c6 v7 incomplete:truncated"}));
  // Cut inside the batch header: its records cannot be counted; only the cut is reported.
  EXPECT_EQ(Decode({Req(request)}, 114 - 12 - 10), (Strings{"error truncated"}));
  // Cut before acks: the request is still in flight (its acks unknown), and nothing is counted.
  EXPECT_EQ(Decode({Req(request), Resp(Response(6, "ok"))}, 20), (Strings{"error truncated"}));
}

TEST(KafkaDecoder, CutAfterTheLastRecordsLosesNothing) {
  // A flexible produce whose trailing tagged fields (3 sections of 6 bytes) are cut off.
  const std::string request =
      ProduceRequest(9, 1, {{"t", {{0, Batch({Traced()})}}}}, {.tagged = true});
  const std::size_t cap = request.size() - 12 - 18;
  EXPECT_EQ(Decode({Req(request)}, cap), (Strings{"produce t/0 c1 v9 complete" + Tp()}));
  // One byte less: inside the record: cut.
  EXPECT_EQ(Decode({Req(request)}, cap - 1),
            (Strings{"error truncated", "produce t/0 c1 v9 incomplete:truncated"}));
}

TEST(KafkaDecoder, FetchCutByTheCapReportsWhatItCanCount) {
  std::vector<Rec> recs;
  for (int i = 1; i <= 4; ++i) recs.push_back(Traced(i, std::string(1000, 'v')));
  const std::vector<Topic> topics = {
      {"t", {{0, Batch(recs) + Batch(recs)}, {1, Batch({Traced(7)})}}}, {"u", {{0, Batch(recs)}}}};
  const Strings lines = Decode({Req(FetchRequest(11, 3)), Resp(FetchResponse(11, 3, topics))});
  // At the default cap (4096 bytes): three records, then the fourth cut: counted; the batches and
  // partitions after it cannot be.
  EXPECT_EQ(lines,
            (Strings{"fetch t/0 c3 v11 complete" + Tp(1), "fetch t/0 c3 v11 complete" + Tp(2),
                     "fetch t/0 c3 v11 complete" + Tp(3), "error truncated",
                     "fetch t/0 c3 v11 incomplete:truncated"}));
}

TEST(KafkaDecoder, ResponsesAreMatchedByCorrelationId) {
  const std::string batch = Batch({Traced()});
  const Strings lines = Decode({
      Req(ApiVersionsRequest(1) + MetadataRequest(2) + FetchRequest(11, 3) + MetadataRequest(4) +
          Produce7(5, {{"p", {{0, batch}}}}, {.acks = 0}) + FetchRequest(12, 6)),
      Resp(Response(1, "versions") + MetadataResponse(2) +
           FetchResponse(11, 3, {{"a", {{0, batch}}}}) + MetadataResponse(4) +
           FetchResponse(12, 6, {{"b", {{1, batch}}}})),
      // Answers to nothing in flight: a repeated id, an id never sent.
      Resp(MetadataResponse(4) + FetchResponse(11, 77, {{"c", {{0, batch}}}})),
  });
  EXPECT_EQ(lines, (Strings{"produce p/0 c5 v7 complete" + Tp(), "fetch a/0 c3 v11 complete" + Tp(),
                            "fetch b/1 c6 v12 complete" + Tp(), "error unmatched_response",
                            "error unmatched_response"}));
}

TEST(KafkaDecoder, AResponseForgetsTheRequestsBeforeIt) {
  // Kafka answers in order: when 3 is answered, 1 and 2 never will be (their responses lost).
  Connection c;
  Recorder rec;
  c.Feed(true, Requests(FetchRequest(11, 1) + FetchRequest(11, 2) + FetchRequest(11, 3)), 0, rec);
  EXPECT_EQ(c.in_flight().size(), 3u);
  c.Feed(false, Responses(FetchResponse(11, 3, {})), kLost, rec);
  EXPECT_EQ(c.in_flight().size(), 0u);
  c.Feed(false, Responses(FetchResponse(11, 1, {})), 0, rec);
  EXPECT_EQ(rec.lines, (Strings{"error lost", "error unmatched_response"}));
}

TEST(KafkaDecoder, AcksZeroProducesAreNotInFlight) {
  Connection c;
  Recorder rec;
  for (int i = 0; i < 3000; ++i) {
    c.Feed(true, Requests(Produce7(i, {{"t", {{0, Batch({Rec{}})}}}}, {.acks = 0})), 0, rec);
  }
  EXPECT_EQ(c.in_flight().size(), 0u);
  EXPECT_EQ(rec.lines.size(), 3000u);
  EXPECT_EQ(rec.lines.back(), "produce t/0 c2999 v7 complete");
}

TEST(KafkaDecoder, TooManyInFlightForgetsTheOldest) {
  Connection c(kDefaultCap, 2);
  Recorder rec;
  c.Feed(true, Requests(FetchRequest(11, 1) + FetchRequest(11, 2) + FetchRequest(11, 3)), 0, rec);
  EXPECT_EQ(rec.lines, (Strings{"error too_many_in_flight"}));
  EXPECT_EQ(c.in_flight().size(), 2u);
  rec.lines.clear();
  const std::string batch = Batch({Traced()});
  c.Feed(false,
         Responses(FetchResponse(11, 1, {{"a", {{0, batch}}}}) +
                   FetchResponse(11, 2, {{"b", {{0, batch}}}}) +
                   FetchResponse(11, 3, {{"c", {{0, batch}}}})),
         0, rec);
  EXPECT_EQ(rec.lines, (Strings{"error unmatched_response", "fetch b/0 c2 v11 complete" + Tp(),
                                "fetch c/0 c3 v11 complete" + Tp()}));
}

TEST(KafkaDecoder, UnsupportedVersions) {
  const std::string batch = Batch({Traced()});
  EXPECT_EQ(Decode({Req(ProduceRequest(2, 1, {{"t", {{0, batch}}}}) +
                        ProduceRequest(14, 2, {{"t", {{0, batch}}}}) + FetchRequest(3, 3) +
                        FetchRequest(18, 4) + FetchRequest(17, 5)),
                    Resp(Response(1, "") + Response(2, "") + Response(3, std::string(20, 'x')) +
                         Response(4, std::string(20, 'x')) +
                         FetchResponse(17, 5, {{"t", {{0, batch}}}}))}),
            (Strings{"error unsupported_version", "error unsupported_version",
                     "error unsupported_version", "error unsupported_version",
                     "fetch id:" + Hex(std::string(16, '\x11')) + "/0 c5 v17 complete" + Tp()}));
}

TEST(KafkaDecoder, BadRecords) {
  // A record with a negative header count, one whose header key overruns it, then a good one:
  // each bad record is stepped over by its length.
  const std::string bad_count =
      Varint(7) + I8(0) + Varlong(0) + Varint(0) + Varint(-1) + Varint(-1) + Varint(-2) + I8(0);
  const std::string bad_key = Varint(8) + I8(0) + Varlong(0) + Varint(1) + Varint(-1) + Varint(-1) +
                              Varint(1) + Varint(50) + "x";
  const std::string raw = bad_count + bad_key + Record(Traced(3), 2);
  EXPECT_EQ(
      Decode({Req(Produce7(1, {{"t", {{0, Batch({}, {.count = 3, .raw = raw})}}}}))}),
      (Strings{"error bad_record", "produce t/0 c1 v7 incomplete:bad_record", "error bad_record",
               "produce t/0 c1 v7 incomplete:bad_record", "produce t/0 c1 v7 complete" + Tp(3)}));
  // A record whose length runs past the batch: it and the rest cannot be located.
  const std::string overrun = Record(Traced(1)) + Varint(500) + std::string(20, 'r');
  EXPECT_EQ(Decode({Req(Produce7(1, {{"t", {{0, Batch({}, {.count = 3, .raw = overrun})}}}}))}),
            (Strings{"produce t/0 c1 v7 complete" + Tp(1), "error bad_record",
                     "produce t/0 c1 v7 incomplete:bad_record",
                     "produce t/0 c1 v7 incomplete:bad_record"}));
  // More records counted than the batch holds, and bytes after the last counted one.
  EXPECT_EQ(Decode({Req(Produce7(1, {{"t",
                                      {{0, Batch({Traced(1)}, {.count = 4})},
                                       {1, Batch({Traced(2), Traced(3)}, {.count = 1})}}}}))}),
            (Strings{"produce t/0 c1 v7 complete" + Tp(1), "error bad_batch",
                     "produce t/1 c1 v7 complete" + Tp(2), "error bad_batch"}));
}

TEST(KafkaDecoder, BadBatchesAndFrames) {
  const std::string good = Batch({Traced()});
  EXPECT_EQ(
      Decode({Req(
          // A produce batch of magic 1, one that overruns its records field, and one too short:
          // each records field is stepped over by its length.
          Produce7(1, {{"t",
                        {{0, Batch({Traced()}, {.magic = 1})},
                         {1, good.substr(0, good.size() - 1)},
                         {2, "short"},
                         {3, good}}}}) +
          // A records length past the end of a request copied whole.
          Request(kApiProduce, 7, 2,
                  Str("c") + Str(std::nullopt) + I16(1) + I32(1) + I32(1) + Str("t") + I32(1) +
                      I32(0) + I32(1000) + good) +
          // Negative counts.
          Request(kApiProduce, 7, 3, Str("c") + Str(std::nullopt) + I16(1) + I32(1) + I32(-5)))}),
      (Strings{"error bad_batch", "error bad_batch", "error bad_batch",
               "produce t/3 c1 v7 complete" + Tp(), "error bad_frame", "error bad_frame"}));
}

TEST(KafkaDecoder, OldMessageSetsInAFetchAreSteppedOver) {
  // Offset, size, then a magic 1 message: crc, magic, attributes, timestamp, null key and value.
  const std::string old_set =
      I64(0) + I32(22) + I32(0) + I8(1) + I8(0) + I64(0) + I32(-1) + I32(-1);
  EXPECT_EQ(
      Decode({Req(FetchRequest(11, 1)),
              Resp(FetchResponse(11, 1, {{"t", {{0, old_set + old_set + Batch({Traced()})}}}}))}),
      (Strings{"error old_format", "fetch t/0 c1 v11 complete" + Tp()}));
}

// Streams with every kind of frame, to split anywhere.
std::string MixedRequests(std::size_t cap) {
  std::vector<Rec> big;
  for (int i = 1; i <= 6; ++i) big.push_back(Traced(i, std::string(150, 'v')));
  const std::string wire =
      ApiVersionsRequest(1) + MetadataRequest(2) +
      Produce7(3, {{"orders", {{0, Batch({Traced(1), Rec{}})}, {1, Batch(big)}}}}) +
      FetchRequest(11, 4) +
      ProduceRequest(9, 5, {{"f", {{2, Batch({Traced(5)})}}}}, {.tagged = true}) +
      FetchRequest(13, 6) +
      Produce7(7, {{"z", {{0, Batch({}, {.attributes = 3, .count = 2, .raw = "zz"})}}}}) +
      ProduceRequest(2, 8, {}) + FetchRequest(11, 9);
  return Requests(wire, cap);
}
std::string MixedResponses(std::size_t cap) {
  std::vector<Rec> big;
  for (int i = 1; i <= 6; ++i) big.push_back(Traced(10 + i, std::string(150, 'v')));
  const std::string wire =
      Response(1, std::string(60, 'a')) + MetadataResponse(2) + Response(3, std::string(30, 'p')) +
      FetchResponse(11, 4, {{"in", {{0, Batch(big) + Batch({Traced(20)})}}}}) + Response(5, "ok") +
      FetchResponse(13, 6, {{"x", {{3, Batch({Traced(30), Traced(31)}), 1}}}}, true) +
      Response(7, "") + Response(55, "stray") +
      FetchResponse(11, 9, {{"last", {{0, Batch({Traced(40)})}}}});
  return Responses(wire, cap);
}

TEST(KafkaDecoder, MixedStreamsReport) {
  // What SplitAtEveryPosition compares against, so that it cannot pass by reporting nothing.
  Connection c;
  Recorder rec;
  c.Feed(true, MixedRequests(kDefaultCap), 0, rec);
  c.Feed(false, MixedResponses(kDefaultCap), 0, rec);
  c.Close(rec);
  Strings want = {"produce orders/0 c3 v7 complete" + Tp(1), "produce orders/0 c3 v7 complete"};
  for (int i = 1; i <= 6; ++i) want.push_back("produce orders/1 c3 v7 complete" + Tp(i));
  want.push_back("produce f/2 c5 v9 complete" + Tp(5));
  want.push_back("error compressed");
  want.push_back("produce z/0 c7 v7 incomplete:compressed");
  want.push_back("produce z/0 c7 v7 incomplete:compressed");
  want.push_back("error unsupported_version");
  for (int i = 11; i <= 16; ++i) want.push_back("fetch in/0 c4 v11 complete" + Tp(i));
  want.push_back("fetch in/0 c4 v11 complete" + Tp(20));
  const std::string id = "fetch id:" + Hex(std::string(16, '\x11')) + "/3 c6 v13 complete";
  want.push_back(id + Tp(30));
  want.push_back(id + Tp(31));
  want.push_back("error unmatched_response");
  want.push_back("fetch last/0 c9 v11 complete" + Tp(40));
  EXPECT_EQ(rec.lines, want);
}

TEST(KafkaDecoder, SplitAtEveryPositionGivesTheSameReports) {
  for (std::size_t cap : {std::size_t{64}, std::size_t{200}, kDefaultCap}) {
    SCOPED_TRACE(cap);
    const std::string requests = MixedRequests(cap);
    const std::string responses = MixedResponses(cap);
    auto run = [&](std::size_t req_split, std::size_t resp_split) {
      Connection c(cap);
      Recorder rec;
      c.Feed(true, std::string_view(requests).substr(0, req_split), 0, rec);
      c.Feed(true, std::string_view(requests).substr(req_split), kCont, rec);
      EXPECT_LE(c.requests().buffered_bytes(), kRequestHeaderLen + cap);
      c.Feed(false, std::string_view(responses).substr(0, resp_split), 0, rec);
      EXPECT_LE(c.responses().buffered_bytes(), kResponseHeaderLen + cap);
      c.Feed(false, std::string_view(responses).substr(resp_split), kCont, rec);
      c.Close(rec);
      return rec.lines;
    };
    const Strings want = run(0, 0);
    ASSERT_GE(want.size(), 8u);
    for (std::size_t i = 0; i <= requests.size(); ++i) {
      ASSERT_EQ(run(i, 0), want) << "requests split at " << i;
    }
    for (std::size_t i = 0; i <= responses.size(); ++i) {
      ASSERT_EQ(run(0, i), want) << "responses split at " << i;
    }
    // One byte per event.
    Connection c(cap);
    Recorder rec;
    for (std::size_t i = 0; i < requests.size(); ++i) {
      c.Feed(true, std::string_view(requests).substr(i, 1), i == 0 ? 0 : kCont, rec);
      EXPECT_LE(c.memory_bytes(), Connection::MemoryBound(cap, InFlight::kDefaultMax));
    }
    for (std::size_t i = 0; i < responses.size(); ++i) {
      c.Feed(false, std::string_view(responses).substr(i, 1), i == 0 ? 0 : kCont, rec);
      EXPECT_LE(c.memory_bytes(), Connection::MemoryBound(cap, InFlight::kDefaultMax));
    }
    c.Close(rec);
    EXPECT_EQ(rec.lines, want);
  }
}

TEST(KafkaDecoder, LossReportsThePartialFrameThenSkipsContinuationsThenResumes) {
  Connection c;
  Recorder rec;
  std::vector<Rec> recs;
  for (int i = 1; i <= 3; ++i) recs.push_back(Traced(i, std::string(100, 'v')));
  c.Feed(true, Requests(FetchRequest(11, 1) + FetchRequest(11, 2)), 0, rec);
  const std::string response = Responses(FetchResponse(11, 1, {{"t", {{0, Batch(recs)}}}}));
  // Up to the middle of the second record, then a loss.
  const std::size_t second_record_middle = response.size() - Record(recs[2]).size() - 50;
  c.Feed(false, std::string_view(response).substr(0, second_record_middle), 0, rec);
  EXPECT_EQ(rec.lines, (Strings{}));
  EXPECT_GT(c.responses().buffered_bytes(), 0u);

  // Lost events, then one that begins inside a record: skipped whatever it holds.
  c.Feed(false, Responses(FetchResponse(11, 2, {{"u", {{0, Batch(recs)}}}})), kLost | kCont, rec);
  EXPECT_EQ(rec.lines,
            (Strings{"error lost", "fetch t/0 c1 v11 complete" + Tp(1),
                     "fetch t/0 c1 v11 incomplete:lost", "fetch t/0 c1 v11 incomplete:lost"}));
  EXPECT_EQ(c.responses().buffered_bytes(), 0u);
  EXPECT_TRUE(c.responses().skipping());
  EXPECT_EQ(c.in_flight().size(), 1u);   // the response to 1 took its request
  c.Feed(false, "garbage", kCont, rec);  // still inside: skipped
  EXPECT_TRUE(c.responses().skipping());

  // The first event without CONTINUATION begins at a record: resume there.
  rec.lines.clear();
  c.Feed(false, Responses(FetchResponse(11, 2, {{"u", {{0, Batch({Traced(5)})}}}})), 0, rec);
  EXPECT_FALSE(c.responses().skipping());
  EXPECT_EQ(rec.lines, (Strings{"fetch u/0 c2 v11 complete" + Tp(5)}));

  // The requests' direction has its own: a loss there, then the next request whole.
  rec.lines.clear();
  const std::string produce = Requests(Produce7(3, {{"p", {{0, Batch(recs)}}}}));
  c.Feed(true, std::string_view(produce).substr(0, 5), 0, rec);
  c.Feed(true, produce, kLost, rec);  // the partial header is dropped: nothing to report for it
  EXPECT_EQ(rec.lines,
            (Strings{"error lost", "produce p/0 c3 v7 complete" + Tp(1),
                     "produce p/0 c3 v7 complete" + Tp(2), "produce p/0 c3 v7 complete" + Tp(3)}));
}

TEST(KafkaDecoder, ContinuationIsIgnoredOutsideLoss) {
  Connection c;
  Recorder rec;
  c.Feed(true, Requests(Produce7(1, {{"t", {{0, Batch({Traced()})}}}})), kCont, rec);
  EXPECT_EQ(rec.lines.size(), 1u);
}

TEST(KafkaDecoder, CloseReportsThePartialFrame) {
  const std::string produce = Requests(Produce7(1, {{"t", {{0, Batch({Traced(1), Traced(2)})}}}}));
  Connection c;
  Recorder rec;
  c.Feed(true, std::string_view(produce).substr(0, produce.size() - 20), 0, rec);
  c.Close(rec);
  EXPECT_EQ(rec.lines, (Strings{"error closed", "produce t/0 c1 v7 complete" + Tp(1),
                                "produce t/0 c1 v7 incomplete:closed"}));
  EXPECT_EQ(c.memory_bytes(), 0u);
  EXPECT_EQ(c.in_flight().size(), 0u);
  EXPECT_EQ(c.requests().buffered_bytes(), 0u);

  // A partial header alone; then, as new, a clean close reports nothing.
  rec.lines.clear();
  c.Feed(false, std::string_view("\0\0\0", 3), 0, rec);
  c.Close(rec);
  EXPECT_EQ(rec.lines, (Strings{"error closed"}));
  rec.lines.clear();
  c.Feed(true, produce, 0, rec);
  c.Close(rec);
  EXPECT_EQ(rec.lines.size(), 2u);
}

TEST(KafkaDecoder, HugeCountsAndLengthsAllocateNothingHuge) {
  const std::size_t cap = 512;
  Connection c(cap);
  Recorder rec;
  std::string requests;
  // A produce declaring 4 GiB, its records field 2 GiB, its batch 2 GiB with 2^31-1 records.
  std::string batch = Batch({Traced(1)}, {.count = 0x7fffffff});
  batch.replace(8, 4, I32(0x7ffffff0));
  const std::string body = Str("c") + Str(std::nullopt) + I16(1) + I32(1) + I32(1) + Str("t") +
                           I32(1) + I32(0) + I32(0x7fffffff) + batch + Varint(1000) +
                           std::string(600, 'r');
  requests += I32(-1) + I16(kApiProduce) + I16(7) + I32(1) + body.substr(0, cap);
  // Topic and partition counts of 2^31-1 in a request copied whole.
  requests += Requests(Request(kApiProduce, 7, 2,
                               Str("c") + Str(std::nullopt) + I16(1) + I32(1) + I32(0x7fffffff) +
                                   Str("t") + I32(0x7fffffff) + I32(0) + I32(-1)));
  // A compressed batch claiming 2^31-1 records.
  requests += Requests(
      Produce7(3, {{"t", {{0, Batch({}, {.attributes = 2, .count = 0x7fffffff, .raw = "x"})}}}}));
  // Requests of other apis declaring 4 GiB: nothing follows their headers.
  requests += I32(-1) + I16(3) + I16(9) + I32(4);
  for (char ch : requests) {
    c.Feed(true, std::string_view(&ch, 1), 0, rec);
    EXPECT_LE(c.requests().buffered_bytes(), kRequestHeaderLen + cap);
    EXPECT_LE(c.memory_bytes(), Connection::MemoryBound(cap, InFlight::kDefaultMax));
  }
  // The first: one record read, the rest bounded by what the batch's bytes could hold
  // (2^31 / 7), then by the per-batch limit. The second: malformed. The third: the limit.
  ASSERT_GE(rec.lines.size(), 6u);
  EXPECT_EQ(rec.lines[0], "produce t/0 c1 v7 complete" + Tp(1));
  EXPECT_EQ(rec.lines[1], "error truncated");
  EXPECT_EQ(rec.lines[2], "produce t/0 c1 v7 incomplete:truncated");
  EXPECT_EQ(rec.lines[kMaxMessagesPerBatch + 1], "error too_many_records");
  EXPECT_EQ(rec.lines[kMaxMessagesPerBatch + 2], "error bad_frame");
  EXPECT_EQ(rec.lines[kMaxMessagesPerBatch + 3], "error compressed");
  EXPECT_EQ(rec.lines.back(), "error too_many_records");
  EXPECT_EQ(rec.lines.size(), 2 * kMaxMessagesPerBatch + 5);
}

TEST(KafkaDecoder, PerFrameLimit) {
  // Eight compressed batches of 1000 records each in one fetch: 4096 reported, then the limit.
  std::string records;
  for (int i = 0; i < 8; ++i) records += Batch({}, {.attributes = 1, .count = 1000, .raw = "x"});
  Connection c;
  Recorder rec;
  c.Feed(true, Requests(FetchRequest(11, 1)), 0, rec);
  c.Feed(false, Responses(FetchResponse(11, 1, {{"t", {{0, records}}}})), 0, rec);
  std::size_t messages = 0;
  std::size_t limits = 0;
  for (const std::string& l : rec.lines) {
    messages += l.rfind("fetch", 0) == 0 ? 1 : 0;
    limits += l == "error too_many_records" ? 1 : 0;
  }
  EXPECT_EQ(messages, kMaxMessagesPerFrame);
  EXPECT_EQ(limits, 1u);
}

TEST(KafkaDecoder, RecordsInsideOneEventAreNotCopied) {
  Connection c;
  Recorder rec;
  c.Feed(true, Requests(FetchRequest(11, 1) + Produce7(2, {{"t", {{0, Batch({Traced()})}}}})), 0,
         rec);
  c.Feed(false, Responses(FetchResponse(11, 1, {{"t", {{0, Batch({Traced()})}}}})), 0, rec);
  EXPECT_EQ(rec.lines.size(), 2u);
  EXPECT_EQ(c.requests().memory_bytes() + c.responses().memory_bytes(),
            2 * 1 * sizeof(HeaderField));  // each kept the one-entry fields vector
}

TEST(KafkaDecoder, ManyHeadersAreReleasedAfterTheFrame) {
  Rec r;
  for (int i = 0; i < 300; ++i) r.headers.push_back({"k" + std::to_string(i), "v"});
  Connection c;
  Recorder rec;
  c.Feed(true, Requests(Produce7(1, {{"t", {{0, Batch({r})}}}})), 0, rec);
  ASSERT_EQ(rec.lines.size(), 1u);
  EXPECT_NE(rec.lines[0].find("{k299}={v}"), std::string::npos);
  EXPECT_LE(c.memory_bytes(), DirectionDecoder::kRetainFields * sizeof(HeaderField) +
                                  DirectionDecoder::kRetainBytes +
                                  InFlight::MemoryBound(InFlight::kMinRing));
}

}  // namespace
}  // namespace tracegap::kafka
