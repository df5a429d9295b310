// The correlator's outcome rules (docs/semantics.md), driven by fabricated requests and a fake
// clock: each outcome, attribution by thread, active/linger windows, pid reuse and event loss.

#include "correlate/correlator.h"

#include <gtest/gtest.h>

#include <string>

namespace tracegap {
namespace {

constexpr uint64_t kMs = 1000000;  // ns
constexpr const char* kT1 = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
constexpr const char* kT1OtherParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01";
constexpr const char* kT2 = "00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-2222222222222222-01";
constexpr const char* kBad = "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01";

class CorrelatorTest : public ::testing::Test {
 protected:
  CorrelatorTest()
      : table_(100, std::chrono::minutes(10)),
        correlator_(
            CorrelatorConfig{}, table_,
            [this](uint32_t tgid, std::string_view comm) {
              ProcessIdentity who;
              who.key = ProcessKey{tgid, start_times_[tgid]};
              who.identity.comm = std::string(comm);
              return who;
            },
            [this] { return wall_ms_; }) {}

  // A request whose context comes from an optional traceparent value.
  RequestSeen Request(uint32_t tgid, uint32_t tid, uint64_t ts_ns, uint64_t conn, const char* tp,
                      bool complete = true) {
    headers_.clear();
    if (tp) headers_.push_back(HeaderField{"traceparent", tp});
    RequestSeen r;
    r.actor = Actor{tgid, tid, "svc", ts_ns};
    r.context = ClassifyContext(headers_);
    r.verdict = complete ? r.context.verdict : ContextVerdict::kUnknown;
    r.traceparent = tp ? tp : "";
    r.method = "GET";
    r.path = "/p";
    r.conn_id = conn;
    return r;
  }
  void In(uint32_t tgid, uint32_t tid, uint64_t ts, uint64_t conn, const char* tp,
          bool complete = true) {
    RequestSeen r = Request(tgid, tid, ts, conn, tp, complete);
    r.inbound = true;
    correlator_.OnInbound(r);
  }
  // A message delivered to a consumer (channel 1 of connection `conn`).
  void Deliver(uint32_t tgid, uint32_t tid, uint64_t ts, uint64_t conn, const char* tp) {
    RequestSeen r = Request(tgid, tid, ts, conn, tp);
    r.inbound = true;
    r.protocol = Protocol::kAmqp;
    r.method = "deliver";
    r.stream_id = 1;
    correlator_.OnInbound(r);
  }
  Outcome Out(uint32_t tgid, uint32_t tid, uint64_t ts, const char* tp, bool complete = true) {
    return correlator_.OnOutbound(Request(tgid, tid, ts, 999, tp, complete));
  }
  void Respond(uint32_t tgid, uint64_t ts, uint64_t conn, uint16_t status = 200) {
    ResponseSeen r;
    r.actor = Actor{tgid, 0, "svc", ts};
    r.inbound = true;
    r.status = status;
    r.conn_id = conn;
    correlator_.OnResponse(r);
  }

  std::map<uint32_t, uint64_t> start_times_;
  int64_t wall_ms_ = 1'700'000'000'000;
  std::vector<HeaderField> headers_;
  ProcessTable table_;
  Correlator correlator_;
};

TEST_F(CorrelatorTest, OriginWithoutInbound) {
  EXPECT_EQ(Out(1, 1, 10 * kMs, kT1), Outcome::kOrigin);
}

TEST_F(CorrelatorTest, UntracedUpstreamWhenInboundHadNoContext) {
  In(1, 1, 1 * kMs, 7, nullptr);
  EXPECT_EQ(Out(1, 1, 2 * kMs, nullptr), Outcome::kUntracedUpstream);
  EXPECT_EQ(Out(1, 1, 3 * kMs, kT2), Outcome::kUntracedUpstream);
}

TEST_F(CorrelatorTest, EachOutcomeFromAValidInbound) {
  In(1, 1, 1 * kMs, 7, kT1);
  EXPECT_EQ(Out(1, 1, 2 * kMs, kT1OtherParent), Outcome::kPropagated);
  EXPECT_EQ(Out(1, 1, 3 * kMs, kT1), Outcome::kPassthrough);
  EXPECT_EQ(Out(1, 1, 4 * kMs, nullptr), Outcome::kDropped);
  EXPECT_EQ(Out(1, 1, 5 * kMs, kT2), Outcome::kRestarted);
  EXPECT_EQ(Out(1, 1, 6 * kMs, kBad), Outcome::kMangled);
  EXPECT_EQ(Out(1, 1, 7 * kMs, kT1, /*complete=*/false), Outcome::kUnknown);

  auto p = table_.Find(1);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->inbound[static_cast<size_t>(ContextVerdict::kValid)], 1u);
  EXPECT_EQ(p->gaps(), 3u);
  EXPECT_DOUBLE_EQ(p->gap_ratio(), 3.0 / 5.0);
  ASSERT_EQ(p->gap_examples.size(), 3u);
  EXPECT_EQ(p->gap_examples[0].outcome, Outcome::kDropped);
  ASSERT_EQ(p->gap_examples[0].inbound_trace_ids.size(), 1u);
  EXPECT_EQ(p->gap_examples[0].inbound_trace_ids[0], "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(p->gap_examples[1].outbound_traceparent, kT2);
  EXPECT_EQ(p->gap_examples[0].path, "/p");
}

TEST_F(CorrelatorTest, ResponseEndsActiveAfterLinger) {
  In(1, 1, 0, 7, kT1);
  Respond(1, 10 * kMs, 7);
  EXPECT_EQ(Out(1, 1, 200 * kMs, nullptr), Outcome::kDropped) << "lingering 250 ms";
  EXPECT_EQ(Out(1, 1, 300 * kMs, nullptr), Outcome::kOrigin) << "linger over";
}

TEST_F(CorrelatorTest, InterimResponseDoesNotEndRequest) {
  In(1, 1, 0, 7, kT1);
  Respond(1, 1 * kMs, 7, 100);
  EXPECT_EQ(Out(1, 1, 1000 * kMs, nullptr), Outcome::kDropped);
}

TEST_F(CorrelatorTest, PipelinedResponsesEndRequestsInOrder) {
  In(1, 1, 0, 7, kT1);
  In(1, 2, 1 * kMs, 7, kT2);
  Respond(1, 2 * kMs, 7);  // answers kT1's request
  // Thread 2's own request (kT2) is still active and alone decides for thread 2.
  EXPECT_EQ(Out(1, 2, 600 * kMs, kT1), Outcome::kRestarted);
}

TEST_F(CorrelatorTest, ConnectionCloseEndsItsRequests) {
  In(1, 1, 0, 7, kT1);
  correlator_.OnConnectionClosed(7, 5 * kMs);
  EXPECT_EQ(Out(1, 1, 500 * kMs, nullptr), Outcome::kOrigin);
}

TEST_F(CorrelatorTest, ThreadPerRequestAttributionIsExact) {
  In(1, 10, 0, 7, kT1);
  In(1, 20, 1 * kMs, 8, kT2);
  EXPECT_EQ(Out(1, 20, 2 * kMs, kT2), Outcome::kPassthrough);
  EXPECT_EQ(Out(1, 10, 3 * kMs, kT2), Outcome::kRestarted) << "thread 10 serves kT1, not kT2";
  EXPECT_EQ(Out(1, 10, 4 * kMs, kT1OtherParent), Outcome::kPropagated);
}

TEST_F(CorrelatorTest, EventLoopUsesAllActiveRequests) {
  In(1, 1, 0, 7, kT1);
  In(1, 1, 1 * kMs, 8, kT2);
  EXPECT_EQ(Out(1, 1, 2 * kMs, kT1OtherParent), Outcome::kPropagated);
  EXPECT_EQ(Out(1, 1, 3 * kMs, kT2), Outcome::kPassthrough);
  // A worker thread that received nothing: all of the process's requests decide.
  EXPECT_EQ(Out(1, 99, 4 * kMs, kT1OtherParent), Outcome::kPropagated);
}

TEST_F(CorrelatorTest, UnknownInboundMakesOutcomeUnknownNotAGap) {
  In(1, 1, 0, 7, kT1, /*complete=*/false);
  EXPECT_EQ(Out(1, 1, 1 * kMs, nullptr), Outcome::kUnknown);
  In(1, 2, 2 * kMs, 8, kT1);
  // A valid inbound exists, but the outbound's trace may be the unknown one's.
  EXPECT_EQ(Out(1, 3, 3 * kMs, kT2), Outcome::kUnknown);
}

TEST_F(CorrelatorTest, ReusedPidStartsClean) {
  start_times_[1] = 100;
  In(1, 1, 0, 7, kT1);
  start_times_[1] = 200;  // pid 1 now belongs to a new process
  EXPECT_EQ(Out(1, 1, 1 * kMs, nullptr), Outcome::kOrigin);
  EXPECT_EQ(table_.size(), 2u);
}

TEST_F(CorrelatorTest, LostEventsTurnOriginIntoUnknown) {
  correlator_.OnEventsLost(100 * kMs);
  EXPECT_EQ(Out(1, 1, 200 * kMs, nullptr), Outcome::kUnknown);
  EXPECT_EQ(Out(1, 1, 2000 * kMs, nullptr), Outcome::kOrigin);
}

TEST_F(CorrelatorTest, UnansweredRequestExpires) {
  In(1, 1, 0, 7, kT1);
  EXPECT_EQ(Out(1, 1, 6ull * 60 * 1000 * kMs, nullptr), Outcome::kOrigin);
}

// Requests are pruned from the front of the list only; an answered request behind a long-running
// one has expired all the same and must not decide.
TEST_F(CorrelatorTest, ExpiredRequestBehindALongRunningOneDoesNotDecide) {
  In(1, 1, 0, 7, nullptr);  // long-running, no context: stays active
  In(1, 2, 1 * kMs, 8, kT1);
  Respond(1, 2 * kMs, 8);  // answered: lingers until 252 ms
  EXPECT_EQ(Out(1, 3, 100 * kMs, nullptr), Outcome::kDropped) << "kT1's request still lingers";
  EXPECT_EQ(Out(1, 3, 1000 * kMs, nullptr), Outcome::kUntracedUpstream)
      << "only the context-less one is left";
}

// The response search runs from the newest request back to the connection's last answered one.
TEST_F(CorrelatorTest, ResponsesOnInterleavedConnectionsEndTheirOwnRequests) {
  for (uint64_t i = 0; i < 50; ++i) {
    In(1, 1, i * 2 * kMs, 100 + i % 5, kT1);
    if (i >= 5) Respond(1, (i * 2 + 1) * kMs, 100 + (i - 5) % 5);  // answers the request 5 back
  }
  // The last five requests (one per connection) are still active; answer them one by one.
  for (uint64_t c = 0; c < 5; ++c) {
    EXPECT_EQ(Out(1, 2, 400 * kMs, nullptr), Outcome::kDropped) << c;
    Respond(1, 400 * kMs, 100 + c);
  }
  EXPECT_EQ(Out(1, 2, 651 * kMs, nullptr), Outcome::kOrigin)
      << "every request answered and expired";
}

// A process serving more requests at once than the cap keeps working: the oldest are let go.
TEST_F(CorrelatorTest, CapOnActiveRequestsEvictsTheOldest) {
  const size_t cap = CorrelatorConfig{}.max_active_per_process;
  In(1, 1, 0, 1, kT2);  // the oldest: evicted once the cap is passed
  for (uint64_t i = 1; i <= cap + 10; ++i) In(1, 2, i * 1000, 10 + i, kT1);
  EXPECT_EQ(Out(1, 3, 2 * kMs, kT2), Outcome::kRestarted) << "kT2's request was evicted";
  EXPECT_EQ(Out(1, 3, 2 * kMs, kT1OtherParent), Outcome::kPropagated);
}

TEST_F(CorrelatorTest, ForgetProcessDropsItsRequests) {
  In(1, 1, 0, 7, kT1);
  correlator_.ForgetProcess(1);
  EXPECT_EQ(Out(1, 1, 1 * kMs, nullptr), Outcome::kOrigin);
}

// A consumed message has no response: active until the next delivery on its channel, or for the
// message window (1 s by default) at most.
TEST_F(CorrelatorTest, ConsumedMessageIsServedUntilTheNextDelivery) {
  Deliver(1, 1, 1 * kMs, 7, kT1);
  EXPECT_EQ(Out(1, 1, 2 * kMs, kT1OtherParent), Outcome::kPropagated);
  EXPECT_EQ(Out(1, 1, 3 * kMs, nullptr), Outcome::kDropped);
  // The next message: the first one now only lingers, but still decides with it (a consumer
  // may still be working on it: it received the next one early).
  Deliver(1, 1, 10 * kMs, 7, kT2);
  EXPECT_EQ(Out(1, 1, 11 * kMs, kT1OtherParent), Outcome::kPropagated);
  EXPECT_EQ(Out(1, 1, 12 * kMs, "00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-4444444444444444-01"),
            Outcome::kPropagated);
  // Past the linger, the first one is done: its trace in a call is a restart.
  EXPECT_EQ(Out(1, 1, 300 * kMs, kT1OtherParent), Outcome::kRestarted);
  // A message without context, after the linger of those before it: nothing to carry on.
  Deliver(1, 1, 400 * kMs, 7, nullptr);
  EXPECT_EQ(Out(1, 1, 700 * kMs, nullptr), Outcome::kUntracedUpstream);
}

TEST_F(CorrelatorTest, ConsumedMessageExpiresAfterTheWindow) {
  Deliver(1, 1, 1 * kMs, 7, kT1);
  EXPECT_EQ(Out(1, 1, 999 * kMs, nullptr), Outcome::kDropped);
  EXPECT_EQ(Out(1, 1, 1002 * kMs, nullptr), Outcome::kOrigin);
}

TEST_F(CorrelatorTest, MessagesOfOneReadAreActiveTogether) {
  // Delivered by the same read (the same timestamp): which one is being worked on is unknown,
  // so a call carrying either trace is propagated, none is dropped.
  Deliver(1, 1, 5 * kMs, 7, kT1);
  Deliver(1, 1, 5 * kMs, 7, kT2);
  EXPECT_EQ(Out(1, 1, 6 * kMs, kT1OtherParent), Outcome::kPropagated);
  EXPECT_EQ(Out(1, 1, 7 * kMs, "00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-3333333333333333-01"),
            Outcome::kPropagated);
  EXPECT_EQ(Out(1, 1, 8 * kMs, nullptr), Outcome::kDropped);
}

TEST_F(CorrelatorTest, DeliveriesOnAnotherChannelDoNotEndEachOther) {
  Deliver(1, 1, 1 * kMs, 7, kT1);
  RequestSeen other = Request(1, 1, 2 * kMs, 7, kT2);
  other.inbound = true;
  other.protocol = Protocol::kAmqp;
  other.stream_id = 2;
  correlator_.OnInbound(other);
  // Two active messages on the thread: every active one decides; T1's call is propagated.
  EXPECT_EQ(Out(1, 1, 3 * kMs, kT1OtherParent), Outcome::kPropagated);
}

}  // namespace
}  // namespace tracegap
