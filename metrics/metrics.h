#pragma once
// tracegap's Prometheus metrics: names, help texts and label sets in one place.
//
// Every label value is bounded: directions, protocols, verdicts and reasons come from fixed enums;
// the process labels (comm, unit, workload, container, namespace: ProcessLabels) are per process,
// and at most `max_identities` distinct sets of them get series of their own: later ones are
// counted under "_other" in all five, so that a host running many distinct short-lived programs
// (or pods) cannot grow the exposition without bound. Edges (tracegap_edge_requests_total) are
// bounded by the EdgeTable (--max-edges) and by their client being such a workload label.
// Process labels are written by the watched processes or their runtime: bytes that are not
// printable UTF-8 become '?' (one invalid byte in a label would make Prometheus reject the whole
// scrape). No pid, trace id, path or header value is ever a label: an edge's server is a
// validated host name (correlate/edge.h) or a peer address.
// Bounds are not a one-way door: when one is reached, a label set (a process identity, or an
// edge's (client, server) pair: RemoveEdge) that has counted nothing for the reclaim time
// (SetReclaimAfter) gives its place to the new one, and its series leave the exposition
// (tracegap_label_sets_reclaimed_total counts this). So pods that came and went do not keep
// later ones under "_other" for the life of the daemon.
// Thread safety: the Count*/Set* methods must be called from one thread (the pipeline's); scrapes
// run concurrently on the exposer's threads, which prometheus-cpp makes safe.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace tracegap {

// Who a process is, as its metrics label it (correlate/workload.h says where each comes from).
struct ProcessLabels {
  std::string_view comm;
  std::string_view unit;
  std::string_view workload;
  std::string_view container;
  std::string_view namespace_;
};

class Metrics {
 public:
  // `kernel_drop_reasons` are declared at 0 so that alerts on them work from the first scrape.
  // `*_reasons` and `http2_states` are declared at 0 so that alerts on them work from the first
  // scrape.
  Metrics(std::string_view version, std::string_view attach,
          std::span<const std::string_view> kernel_drop_reasons,
          std::span<const std::string_view> hpack_error_reasons,
          std::span<const std::string_view> http2_states, size_t max_identities = 1000);

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  // `tls`: read as TLS plaintext (label tls="true"), else from the socket (tls="false").
  void CountRequest(std::string_view direction, std::string_view protocol, std::string_view context,
                    const ProcessLabels& who, bool tls = false);
  void CountMalformed(std::string_view direction, std::string_view header, std::string_view reason,
                      const ProcessLabels& who);
  void CountLegacy(std::string_view direction, std::string_view format, const ProcessLabels& who);
  void CountParseError(std::string_view protocol, std::string_view reason);
  void CountOutbound(std::string_view outcome, std::string_view protocol, const ProcessLabels& who,
                     bool tls = false);
  // tracegap_edge_requests_total{client, server, protocol, outcome}. `client` is a workload label
  // (EdgeClient), `server` an EdgeServer (or "_other" from the EdgeTable).
  void CountEdge(std::string_view client, std::string_view server, std::string_view protocol,
                 std::string_view outcome);
  // The workload label under which `who`'s edges are counted: its workload when its labels have
  // series of their own (or get them now), else "_other" like its other series.
  std::string_view EdgeClient(const ProcessLabels& who);
  // tracegap_edges{state="tracked"|"limit"} and tracegap_edge_requests_folded_total.
  void SetEdges(size_t tracked, size_t limit, uint64_t folded_total);
  // TLS (capture/tls/attacher.h): the reasons are declared at 0, the library gauge at 0 too.
  void DeclareTls(std::span<const std::string_view> attach_failures,
                  std::span<const std::string_view> unseen);
  void CountTlsAttachFailure(std::string_view reason);
  void CountTlsUnseen(std::string_view reason);
  void SetTlsLibraries(size_t attached, size_t failed);
  // Totals as read from the kernel (monotonic): the counter follows them.
  void SetKernelDrops(std::span<const uint64_t> totals);
  void SetConnectionsTracked(size_t n);
  void CountHpackError(std::string_view reason);
  // tracegap_connection_upgrades_total{to}: `kinds` are declared at 0 (an alert on websocket
  // traffic works from the first scrape); CountUpgrade adds one.
  void DeclareUpgrades(std::span<const std::string_view> kinds);
  void CountUpgrade(std::string_view to);
  // tracegap_tracestate_duplicates_total{direction}: requests whose tracestate repeats a key.
  void CountTracestateDuplicates(std::string_view direction);
  // HTTP/2 connections per state, in the order of `http2_states` given at construction.
  void SetHttp2Connections(std::span<const size_t> per_state);
  // Which capture variant runs (set once, after load): tracegap_capture_info{hooks,build,http2} =
  // 1, and tracegap_capture_degraded = 1 when the kernel refused a better one.
  void SetCaptureInfo(std::string_view hooks, std::string_view build, bool http2, bool degraded);
  // Distinct sets of process labels that have series of their own now.
  size_t identities() const { return identities_.size(); }

  // Reclaiming (see above): off (0) until set. `now_ms` is any monotonic clock in milliseconds,
  // set by Tick (the pipeline's housekeeping); label sets use it to know when they last counted.
  void SetReclaimAfter(int64_t idle_ms) { reclaim_after_ms_ = idle_ms; }
  void Tick(int64_t now_ms) { now_ms_ = now_ms; }
  // Removes every tracegap_edge_requests_total series of (client, server): the EdgeTable gave
  // the pair's place to another.
  void RemoveEdge(std::string_view client, std::string_view server);

  // What a label value written by a watched process is exported as: valid UTF-8 kept, control
  // characters and invalid bytes replaced by '?'.
  static std::string LabelValue(std::string_view raw);
  static constexpr const char* kOther = "_other";

 private:
  using Counters = std::unordered_map<std::string, prometheus::Counter*>;
  // The series of one bounded label set (a process identity or an edge pair), to be removed
  // together: each is a (cache, key) whose counter it holds.
  struct SeriesCache;
  struct LabelSet {
    int64_t last_used_ms = 0;
    std::vector<std::pair<SeriesCache*, std::string>> keys;
  };
  struct Series {
    prometheus::Counter* counter = nullptr;
    LabelSet* owner = nullptr;  // null for "_other" series, which stay
  };
  struct SeriesCache {
    prometheus::Family<prometheus::Counter>* family = nullptr;
    std::unordered_map<std::string, Series> map;
  };
  // Two label sets may share a counter (their values differ only in bytes LabelValue replaces):
  // a counter leaves its family when the last cache entry holding it goes.
  void Hold(prometheus::Counter* counter);
  void Reclaim(LabelSet& set);
  prometheus::Counter& GetOwned(SeriesCache& cache, LabelSet* owner,
                                const std::map<std::string, std::string>& labels);
  using LabelList = std::initializer_list<std::pair<const char*, std::string_view>>;
  prometheus::Counter& Get(prometheus::Family<prometheus::Counter>& family, Counters& cache,
                           LabelList labels);
  // Get for the per-process families: `labels` and then the five process labels of `who`.
  prometheus::Counter& GetForProcess(SeriesCache& cache, LabelList labels,
                                     const ProcessLabels& who);
  // The identity's label set (admitted now if there is room, or if an idle one gives its place),
  // or null: counted under "_other".
  LabelSet* Admit(const ProcessLabels& who);
  const std::string& CacheKey(LabelList labels);

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Counter>& malformed_;
  prometheus::Family<prometheus::Counter>& legacy_;
  prometheus::Family<prometheus::Counter>& parse_errors_;
  prometheus::Family<prometheus::Counter>& kernel_drops_;
  prometheus::Family<prometheus::Counter>& outbound_;
  prometheus::Family<prometheus::Counter>& edges_;
  prometheus::Gauge* edges_tracked_ = nullptr;
  prometheus::Gauge* edges_limit_ = nullptr;
  prometheus::Counter* edges_folded_ = nullptr;
  uint64_t edges_folded_seen_ = 0;
  SeriesCache edges_cache_;
  std::unordered_map<std::string, LabelSet> edge_pairs_;  // by (client, server)
  prometheus::Counter* reclaimed_processes_ = nullptr;
  prometheus::Counter* reclaimed_edges_ = nullptr;
  std::unordered_map<prometheus::Counter*, int> holders_;  // cache entries per counter
  int64_t reclaim_after_ms_ = 0;
  int64_t now_ms_ = 0;
  int64_t no_idle_identity_before_ms_ = 0;  // no identity can be reclaimed before then
  prometheus::Gauge& connections_tracked_;
  prometheus::Family<prometheus::Counter>& hpack_errors_;
  prometheus::Family<prometheus::Counter>& upgrades_;
  prometheus::Family<prometheus::Counter>& tracestate_duplicates_;
  prometheus::Family<prometheus::Counter>& tls_attach_failures_;
  prometheus::Family<prometheus::Counter>& tls_unseen_;
  prometheus::Family<prometheus::Gauge>& tls_libraries_;
  std::vector<prometheus::Gauge*> tls_library_gauges_;  // attached, failed
  Counters tls_attach_failures_cache_, tls_unseen_cache_;
  std::vector<prometheus::Gauge*> http2_connections_;
  Counters hpack_errors_cache_, upgrades_cache_, tracestate_duplicates_cache_;
  Counters parse_errors_cache_;
  SeriesCache requests_cache_, malformed_cache_, legacy_cache_, outbound_cache_;
  std::vector<prometheus::Counter*> kernel_drop_counters_;
  std::vector<uint64_t> kernel_drop_seen_;
  std::string key_;  // scratch for cache keys
  std::string id_;   // scratch for identity keys
  size_t max_identities_;
  std::unordered_map<std::string, LabelSet> identities_;  // process label sets with own series
};

}  // namespace tracegap
