#include "correlate/process_info.h"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>

namespace tracegap {
namespace {

// The unit label of a process (see UnitFromCgroup): its short container id, else its unit.
std::string UnitLabel(const CgroupIdentity& id) {
  if (!id.container_id.empty()) return id.container_id.substr(0, 12);
  return id.unit;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string UnitFromCgroup(std::string_view text) { return UnitLabel(ParseCgroup(text)); }

std::optional<uint64_t> StartTimeFromStat(std::string_view stat) {
  // "pid (comm) state ppid ...": comm may contain ") ", so split at the last ')'.
  size_t close = stat.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view rest = stat.substr(close + 1);
  // After ')' come fields 3.. separated by single spaces; starttime is field 22.
  int field = 2;
  size_t i = 0;
  while (i < rest.size()) {
    while (i < rest.size() && rest[i] == ' ') ++i;
    size_t start = i;
    while (i < rest.size() && rest[i] != ' ' && rest[i] != '\n') ++i;
    if (start == i) break;
    ++field;
    if (field == 22) {
      uint64_t v = 0;
      for (size_t k = start; k < i; ++k) {
        char c = rest[k];
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<uint64_t>(c - '0');
      }
      return v;
    }
  }
  return std::nullopt;
}

ProcessInfoCache::ProcessInfoCache(std::string proc_root, size_t max_entries,
                                   WorkloadResolver::Paths paths, WorkloadResolver::Clock now_ms)
    : now_ms_(now_ms ? std::move(now_ms) : WorkloadResolver::Clock([] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now().time_since_epoch())
            .count();
      })),
      proc_root_(std::move(proc_root)),
      max_entries_(max_entries),
      workloads_(std::move(paths), 4096, now_ms_) {}

ProcessInfo ProcessInfoCache::Read(uint32_t pid) {
  ProcessInfo info;
  const std::string dir = proc_root_ + "/" + std::to_string(pid);
  info.start_time = StartTimeFromStat(ReadFile(dir + "/stat")).value_or(0);
  const CgroupIdentity cgroup = ParseCgroup(ReadFile(dir + "/cgroup"));
  info.unit = UnitLabel(cgroup);
  std::string comm = ReadFile(dir + "/comm");
  if (!comm.empty() && comm.back() == '\n') comm.pop_back();
  info.workload = workloads_.Resolve(cgroup, comm);
  if (!cgroup.pod_uid.empty() && info.workload.kind != Workload::Kind::kPod) {
    unnamed_pods_[pid] = UnnamedPod{cgroup, comm, now_ms_() + WorkloadResolver::kRetryMs};
  }
  char target[4096];
  ssize_t n = readlink((dir + "/exe").c_str(), target, sizeof(target) - 1);
  if (n > 0) info.exe.assign(target, static_cast<size_t>(n));
  return info;
}

std::optional<uint64_t> ProcessInfoCache::CurrentStartTime(uint32_t pid) const {
  return StartTimeFromStat(ReadFile(proc_root_ + "/" + std::to_string(pid) + "/stat"));
}

const ProcessInfo& ProcessInfoCache::Get(uint32_t pid) {
  auto it = cache_.find(pid);
  if (it != cache_.end()) {
    if (auto unnamed = unnamed_pods_.find(pid); unnamed != unnamed_pods_.end()) {
      const int64_t now = now_ms_();
      if (now >= unnamed->second.next_try_ms) {
        Workload w = workloads_.Resolve(unnamed->second.cgroup, unnamed->second.comm);
        if (w.kind == Workload::Kind::kPod) {
          it->second.workload = std::move(w);
          unnamed_pods_.erase(unnamed);
        } else {
          unnamed->second.next_try_ms = now + WorkloadResolver::kRetryMs;
        }
      }
    }
    return it->second;
  }
  // Bounded: when full, start over rather than track recency; re-reading /proc is cheap and rare.
  if (cache_.size() >= max_entries_) {
    cache_.clear();
    unnamed_pods_.clear();
  }
  return cache_.emplace(pid, Read(pid)).first->second;
}

}  // namespace tracegap
