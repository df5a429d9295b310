#pragma once
// The daemon's event path, top to bottom:
//   ring buffer record -> DecodeEvent -> ConnectionTracker (HTTP/1 reassembly and parsing)
//   -> Observer reports (requests, responses, parse errors) -> Metrics and Correlator
//   -> ProcessTable and EdgeTable (served by the local API).
// Not thread-safe: the main thread feeds records and runs housekeeping; metrics and the process
// table are read concurrently by scrapes and API requests, which they make safe.

#include <cstdint>
#include <functional>
#include <span>
#include <string_view>

#include "correlate/correlator.h"
#include "correlate/edge_table.h"
#include "correlate/process_info.h"
#include "correlate/process_table.h"
#include "event_loop.h"
#include "metrics.h"
#include "protocols/connection_tracker.h"
#include "protocols/observation.h"

namespace tracegap {

struct PipelineConfig {
  size_t max_connections = 65536;
  size_t max_header_bytes = 4096;
  CorrelatorConfig correlator;
};

class Pipeline final : public Observer, public PipelineControl {
 public:
  Pipeline(const PipelineConfig& config, Metrics& metrics, ProcessInfoCache& processes,
           ProcessTable& table, EdgeTable& edges, WallClock wall);

  // One raw ring buffer record (8-byte aligned).
  void OnRecord(std::span<const uint8_t> record);
  // Kernel-side events may have been lost just before `now_ns` (CLOCK_MONOTONIC).
  void OnEventsLost(uint64_t now_ns) override { correlator_.OnEventsLost(now_ns); }
  // Marks processes that have exited (or whose pid now belongs to another process) and drops
  // exited ones past the retention. Call every few seconds.
  void ReapProcesses() override;
  size_t connections() const override { return tracker_.size(); }
  // After lost events: lets go of the connections whose close event was among them (see
  // ConnectionTracker::CloseUntracked). Returns how many.
  size_t CloseUntracked(const std::unordered_set<uint64_t>& live,
                        uint64_t idle_before_ns) override {
    return tracker_.CloseUntracked(live, idle_before_ns);
  }
  std::array<size_t, 3> Http2States() const override { return tracker_.Http2States(); }
  void SetLinger(std::chrono::milliseconds linger) { correlator_.SetLinger(linger); }
  // Called for each TG_EVENT_TLS_UNSEEN: a connection of `pid` began with TLS no probe reads.
  using TlsUnseenHandler = std::function<void(uint32_t pid, std::string_view comm)>;
  void SetTlsUnseenHandler(TlsUnseenHandler handler) { tls_unseen_ = std::move(handler); }

  void OnRequest(const RequestSeen& request) override;
  void OnResponse(const ResponseSeen& response) override;
  void OnParseError(Protocol protocol, std::string_view reason) override;
  void OnUpgrade(uint64_t conn_id, Upgrade to) override;
  void OnConnectionClosed(uint64_t conn_id) override;

 private:
  ProcessIdentity Identify(uint32_t tgid, std::string_view comm);
  // The process labels of the actor (views into the cache's entry and the event).
  ProcessLabels LabelsOf(const Actor& actor);
  void CountEdge(const RequestSeen& r, const ProcessLabels& who, Outcome outcome,
                 const GapExample* example);

  Metrics& metrics_;
  ProcessInfoCache& processes_;
  ProcessTable& table_;
  EdgeTable& edges_;
  WallClock wall_;
  Correlator correlator_;
  ConnectionTracker tracker_;
  uint64_t last_event_ns_ = 0;  // the newest event timestamp seen
  TlsUnseenHandler tls_unseen_;
};

}  // namespace tracegap
