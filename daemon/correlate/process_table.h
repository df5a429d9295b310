#pragma once
// Per-process propagation state: what the local API serves and the CLI shows.
//
// Processes are keyed by (pid, start time), so a reused pid is a new process. The table is
// bounded: at most `max_processes` entries, the least recently active evicted first; exited
// processes are kept for `retention` and then dropped.
//
// Thread safety: every public method locks; the correlator (main thread) writes, the API thread
// reads snapshots.

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "correlate/outcome.h"
#include "protocols/observation.h"
#include "protocols/trace_context/trace_context.h"
#include "vocabulary.h"

namespace tracegap {

inline constexpr size_t kMaxGapExamples = 32;

struct GapExample {
  int64_t time_unix_ms = 0;
  Outcome outcome = Outcome::kUnknown;
  Protocol protocol = Protocol::kHttp1;
  std::string method;
  std::string authority;
  std::string path;                            // never with the query string
  std::string peer;                            // "addr:port" of the server called
  std::vector<std::string> inbound_trace_ids;  // of the inbound requests that decided, hex
  std::string outbound_traceparent;            // as sent (valid or malformed), "" if none
  bool tls = false;                            // the request went inside TLS
};

struct ProcessSnapshot {
  uint32_t pid = 0;
  uint64_t start_time = 0;  // clock ticks since boot (/proc/PID/stat field 22)
  std::string comm;
  std::string unit;
  std::string exe;
  // correlate/workload.h: "namespace/pod", container, systemd unit or comm; container and
  // namespace "" where there is none.
  std::string workload;
  std::string container;
  std::string namespace_;
  VerdictCounts inbound{};   // indexed by ContextVerdict
  OutcomeCounts outbound{};  // indexed by Outcome
  int64_t first_seen_unix_ms = 0;
  int64_t last_seen_unix_ms = 0;
  bool exited = false;
  std::vector<GapExample> gap_examples;  // newest last; only in detail snapshots

  uint64_t inbound_total() const;
  uint64_t outbound_total() const;
  uint64_t gaps() const;
  // gaps / (propagated + passthrough + dropped + restarted + mangled); 0 when that is 0.
  double gap_ratio() const;
};

struct ProcessKey {
  uint32_t pid = 0;
  uint64_t start_time = 0;
  auto operator<=>(const ProcessKey&) const = default;
};

class ProcessTable {
 public:
  ProcessTable(size_t max_processes, std::chrono::milliseconds retention);

  // Records one inbound request / outbound outcome of a process, creating its entry if needed.
  void CountInbound(const ProcessKey& key, const ProcessSnapshot& identity, ContextVerdict verdict,
                    int64_t now_unix_ms);
  void CountOutbound(const ProcessKey& key, const ProcessSnapshot& identity, Outcome outcome,
                     int64_t now_unix_ms, GapExample* example /* nullable; moved from */);
  // The process has exited (its pid is gone or belongs to a newer process).
  void MarkExited(const ProcessKey& key, int64_t now_unix_ms);
  // Drops exited processes older than the retention. Returns how many were dropped.
  size_t Expire(int64_t now_unix_ms);

  // Every process (exited ones included), without gap examples.
  std::vector<ProcessSnapshot> List() const;
  // The newest process with this pid (live before exited), with its gap examples.
  std::optional<ProcessSnapshot> Find(uint32_t pid) const;
  // Keys of the live (not exited) processes.
  std::vector<ProcessKey> LiveKeys() const;
  size_t size() const;
  // New bounds (on reload); a smaller max_processes takes effect as entries are added.
  void SetLimits(size_t max_processes, std::chrono::milliseconds retention);

 private:
  struct Entry {
    ProcessSnapshot snap;
    std::deque<GapExample> examples;
    int64_t exited_at_ms = 0;
    std::list<ProcessKey>::iterator lru;
  };
  Entry& Touch(const ProcessKey& key, const ProcessSnapshot& identity, int64_t now_unix_ms);

  size_t max_processes_;
  std::chrono::milliseconds retention_;
  mutable std::mutex mu_;
  std::map<ProcessKey, Entry> entries_;
  std::list<ProcessKey> lru_;  // most recently active first
};

// What GET /v1/status reports.
// TLS (daemon/capture/tls/attacher.h), as `tracegap status` shows it.
struct TlsLibraryStatus {
  std::string path;
  std::string kind;  // "openssl-3", "openssl-1.1"
  bool attached = false;
  std::string error;
  int probes = 0;
};
struct TlsUnseenStatus {
  uint32_t pid = 0;
  std::string comm;
  std::string exe;
  std::string reason;  // a tracegap_tls_unseen_connections_total reason
  std::string detail;
  uint64_t connections = 0;
};

struct DaemonStatus {
  std::string version;
  double uptime_seconds = 0;
  std::string attach;
  std::string capture;  // the capture variant that runs, e.g. "direct-reads+http2"
  bool http2 = false;   // HTTP/2 frames are followed
  std::vector<std::string> load_failures;  // better variants the kernel refused, each with why
  std::vector<std::pair<std::string, uint64_t>> kernel_drops;  // reason label -> total
  uint64_t connections_tracked = 0;
  uint64_t processes_tracked = 0;
  std::string tls_mode = "off";  // --tls
  std::string tls_unavailable;   // why TLS is not read although asked for ("" if it is)
  std::vector<TlsLibraryStatus> tls_libraries;
  std::vector<TlsUnseenStatus> tls_unseen;
};

}  // namespace tracegap
