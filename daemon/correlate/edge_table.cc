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

EdgeTable::EdgeTable(size_t max_edges) : max_pairs_(max_edges) {}

// Client and server are label values: neither holds a '\0' once sanitized, but the key must not
// depend on that, so each part goes in with its length.
std::string& EdgeTable::Key(std::string_view client, std::string_view server, Protocol protocol) {
  key_.clear();
  for (std::string_view part : {client, server}) {
    const auto len = static_cast<uint32_t>(part.size());
    key_.append(reinterpret_cast<const char*>(&len), sizeof(len));
    key_.append(part);
  }
  key_.push_back(static_cast<char>(protocol));
  return key_;
}

std::string_view EdgeTable::Count(std::string_view client, std::string_view server,
                                  Protocol protocol, Outcome outcome, int64_t now_unix_ms,
                                  const GapExample* example) {
  std::lock_guard lock(mu_);
  std::string_view counted = server;
  std::string& key = Key(client, server, protocol);
  auto row = rows_.find(key);
  if (row == rows_.end()) {
    // A new row: a new pair needs room (a known pair with a new protocol does not).
    std::string pair = key.substr(0, key.size() - 1);
    if (server != kOther && !pairs_.contains(pair)) {
      if (pairs_.size() >= max_pairs_) {
        counted = kOther;
        ++folded_;
        key = Key(client, kOther, protocol);
      } else {
        pairs_.insert(std::move(pair));
      }
    }
    row = rows_.find(key);
    if (row == rows_.end()) {
      EdgeSnapshot fresh;
      fresh.client = std::string(client);
      fresh.server = std::string(counted);
      fresh.protocol = protocol;
      fresh.first_seen_unix_ms = now_unix_ms;
      row = rows_.emplace(key, std::move(fresh)).first;
    }
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
  return Totals{pairs_.size(), max_pairs_, folded_};
}

}  // namespace tracegap
