#include "correlate/process_info.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

namespace tracegap {
namespace {

bool IsHex(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// A 64-hex-digit container id inside one cgroup path component, as the runtimes name them:
// "docker-<id>.scope", "cri-containerd-<id>.scope", "crio-<id>.scope", "libpod-<id>.scope", or
// the bare "<id>" (cgroupfs driver).
std::string_view ContainerId(std::string_view component) {
  if (component.size() >= 6 && component.substr(component.size() - 6) == ".scope") {
    component.remove_suffix(6);
  }
  if (component.size() < 64) return {};
  std::string_view id = component.substr(component.size() - 64);
  if (!IsHex(id)) return {};
  if (component.size() > 64 && component[component.size() - 65] != '-') return {};
  return id;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string UnitFromCgroup(std::string_view text) {
  // What the path components of some lines name, innermost last.
  struct Found {
    std::string_view unit;
    std::string_view container;
  };
  Found preferred;  // from the v2 ("0::") and v1 name=systemd lines
  Found fallback;   // from v1 controller lines
  // Lines are "hierarchy-id:controllers:path"; cgroup v2 has the single line "0::/path".
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    size_t c1 = line.find(':');
    if (c1 == std::string_view::npos) continue;
    size_t c2 = line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) continue;
    std::string_view path = line.substr(c2 + 1);
    // Prefer the v2 (or name=systemd) line; v1 controller lines repeat the same path, and are
    // used only when there is no such line (a cgroup v1 host without systemd).
    std::string_view controllers = line.substr(c1 + 1, c2 - c1 - 1);
    Found& found = controllers.empty() || controllers == "name=systemd" ? preferred : fallback;
    while (!path.empty()) {
      size_t slash = path.find('/');
      std::string_view comp = path.substr(0, slash);
      path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash + 1);
      if (comp.empty()) continue;
      if (std::string_view id = ContainerId(comp); !id.empty())
        found.container = id;
      else if (EndsWith(comp, ".service") || EndsWith(comp, ".scope"))
        found.unit = comp;
    }
  }
  const Found& use = preferred.container.empty() && preferred.unit.empty() ? fallback : preferred;
  if (!use.container.empty()) return std::string(use.container.substr(0, 12));
  return std::string(use.unit);
}

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

ProcessInfoCache::ProcessInfoCache(std::string proc_root, size_t max_entries)
    : proc_root_(std::move(proc_root)), max_entries_(max_entries) {}

ProcessInfo ProcessInfoCache::Read(uint32_t pid) const {
  ProcessInfo info;
  const std::string dir = proc_root_ + "/" + std::to_string(pid);
  info.start_time = StartTimeFromStat(ReadFile(dir + "/stat")).value_or(0);
  info.unit = UnitFromCgroup(ReadFile(dir + "/cgroup"));
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
  if (it != cache_.end()) return it->second;
  // Bounded: when full, start over rather than track recency; re-reading /proc is cheap and rare.
  if (cache_.size() >= max_entries_) cache_.clear();
  return cache_.emplace(pid, Read(pid)).first->second;
}

}  // namespace tracegap
