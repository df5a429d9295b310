// EventLoop driven by fakes and a fake clock: loss recovery timing, housekeeping cadence, the
// counters it passes on, poll errors, and the stop/reload flags.

#include "event_loop.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <functional>
#include <utility>
#include <vector>

#include "log.h"

namespace tracegap {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

constexpr uint64_t kNsPerSecond = 1'000'000'000ull;

// One time line for both clocks, starting far from zero (as the real ones do).
struct FakeClock {
  steady_clock::duration elapsed{};
  steady_clock::time_point Steady() const {
    return steady_clock::time_point(seconds(1000)) + elapsed;
  }
  uint64_t MonotonicNs() const {
    return 1000 * kNsPerSecond + static_cast<uint64_t>(std::chrono::nanoseconds(elapsed).count());
  }
  LoopClocks Clocks() {
    return LoopClocks{[this] { return Steady(); }, [this] { return MonotonicNs(); }};
  }
};

class FakeSource final : public EventSource {
 public:
  int Poll(int timeout_ms) override {
    timeouts.push_back(timeout_ms);
    if (on_poll) on_poll(static_cast<int>(timeouts.size()));
    return poll_result;
  }
  KernelDrops ReadDrops() const override {
    ++drop_reads;
    return drops;
  }
  std::optional<std::unordered_set<uint64_t>> LiveConnectionIds() const override {
    ++live_reads;
    return live;
  }

  int poll_result = 0;
  std::function<void(int)> on_poll;  // called with the poll's number, from 1
  std::vector<int> timeouts;
  KernelDrops drops{};
  std::optional<std::unordered_set<uint64_t>> live = std::unordered_set<uint64_t>{};
  mutable int drop_reads = 0;
  mutable int live_reads = 0;
};

class FakePipeline final : public PipelineControl {
 public:
  void OnEventsLost(uint64_t now_ns) override { lost_at.push_back(now_ns); }
  size_t CloseUntracked(const std::unordered_set<uint64_t>& live,
                        uint64_t idle_before_ns) override {
    close_calls.emplace_back(live, idle_before_ns);
    const size_t closed = std::min(closes_per_call, conns);
    conns -= closed;
    return closed;
  }
  size_t connections() const override { return conns; }
  std::array<size_t, 3> Http2States() const override { return h2; }
  void ReapProcesses() override { ++reaps; }

  std::vector<uint64_t> lost_at;
  std::vector<std::pair<std::unordered_set<uint64_t>, uint64_t>> close_calls;
  size_t closes_per_call = 0;
  size_t conns = 0;
  std::array<size_t, 3> h2{};
  int reaps = 0;
};

class FakeMetrics final : public LoopMetrics {
 public:
  void SetKernelDrops(std::span<const uint64_t> totals) override {
    KernelDrops d{};
    std::copy(totals.begin(), totals.end(), d.begin());
    drops.push_back(d);
  }
  void SetConnectionsTracked(size_t n) override { tracked.push_back(n); }
  void SetHttp2Connections(std::span<const size_t> per_state) override {
    h2.emplace_back(per_state.begin(), per_state.end());
  }

  std::vector<KernelDrops> drops;
  std::vector<size_t> tracked;
  std::vector<std::vector<size_t>> h2;
};

class EventLoopTest : public ::testing::Test {
 protected:
  // The loop warns on every loss; the tests lose events on purpose.
  void SetUp() override { SetLogLevel(LogLevel::kError); }
  void TearDown() override { SetLogLevel(saved_level_); }

  // One Step at `at` since the start.
  bool StepAt(steady_clock::duration at) {
    clock_.elapsed = at;
    return loop_.Step();
  }
  // Steps once a second from `from` to `to` (inclusive); `each` runs before each step.
  void StepEverySecond(int from, int to, const std::function<void(int)>& each = nullptr) {
    for (int t = from; t <= to; ++t) {
      if (each) each(t);
      ASSERT_TRUE(StepAt(seconds(t)));
    }
  }
  void LoseEvents(uint64_t n) { source_.drops[TG_DROP_RINGBUF_FULL] += n; }

  const LogLevel saved_level_ = GetLogLevel();
  FakeClock clock_;
  FakeSource source_;
  FakePipeline pipeline_;
  FakeMetrics metrics_;
  EventLoop loop_{source_, pipeline_, metrics_, clock_.Clocks(), 100};
};

TEST_F(EventLoopTest, HousekeepingRunsOnTheFirstStepThenEveryTwoSeconds) {
  pipeline_.conns = 7;
  pipeline_.h2 = {1, 2, 3};
  const std::vector<std::pair<milliseconds, int>> steps = {
      {milliseconds(0), 1},    {milliseconds(500), 1},  {milliseconds(1999), 1},
      {milliseconds(2000), 2}, {milliseconds(3900), 2}, {milliseconds(4100), 3},
      {milliseconds(6000), 3}, {milliseconds(6100), 4},  // due 2 s after the last run, not on a
                                                         // grid
  };
  for (const auto& [at, reaps] : steps) {
    ASSERT_TRUE(StepAt(at));
    EXPECT_EQ(pipeline_.reaps, reaps) << "at " << at.count() << " ms";
  }
  // The gauges are set with each housekeeping run, the drops with every step.
  EXPECT_EQ(metrics_.tracked, std::vector<size_t>(4, 7));
  EXPECT_EQ(metrics_.h2, std::vector<std::vector<size_t>>(4, {1, 2, 3}));
  EXPECT_EQ(metrics_.drops.size(), steps.size());
}

TEST_F(EventLoopTest, PassesDropCountersToMetricsAndStatusEveryStep) {
  source_.drops = {0, 3, 0, 2, 1};
  pipeline_.conns = 4;
  ASSERT_TRUE(StepAt(seconds(0)));
  source_.drops[TG_DROP_READ_USER] = 9;
  pipeline_.conns = 5;
  ASSERT_TRUE(StepAt(milliseconds(100)));  // no housekeeping: the status still follows
  ASSERT_EQ(metrics_.drops.size(), 2u);
  EXPECT_EQ(metrics_.drops[0], (KernelDrops{0, 3, 0, 2, 1}));
  EXPECT_EQ(metrics_.drops[1], source_.drops);
  EXPECT_EQ(loop_.drop_totals(), source_.drops);
  EXPECT_EQ(loop_.connections_tracked(), 5u);
  EXPECT_EQ(metrics_.tracked, std::vector<size_t>{4});  // the gauge only at housekeeping
  // Drops other than ringbuf_full are no lost events.
  EXPECT_TRUE(pipeline_.lost_at.empty());
}

TEST_F(EventLoopTest, NoLossNoCheck) {
  StepEverySecond(0, 130,
                  [&](int t) { source_.drops[TG_DROP_READ_USER] = static_cast<uint64_t>(t); });
  EXPECT_TRUE(pipeline_.lost_at.empty());
  EXPECT_EQ(source_.live_reads, 0);
  EXPECT_TRUE(pipeline_.close_calls.empty());
}

TEST_F(EventLoopTest, ChecksOnlyAfterSixSecondsWithoutLoss) {
  ASSERT_TRUE(StepAt(seconds(0)));
  LoseEvents(5);
  clock_.elapsed = seconds(2);
  const uint64_t loss_ns = clock_.MonotonicNs();
  ASSERT_TRUE(loop_.Step());
  EXPECT_EQ(pipeline_.lost_at, std::vector<uint64_t>{loss_ns});
  StepEverySecond(3, 7);  // housekeeping at 4 and 6: still within 6 s of the loss
  EXPECT_EQ(source_.live_reads, 0);
  EXPECT_TRUE(pipeline_.close_calls.empty());

  source_.live = std::unordered_set<uint64_t>{11, 12};
  ASSERT_TRUE(StepAt(seconds(8)));
  ASSERT_EQ(pipeline_.close_calls.size(), 1u);
  EXPECT_EQ(pipeline_.close_calls[0].first, (std::unordered_set<uint64_t>{11, 12}));
  EXPECT_EQ(pipeline_.close_calls[0].second, clock_.MonotonicNs() - 5 * kNsPerSecond);

  // One check per loss: none follows while nothing more is lost.
  StepEverySecond(9, 100);
  EXPECT_EQ(pipeline_.close_calls.size(), 1u);
  EXPECT_EQ(pipeline_.lost_at.size(), 1u);
}

TEST_F(EventLoopTest, ALossThatGoesOnIsCheckedAMinuteIn) {
  std::vector<int> checked_at;
  StepEverySecond(0, 125, [&](int t) {
    LoseEvents(1);
    if (t > 0 && pipeline_.close_calls.size() > checked_at.size()) checked_at.push_back(t - 1);
  });
  // The first loss at 0 s is checked at the first housekeeping 60 s on; the next loss (61 s)
  // starts the next minute.
  EXPECT_EQ(checked_at, (std::vector<int>{60, 122}));
  EXPECT_EQ(pipeline_.lost_at.size(), 126u);
}

TEST_F(EventLoopTest, CheckUpdatesConnectionsTrackedAtOnce) {
  pipeline_.conns = 10;
  pipeline_.closes_per_call = 4;
  LoseEvents(1);
  StepEverySecond(0, 5);
  EXPECT_EQ(loop_.connections_tracked(), 10u);
  ASSERT_TRUE(StepAt(seconds(6)));  // 6 s after the loss, at housekeeping (0, 2, 4, 6)
  ASSERT_EQ(pipeline_.close_calls.size(), 1u);
  EXPECT_EQ(loop_.connections_tracked(), 6u);
  EXPECT_EQ(metrics_.tracked.back(), 6u);
}

TEST_F(EventLoopTest, UnreadableKernelConnectionsSkipTheCheck) {
  source_.live = std::nullopt;
  LoseEvents(1);
  StepEverySecond(0, 30);
  EXPECT_EQ(source_.live_reads, 1);  // tried once, at 6 s; not retried without a new loss
  EXPECT_TRUE(pipeline_.close_calls.empty());
}

TEST_F(EventLoopTest, PollErrorEndsTheLoopButEintrDoesNot) {
  source_.poll_result = -EINTR;
  EXPECT_TRUE(StepAt(seconds(0)));
  EXPECT_EQ(source_.drop_reads, 1);

  source_.poll_result = -EBADF;
  EXPECT_FALSE(StepAt(seconds(1)));
  EXPECT_EQ(source_.drop_reads, 1);  // nothing after a failed poll

  std::atomic<bool> stop{false};
  std::atomic<bool> reload{false};
  EXPECT_EQ(loop_.Run(stop, reload, [] {}), 1);
  EXPECT_EQ(source_.timeouts.size(), 3u);
}

TEST_F(EventLoopTest, RunPollsUntilStopped) {
  std::atomic<bool> stop{true};
  std::atomic<bool> reload{false};
  EXPECT_EQ(loop_.Run(stop, reload, [] {}), 0);
  EXPECT_TRUE(source_.timeouts.empty());

  stop = false;
  source_.poll_result = 3;
  source_.on_poll = [&](int n) {
    if (n == 4) stop = true;  // a signal during the fourth poll
  };
  EXPECT_EQ(loop_.Run(stop, reload, [] {}), 0);
  EXPECT_EQ(source_.timeouts, std::vector<int>(4, 100));
  EXPECT_EQ(source_.drop_reads, 4);  // the batch polled when the stop came is still accounted
}

TEST_F(EventLoopTest, ReloadRunsBeforeTheNextPollAndCanChangeTheInterval) {
  std::atomic<bool> stop{false};
  std::atomic<bool> reload{false};
  int reloads = 0;
  source_.on_poll = [&](int n) {
    if (n == 2) reload = true;
    if (n == 4) stop = true;
  };
  EXPECT_EQ(loop_.Run(stop, reload,
                      [&] {
                        ++reloads;
                        loop_.set_poll_interval(250);
                      }),
            0);
  EXPECT_EQ(reloads, 1);
  EXPECT_FALSE(reload.load());
  EXPECT_EQ(source_.timeouts, (std::vector<int>{100, 100, 250, 250}));
}

}  // namespace
}  // namespace tracegap
