#include "correlate/edge_table.h"

#include <algorithm>
#include <tuple>

namespace tracegap {

void SortWorstFirst(std::vector<EdgeSnapshot>& edges) {
  std::sort(edges.begin(), edges.end(), [](const EdgeSnapshot& a, const EdgeSnapshot& b) {
    const double ra = a.gap_ratio(), rb = b.gap_ratio();
    if (ra != rb) return ra > rb;
    if (a.gaps() != b.gaps()) return a.gaps() > b.gaps();
    if (a.with_context() != b.with_context()) return a.with_context() > b.with_context();
    return std::tie(a.client, a.server, a.protocol) < std::tie(b.client, b.server, b.protocol);
  });
}

EdgeTable::EdgeTable(size_t max_edges, int64_t reclaim_after_ms)
    : max_pairs_(max_edges), reclaim_after_ms_(reclaim_after_ms) {}

// Client and server are label values: neither holds a '\0' once sanitized, but the key must not
// depend on that, so each part goes in with its length. A row's key is its pair's key and the
// protocol's byte.
const std::string& EdgeTable::PairKey(std::string_view client, std::string_view server) {
  key_.clear();
  for (std::string_view part : {client, server}) {
    const auto len = static_cast<uint32_t>(part.size());
    key_.append(reinterpret_cast<const char*>(&len), sizeof(len));
    key_.append(part);
  }
  return key_;
}

std::optional<std::pair<std::string, std::string>> EdgeTable::EvictIdle(int64_t now) {
  // One scan at most until the oldest pair could be idle enough.
  if (reclaim_after_ms_ <= 0 || pairs_.empty() || now < no_idle_pair_before_ms_) return {};
  auto oldest = pairs_.begin();
  for (auto it = pairs_.begin(); it != pairs_.end(); ++it) {
    if (it->second < oldest->second) oldest = it;
  }
  if (now - oldest->second < reclaim_after_ms_) {
    no_idle_pair_before_ms_ = oldest->second + reclaim_after_ms_;
    return {};
  }
  std::pair<std::string, std::string> evicted;
  for (Protocol p : kAllProtocols) {
    auto row = rows_.find(oldest->first + static_cast<char>(p));
    if (row == rows_.end()) continue;
    evicted = {row->second.client, row->second.server};
    rows_.erase(row);
  }
  pairs_.erase(oldest);
  ++evicted_;
  return evicted;
}

EdgeTable::Counted EdgeTable::Count(std::string_view client, std::string_view server,
                                    Protocol protocol, Outcome outcome, int64_t now_unix_ms,
                                    const GapExample* example) {
  std::lock_guard lock(mu_);
  Counted counted{server, std::nullopt};
  // Hot path (every outbound request): a known pair and row cost two lookups and no allocation.
  PairKey(client, server);
  if (server != kOther) {
    if (auto known = pairs_.find(key_); known != pairs_.end()) {
      known->second = now_unix_ms;
    } else {
      if (pairs_.size() >= max_pairs_) counted.evicted = EvictIdle(now_unix_ms);
      if (pairs_.size() < max_pairs_) {
        pairs_.emplace(key_, now_unix_ms);
      } else {
        counted.server = kOther;
        ++folded_;
        PairKey(client, kOther);
      }
    }
  }
  key_.push_back(static_cast<char>(protocol));
  auto row = rows_.find(key_);
  if (row == rows_.end()) {
    EdgeSnapshot fresh;
    fresh.client = std::string(client);
    fresh.server = std::string(counted.server);
    fresh.protocol = protocol;
    fresh.first_seen_unix_ms = now_unix_ms;
    row = rows_.emplace(key_, std::move(fresh)).first;
  }
  EdgeSnapshot& e = row->second;
  e.outbound[static_cast<size_t>(outcome) % kAllOutcomes.size()]++;
  e.last_seen_unix_ms = now_unix_ms;
  if (example) e.last_gap = *example;
  return counted;
}

std::vector<EdgeSnapshot> EdgeTable::List() const {
  std::lock_guard lock(mu_);
  std::vector<EdgeSnapshot> out;
  out.reserve(rows_.size());
  for (const auto& [key, row] : rows_) out.push_back(row);
  return out;
}

EdgeTable::Totals EdgeTable::totals() const {
  std::lock_guard lock(mu_);
  return Totals{pairs_.size(), max_pairs_, folded_, evicted_};
}

}  // namespace tracegap
