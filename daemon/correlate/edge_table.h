#pragma once
// Per-edge propagation outcomes: for each (client workload, server, protocol), how the client's
// outbound requests to that server fared, and the newest gap. What GET /v1/edges serves and
// tracegap_edge_requests_total counts.
//
// Bounded: at most `max_edges` distinct (client, server) pairs are tracked. A request on a new
// pair past that takes the place of the pair seen least recently if that one has been idle for
// `reclaim_after_ms` (0: never), and is otherwise counted under server "_other" (per client:
// clients are workload labels, which Metrics bounds by --max-metric-processes). A pair in use
// is never evicted, so the series a scrape sees keep counting.
//
// Thread safety: every public method locks; the pipeline writes, the API thread reads.

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "correlate/outcome.h"
#include "correlate/process_table.h"
#include "vocabulary.h"

namespace tracegap {

struct EdgeSnapshot {
  std::string client;
  std::string server;
  Protocol protocol = Protocol::kHttp1;
  OutcomeCounts outbound{};  // indexed by Outcome
  int64_t first_seen_unix_ms = 0;
  int64_t last_seen_unix_ms = 0;
  std::optional<GapExample> last_gap;  // the newest dropped, restarted or mangled request

  uint64_t total() const { return Total(outbound); }
  uint64_t gaps() const { return Gaps(outbound); }
  uint64_t with_context() const { return WithContext(outbound); }
  double gap_ratio() const { return GapRatio(outbound); }
};

// Worst first: highest gap ratio, then most gaps, then most requests with context; ties by
// client, server and protocol, so the order is stable.
void SortWorstFirst(std::vector<EdgeSnapshot>& edges);

class EdgeTable {
 public:
  static constexpr std::string_view kOther = "_other";

  explicit EdgeTable(size_t max_edges, int64_t reclaim_after_ms = 0);

  struct Counted {
    std::string_view server;  // `server`, or kOther: a new pair found the table full
    // A pair that gave its place to this one (its rows are gone): remove its series too.
    std::optional<std::pair<std::string, std::string>> evicted;
  };
  // Counts one outbound request.
  Counted Count(std::string_view client, std::string_view server, Protocol protocol,
                Outcome outcome, int64_t now_unix_ms, const GapExample* example);

  std::vector<EdgeSnapshot> List() const;

  struct Totals {
    size_t pairs = 0;      // distinct (client, server) pairs tracked, "_other" ones not counted
    size_t max_pairs = 0;  // --max-edges
    uint64_t folded = 0;   // requests counted under "_other" because the table was full
    uint64_t evicted = 0;  // idle pairs that gave their place to new ones
  };
  Totals totals() const;

 private:
  // Builds the pair's key in key_.
  const std::string& PairKey(std::string_view client, std::string_view server);
  // Makes room for a new pair by evicting the least recently seen one if it has been idle long
  // enough; returns its (client, server), or nullopt (no room).
  std::optional<std::pair<std::string, std::string>> EvictIdle(int64_t now_unix_ms);

  mutable std::mutex mu_;
  size_t max_pairs_;
  int64_t reclaim_after_ms_;
  std::unordered_map<std::string, int64_t> pairs_;      // key of (client, server) -> last seen
  std::unordered_map<std::string, EdgeSnapshot> rows_;  // pair key + protocol
  uint64_t folded_ = 0;
  uint64_t evicted_ = 0;
  int64_t no_idle_pair_before_ms_ = 0;  // no pair can be evicted before then
  std::string key_;                     // scratch, under mu_
};

}  // namespace tracegap
