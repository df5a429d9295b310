#pragma once
// Decides the outcome of every outbound request of a process from the inbound requests it was
// serving at that moment. The rules are written down in docs/semantics.md; in short:
//   - an inbound request is active from its request headers until its response headers (HTTP/1
//     in pipeline order per connection; HTTP/2 per stream), then lingers for `linger`;
//   - a consumed message (no response will come) is active from its delivery until the next
//     delivery on its connection and channel (then lingers), or for `message_window` at most;
//   - if the sending thread received exactly one active inbound request (not a message), that
//     request alone decides (thread-per-request servers); otherwise (an event loop that received
//     several, or a worker pool whose sending thread received none) every active or lingering
//     inbound request of the process decides.
// Times are the kernel's CLOCK_MONOTONIC timestamps of the events, so decisions do not depend on
// how late the daemon reads them. Not thread-safe: the pipeline thread calls every method;
// results go to the thread-safe ProcessTable.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <unordered_map>

#include "correlate/outcome.h"
#include "correlate/process_table.h"
#include "protocols/observation.h"

namespace tracegap {

struct CorrelatorConfig {
  std::chrono::milliseconds linger{250};
  // An inbound request never answered (or whose response was not seen) stops counting as active
  // after this long, so that one lost response cannot make every later call look served.
  std::chrono::milliseconds max_request_age{std::chrono::minutes(5)};
  // How long a consumed message counts as being served when no later one ends it.
  std::chrono::milliseconds message_window{1000};
  size_t max_active_per_process = 1024;
};

// Who a tgid is: its key (pid, start time) and the identity shown in the table.
struct ProcessIdentity {
  ProcessKey key;
  ProcessSnapshot identity;  // comm, unit, exe, workload, container, namespace
};
using IdentityLookup = std::function<ProcessIdentity(uint32_t tgid, std::string_view comm)>;
using WallClock = std::function<int64_t()>;  // unix milliseconds

class Correlator {
 public:
  Correlator(const CorrelatorConfig& config, ProcessTable& table, IdentityLookup identity,
             WallClock wall);

  void OnInbound(const RequestSeen& request);
  // Returns the outcome (also recorded in the table). For a gap, `*example` (if given) gets the
  // example recorded in the table.
  Outcome OnOutbound(const RequestSeen& request, GapExample* example = nullptr);
  void OnResponse(const ResponseSeen& response);
  void OnConnectionClosed(uint64_t conn_id, uint64_t ts_ns);
  // Events may have been lost up to `ts_ns`: outbound requests of processes with no known inbound
  // request are `unknown` rather than `origin` until ts_ns + linger + 1 s.
  void OnEventsLost(uint64_t ts_ns);
  // The process is gone: drop its active requests.
  void ForgetProcess(uint32_t tgid);
  size_t processes() const { return procs_.size(); }
  void SetLinger(std::chrono::milliseconds linger) { config_.linger = linger; }

 private:
  struct Inbound {
    uint64_t conn_id;
    uint64_t stream_id;
    uint32_t tid;
    ContextVerdict verdict;
    TraceId trace_id;
    SpanId parent_id;
    uint64_t start_ns;
    uint64_t end_ns;  // 0 while active
    bool message;     // a consumed message: expires message_window after start_ns if still active
  };
  struct Proc {
    ProcessKey key;
    std::deque<Inbound> inbound;                      // oldest first
    size_t arrivals_since_compaction = SIZE_MAX / 2;  // see Prune
  };
  bool Expired(const Inbound& in, uint64_t now_ns) const;
  void Prune(Proc& p, uint64_t now_ns) const;
  Outcome Decide(const RequestSeen& out, const Proc* p,
                 std::vector<const Inbound*>& deciders) const;
  GapExample Example(const RequestSeen& out, Outcome outcome,
                     const std::vector<const Inbound*>& deciders) const;

  CorrelatorConfig config_;
  ProcessTable& table_;
  IdentityLookup identity_;
  WallClock wall_;
  std::unordered_map<uint32_t, Proc> procs_;           // by tgid; only processes with inbound state
  std::unordered_map<uint64_t, uint32_t> conn_owner_;  // conn_id -> tgid serving requests on it
  uint64_t loss_until_ns_ = 0;
};

}  // namespace tracegap
