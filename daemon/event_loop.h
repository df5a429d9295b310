#pragma once
// tracegapd's main loop: drains the kernel's ring buffer into the pipeline, recovers from lost
// events, and does housekeeping every 2 s. Everything it touches comes in through the small
// interfaces below, and time through injected clocks, so that tests drive it with fakes.
// Not thread-safe, except the status readers (drop_totals, connections_tracked), which the API
// thread calls while the loop runs.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <unordered_set>

#include "capture/kernel_drops.h"

namespace tracegap {

// Where events come from: the BPF side (Probes, in tracegapd).
class EventSource {
 public:
  // Waits up to timeout_ms and hands the records to their handler. Returns how many, or a
  // negative errno (-EINTR when a signal arrived).
  virtual int Poll(int timeout_ms) = 0;
  // The kernel-side failure counters, as totals since start.
  virtual KernelDrops ReadDrops() const = 0;
  // The ids of the connections the kernel side tracks now; nullopt if they cannot be read.
  virtual std::optional<std::unordered_set<uint64_t>> LiveConnectionIds() const = 0;

 protected:
  ~EventSource() = default;
};

// What the loop asks of the daemon's event state (Pipeline).
class PipelineControl {
 public:
  // Kernel-side events may have been lost just before now_ns (CLOCK_MONOTONIC).
  virtual void OnEventsLost(uint64_t now_ns) = 0;
  // Lets go of the connections not in `live` and idle since before idle_before_ns; returns how
  // many.
  virtual size_t CloseUntracked(const std::unordered_set<uint64_t>& live,
                                uint64_t idle_before_ns) = 0;
  virtual size_t connections() const = 0;
  virtual std::array<size_t, 3> Http2States() const = 0;
  virtual void ReapProcesses() = 0;

 protected:
  ~PipelineControl() = default;
};

// The gauges and counters the loop keeps current (Metrics).
class LoopMetrics {
 public:
  virtual void SetKernelDrops(std::span<const uint64_t> totals) = 0;
  virtual void SetConnectionsTracked(size_t n) = 0;
  virtual void SetHttp2Connections(std::span<const size_t> per_state) = 0;

 protected:
  ~LoopMetrics() = default;
};

struct LoopClocks {
  std::function<std::chrono::steady_clock::time_point()> steady;  // for the loop's own timing
  std::function<uint64_t()> monotonic_ns;  // CLOCK_MONOTONIC, as events carry
};
// The real clocks.
LoopClocks SystemClocks();

class EventLoop {
 public:
  // After lost events, connections whose close event was lost are let go once no event has been
  // lost for kQuietBeforeCheck, or kLongestCheckDelay into a loss that goes on (see Step).
  static constexpr auto kQuietBeforeCheck = std::chrono::seconds(6);
  static constexpr auto kLongestCheckDelay = std::chrono::seconds(60);
  // How long such a connection must have been idle: one that is merely quiet is kept.
  static constexpr uint64_t kUntrackedIdleNs = 5'000'000'000ull;
  static constexpr auto kHousekeepingPeriod = std::chrono::seconds(2);

  EventLoop(EventSource& source, PipelineControl& pipeline, LoopMetrics& metrics, LoopClocks clocks,
            uint32_t poll_interval_ms);

  // Runs Step until `stop` is set. Whenever `reload` is set, clears it and calls on_reload first
  // (which may call set_poll_interval). Returns 0 when stopped, 1 when polling failed.
  int Run(const std::atomic<bool>& stop, std::atomic<bool>& reload,
          const std::function<void()>& on_reload);
  // One poll and what follows it. Returns false when polling failed (any error but EINTR).
  bool Step();

  void set_poll_interval(uint32_t ms) { poll_interval_ms_ = ms; }
  // For GET /v1/status, from any thread: the kernel drop totals and connections tracked, as of
  // the last Step.
  KernelDrops drop_totals() const;
  size_t connections_tracked() const { return connections_tracked_.load(); }

 private:
  void Housekeep(std::chrono::steady_clock::time_point now);

  static constexpr auto kNoLoss = std::chrono::steady_clock::time_point::max();

  EventSource& source_;
  PipelineControl& pipeline_;
  LoopMetrics& metrics_;
  LoopClocks clocks_;
  uint32_t poll_interval_ms_;
  std::chrono::steady_clock::time_point next_housekeeping_ =
      std::chrono::steady_clock::time_point::min();
  KernelDrops drops_seen_{};
  std::chrono::steady_clock::time_point first_loss_ =
      kNoLoss;  // of the losses not yet followed by a check
  std::chrono::steady_clock::time_point last_loss_{};
  std::array<std::atomic<uint64_t>, TG_DROP_REASON_COUNT> drop_totals_{};
  std::atomic<size_t> connections_tracked_{0};
};

}  // namespace tracegap
