#pragma once
// What the daemon knows of a process beyond its pid: its start time (so that a reused pid is a new
// process), its name, its systemd unit or container, and its workload (correlate/workload.h).
// Read from /proc, cached per pid.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "correlate/workload.h"

namespace tracegap {

// The unit label for a process from the text of /proc/PID/cgroup: a short container id (12 hex
// digits) when the process runs in a container (docker, containerd, CRI-O, podman, kubepods),
// else the innermost systemd unit (.service or .scope), else "". Pure; any input is safe.
std::string UnitFromCgroup(std::string_view cgroup_file);

// Field 22 of /proc/PID/stat (starttime, in clock ticks since boot), parsed past the comm field,
// which may itself hold spaces and parentheses. nullopt if the text is not a stat line.
std::optional<uint64_t> StartTimeFromStat(std::string_view stat_line);

struct ProcessInfo {
  uint64_t start_time = 0;  // clock ticks since boot; 0 if the process was gone when first seen
  std::string unit;
  std::string exe;    // /proc/PID/exe target; "" if unreadable
  Workload workload;  // from /proc/PID/cgroup and /proc/PID/comm, named by the host's metadata
};

// Caches ProcessInfo by pid. Lookups re-read /proc only for a pid not seen before, or when the
// caller says the pid may have been reused. Workloads are named by a WorkloadResolver reading the
// metadata under `paths` (its own caches, by pod and container). A process whose cgroup names a
// pod whose kubelet directory was not found yet is named again (every WorkloadResolver::kRetryMs
// at most) until it is found: its labels then change from the container to "namespace/pod".
// Not thread-safe: one owner thread.
class ProcessInfoCache {
 public:
  // `now_ms` (a monotonic clock in milliseconds; default the steady clock) times the retries,
  // here and in the resolver.
  explicit ProcessInfoCache(std::string proc_root = "/proc", size_t max_entries = 8192,
                            WorkloadResolver::Paths paths = {},
                            WorkloadResolver::Clock now_ms = {});
  const ProcessInfo& Get(uint32_t pid);
  void Forget(uint32_t pid) {
    cache_.erase(pid);
    unnamed_pods_.erase(pid);
  }
  // Forgets every pid for which forget(pid) is true.
  template <typename Pred>
  void ForgetIf(Pred forget) {
    std::erase_if(cache_, [&forget](const auto& entry) { return forget(entry.first); });
    std::erase_if(unnamed_pods_, [&forget](const auto& entry) { return forget(entry.first); });
  }
  // The start time /proc shows for pid now: nullopt if the pid is gone.
  std::optional<uint64_t> CurrentStartTime(uint32_t pid) const;
  size_t size() const { return cache_.size(); }

 private:
  ProcessInfo Read(uint32_t pid);
  // What is needed to name a process in a pod again, and when.
  struct UnnamedPod {
    CgroupIdentity cgroup;
    std::string comm;
    int64_t next_try_ms;
  };
  WorkloadResolver::Clock now_ms_;
  std::string proc_root_;
  size_t max_entries_;
  WorkloadResolver workloads_;
  std::unordered_map<uint32_t, ProcessInfo> cache_;
  std::unordered_map<uint32_t, UnnamedPod> unnamed_pods_;
};

}  // namespace tracegap
