#include "event_loop.h"

#include <time.h>

#include <cerrno>
#include <utility>

#include "log.h"

namespace tracegap {

LoopClocks SystemClocks() {
  return LoopClocks{
      [] { return std::chrono::steady_clock::now(); },
      [] {
        timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
      },
  };
}

EventLoop::EventLoop(EventSource& source, PipelineControl& pipeline, LoopMetrics& metrics,
                     LoopClocks clocks, uint32_t poll_interval_ms)
    : source_(source),
      pipeline_(pipeline),
      metrics_(metrics),
      clocks_(std::move(clocks)),
      poll_interval_ms_(poll_interval_ms) {}

int EventLoop::Run(const std::atomic<bool>& stop, std::atomic<bool>& reload,
                   const std::function<void()>& on_reload) {
  while (!stop) {
    if (reload.exchange(false)) on_reload();
    if (!Step()) return 1;
  }
  return 0;
}

bool EventLoop::Step() {
  const int n = source_.Poll(static_cast<int>(poll_interval_ms_));
  if (n < 0 && n != -EINTR) {
    TG_LOG(Error) << "ring buffer poll failed: errno " << -n;
    return false;
  }
  // After every batch, so that a loss is known before the events that follow it are judged.
  const KernelDrops drops = source_.ReadDrops();
  if (drops[TG_DROP_RINGBUF_FULL] != drops_seen_[TG_DROP_RINGBUF_FULL]) {
    pipeline_.OnEventsLost(clocks_.monotonic_ns());
    last_loss_ = clocks_.steady();
    if (first_loss_ == kNoLoss) first_loss_ = last_loss_;
    TG_LOG(Warning) << "kernel ring buffer full: "
                    << drops[TG_DROP_RINGBUF_FULL] - drops_seen_[TG_DROP_RINGBUF_FULL]
                    << " events lost (raise --ring-buffer-bytes)";
  }
  drops_seen_ = drops;
  metrics_.SetKernelDrops(drops);
  for (int i = 0; i < TG_DROP_REASON_COUNT; ++i) drop_totals_[i].store(drops[i]);
  connections_tracked_.store(pipeline_.connections());
  const auto now = clocks_.steady();
  if (now >= next_housekeeping_) Housekeep(now);
  return true;
}

void EventLoop::Housekeep(std::chrono::steady_clock::time_point now) {
  // Events were lost: close events may have been among them, and the daemon would then hold those
  // connections (and their unanswered requests) until evicted. Once no event has been lost for
  // 6 s (or a minute into a loss that goes on), connections the kernel no longer tracks and that
  // have been idle for 5 s are let go: every connection whose close event was lost is among them.
  if (first_loss_ != kNoLoss &&
      (now >= last_loss_ + kQuietBeforeCheck || now >= first_loss_ + kLongestCheckDelay)) {
    first_loss_ = kNoLoss;
    if (auto live = source_.LiveConnectionIds()) {
      const size_t closed =
          pipeline_.CloseUntracked(*live, clocks_.monotonic_ns() - kUntrackedIdleNs);
      if (closed > 0)
        TG_LOG(Info) << "let go of " << closed
                     << " closed connections whose close events were lost";
    }
    connections_tracked_.store(pipeline_.connections());
  }
  metrics_.SetConnectionsTracked(pipeline_.connections());
  metrics_.SetHttp2Connections(pipeline_.Http2States());
  pipeline_.ReapProcesses();
  next_housekeeping_ = now + kHousekeepingPeriod;
}

KernelDrops EventLoop::drop_totals() const {
  KernelDrops totals{};
  for (int i = 0; i < TG_DROP_REASON_COUNT; ++i) totals[i] = drop_totals_[i].load();
  return totals;
}

}  // namespace tracegap
