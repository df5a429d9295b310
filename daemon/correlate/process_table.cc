#include "correlate/process_table.h"

#include <algorithm>

namespace tracegap {

uint64_t ProcessSnapshot::inbound_total() const { return Total(inbound); }
uint64_t ProcessSnapshot::outbound_total() const { return Total(outbound); }
uint64_t ProcessSnapshot::gaps() const { return Gaps(outbound); }
double ProcessSnapshot::gap_ratio() const { return GapRatio(outbound); }

ProcessTable::ProcessTable(size_t max_processes, std::chrono::milliseconds retention)
    : max_processes_(max_processes == 0 ? 1 : max_processes), retention_(retention) {}

ProcessTable::Entry& ProcessTable::Touch(const ProcessKey& key, const ProcessSnapshot& identity,
                                         int64_t now_unix_ms) {
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    ProcessSnapshot& snap = it->second.snap;
    snap.last_seen_unix_ms = now_unix_ms;
    if (snap.workload != identity.workload) {  // named later (ProcessInfoCache)
      snap.workload = identity.workload;
      snap.container = identity.container;
      snap.namespace_ = identity.namespace_;
    }
    return it->second;
  }
  while (entries_.size() >= max_processes_ && !lru_.empty()) {
    entries_.erase(lru_.back());
    lru_.pop_back();
  }
  lru_.push_front(key);
  Entry& e = entries_[key];
  e.lru = lru_.begin();
  e.snap.pid = key.pid;
  e.snap.start_time = key.start_time;
  e.snap.comm = identity.comm;
  e.snap.unit = identity.unit;
  e.snap.exe = identity.exe;
  e.snap.workload = identity.workload;
  e.snap.container = identity.container;
  e.snap.namespace_ = identity.namespace_;
  e.snap.first_seen_unix_ms = now_unix_ms;
  e.snap.last_seen_unix_ms = now_unix_ms;
  return e;
}

void ProcessTable::CountInbound(const ProcessKey& key, const ProcessSnapshot& identity,
                                ContextVerdict verdict, int64_t now_unix_ms) {
  std::lock_guard lock(mu_);
  Entry& e = Touch(key, identity, now_unix_ms);
  e.snap.inbound[static_cast<size_t>(verdict) % kAllContextVerdicts.size()]++;
}

void ProcessTable::CountOutbound(const ProcessKey& key, const ProcessSnapshot& identity,
                                 Outcome outcome, int64_t now_unix_ms, GapExample* example) {
  std::lock_guard lock(mu_);
  Entry& e = Touch(key, identity, now_unix_ms);
  e.snap.outbound[static_cast<size_t>(outcome) % kAllOutcomes.size()]++;
  if (example) {
    if (e.examples.size() >= kMaxGapExamples) e.examples.pop_front();
    e.examples.push_back(std::move(*example));
  }
}

void ProcessTable::MarkExited(const ProcessKey& key, int64_t now_unix_ms) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.snap.exited) return;
  it->second.snap.exited = true;
  it->second.exited_at_ms = now_unix_ms;
}

size_t ProcessTable::Expire(int64_t now_unix_ms) {
  std::lock_guard lock(mu_);
  size_t dropped = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    const Entry& e = it->second;
    if (e.snap.exited && now_unix_ms - e.exited_at_ms >= retention_.count()) {
      lru_.erase(e.lru);
      it = entries_.erase(it);
      ++dropped;
    } else {
      ++it;
    }
  }
  return dropped;
}

std::vector<ProcessSnapshot> ProcessTable::List() const {
  std::lock_guard lock(mu_);
  std::vector<ProcessSnapshot> out;
  out.reserve(entries_.size());
  for (const auto& [key, e] : entries_) out.push_back(e.snap);
  return out;
}

std::optional<ProcessSnapshot> ProcessTable::Find(uint32_t pid) const {
  std::lock_guard lock(mu_);
  const Entry* best = nullptr;
  // Keys order by (pid, start_time): the last match is the newest process with this pid, but a
  // live one wins over an exited one.
  for (auto it = entries_.lower_bound(ProcessKey{pid, 0});
       it != entries_.end() && it->first.pid == pid; ++it) {
    if (!best || !it->second.snap.exited || best->snap.exited) best = &it->second;
  }
  if (!best) return std::nullopt;
  ProcessSnapshot s = best->snap;
  s.gap_examples.assign(best->examples.begin(), best->examples.end());
  return s;
}

std::vector<ProcessKey> ProcessTable::LiveKeys() const {
  std::lock_guard lock(mu_);
  std::vector<ProcessKey> keys;
  for (const auto& [key, e] : entries_) {
    if (!e.snap.exited) keys.push_back(key);
  }
  return keys;
}

void ProcessTable::SetLimits(size_t max_processes, std::chrono::milliseconds retention) {
  std::lock_guard lock(mu_);
  max_processes_ = max_processes == 0 ? 1 : max_processes;
  retention_ = retention;
}

size_t ProcessTable::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace tracegap
