#include "correlate/workload.h"

#include <chrono>
#include <exception>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <utility>

namespace tracegap {
namespace {

namespace fs = std::filesystem;

constexpr size_t kIdLength = 64;
constexpr size_t kShortIdLength = 12;

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

bool IsLowerHex(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsLowerHex(c)) return false;
  }
  return true;
}

// A 64-hex-digit container id inside one cgroup path component, as the runtimes name them:
// "docker-<id>.scope", "cri-containerd-<id>.scope", "crio-<id>.scope", "libpod-<id>.scope",
// "libpod-<id>" (podman's cgroupfs manager), or the bare "<id>" (cgroupfs drivers).
std::string_view ContainerId(std::string_view component) {
  if (EndsWith(component, ".scope")) component.remove_suffix(6);
  if (component.size() < kIdLength) return {};
  std::string_view id = component.substr(component.size() - kIdLength);
  if (!IsLowerHex(id)) return {};
  if (component.size() > kIdLength && component[component.size() - kIdLength - 1] != '-') return {};
  return id;
}

// The runtime a container component names by its prefix; a bare id says which only under
// docker's cgroupfs parent "/docker/". The monitors (podman's and CRI-O's conmon) run in
// "<runtime>-conmon-<id>.scope" and count as their container.
std::string_view RuntimeOf(std::string_view component, std::string_view parent) {
  if (EndsWith(component, ".scope")) component.remove_suffix(6);
  const std::string_view prefix = component.substr(0, component.size() - kIdLength);
  if (prefix.empty()) return parent == "docker" ? "docker" : "";
  if (prefix == "docker-") return "docker";
  if (prefix == "cri-containerd-") return "containerd";
  if (prefix == "crio-" || prefix == "crio-conmon-") return "cri-o";
  if (prefix == "libpod-" || prefix == "libpod-conmon-") return "podman";
  return "";
}

// A pod uid as the kubelet writes it in cgroup names: lowercase hex and dashes (UUIDs; static
// pods have a 32-hex-digit hash), with '_' for '-' under the systemd driver.
std::string PodUid(std::string_view text, char dash) {
  if (text.empty() || text.size() > 64) return {};
  std::string uid(text);
  for (char& c : uid) {
    if (c == dash) {
      c = '-';
    } else if (!IsLowerHex(c)) {
      return {};
    }
  }
  return uid;
}

// The pod uid a component names: "pod<uid>" below a "kubepods" component (cgroupfs driver), or
// "<...>kubepods<...>-pod<uid_>.slice" (systemd driver: kubepods-burstable-pod<uid>.slice,
// kubepods-pod<uid>.slice, kubelet-kubepods-besteffort-pod<uid>.slice under a custom root).
std::string PodUidOf(std::string_view component, bool below_kubepods) {
  if (below_kubepods && StartsWith(component, "pod")) return PodUid(component.substr(3), '-');
  if (!EndsWith(component, ".slice")) return {};
  std::string_view stem = component.substr(0, component.size() - 6);
  const size_t dash = stem.rfind('-');
  if (dash == std::string_view::npos || !StartsWith(stem.substr(dash + 1), "pod")) return {};
  const std::string_view prefix = stem.substr(0, dash);
  bool kubepods = false;
  for (size_t start = 0; start <= prefix.size();) {
    size_t end = prefix.find('-', start);
    if (end == std::string_view::npos) end = prefix.size();
    if (prefix.substr(start, end - start) == "kubepods") kubepods = true;
    start = end + 1;
  }
  return kubepods ? PodUid(stem.substr(dash + 4), '_') : std::string{};
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A machine name from its systemd-escaped form ("my\x2dbox" -> "my-box"); "" unless the result is
// a valid machine name (a hostname: [A-Za-z0-9._-], at most 64 characters).
std::string UnescapeMachine(std::string_view escaped) {
  std::string name;
  for (size_t i = 0; i < escaped.size(); ++i) {
    char c = escaped[i];
    if (c == '\\' && i + 3 < escaped.size() && escaped[i + 1] == 'x' &&
        HexValue(escaped[i + 2]) >= 0 && HexValue(escaped[i + 3]) >= 0) {
      c = static_cast<char>(HexValue(escaped[i + 2]) * 16 + HexValue(escaped[i + 3]));
      i += 3;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok || name.size() >= 64) return {};
    name.push_back(c);
  }
  return name;
}

// The machine a component names: "machine-<name>.scope" (machined's scope, as systemd-nspawn
// registers itself) or "systemd-nspawn@<name>.service" (machinectl start).
std::string MachineOf(std::string_view component) {
  if (StartsWith(component, "machine-") && EndsWith(component, ".scope")) {
    return UnescapeMachine(component.substr(8, component.size() - 8 - 6));
  }
  if (StartsWith(component, "systemd-nspawn@") && EndsWith(component, ".service")) {
    return UnescapeMachine(component.substr(15, component.size() - 15 - 8));
  }
  return {};
}

bool IsUserSliceComponent(std::string_view component) {
  return (StartsWith(component, "user-") && EndsWith(component, ".slice")) ||
         (StartsWith(component, "user@") && EndsWith(component, ".service"));
}

// What the lines of one kind (preferred or controller lines) say; a later line's findings
// replace an earlier one's, as an inner component's replace an outer one's.
struct Found {
  std::string_view container_id;
  std::string_view container_runtime;
  std::string pod_uid;
  std::string machine;
  std::string_view unit;
  bool in_user_slice = false;

  bool NamesContainerOrUnit() const { return !container_id.empty() || !unit.empty(); }
};

Found ParsePath(std::string_view path) {
  Found found;
  bool below_kubepods = false;
  bool user = false;
  std::string_view parent;
  while (!path.empty()) {
    const size_t slash = path.find('/');
    const std::string_view comp = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash + 1);
    if (comp.empty()) continue;
    if (EndsWith(comp, ".service") || EndsWith(comp, ".scope")) found.unit = comp;
    if (std::string_view id = ContainerId(comp); !id.empty()) {
      found.container_id = id;
      found.container_runtime = RuntimeOf(comp, parent);
    } else if (std::string uid = PodUidOf(comp, below_kubepods); !uid.empty()) {
      found.pod_uid = std::move(uid);
    } else if (std::string machine = MachineOf(comp); !machine.empty()) {
      found.machine = std::move(machine);
    }
    if (comp == "kubepods") below_kubepods = true;
    if (IsUserSliceComponent(comp)) user = true;
    parent = comp;
  }
  found.in_user_slice = user && !found.unit.empty();
  return found;
}

void Merge(Found& into, Found&& line) {
  if (!line.container_id.empty()) {
    into.container_id = line.container_id;
    into.container_runtime = line.container_runtime;
  }
  if (!line.pod_uid.empty()) into.pod_uid = std::move(line.pod_uid);
  if (!line.machine.empty()) into.machine = std::move(line.machine);
  if (!line.unit.empty()) {
    into.unit = line.unit;
    into.in_user_slice = line.in_user_slice;
  }
}

std::string ShortId(const std::string& container_id) {
  return container_id.substr(0, kShortIdLength);
}

// A name from metadata fit to be a label value: printable ASCII without spaces, 1-253 bytes
// (Kubernetes, docker and podman names are all narrower than that).
bool IsPlainName(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  for (char c : name) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

// Reads the file at path into text if it holds at most limit bytes; false if unreadable or larger.
bool ReadBounded(const fs::path& path, uintmax_t limit, std::string& text) {
  std::error_code ec;
  const uintmax_t size = fs::file_size(path, ec);
  if (ec || size > limit) return false;
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  text.clear();
  char buf[64 * 1024];
  // The file may grow between the size check and the read: stop at the limit all the same.
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > limit) return false;
  }
  return !in.bad();
}

// The names of the entries of dir; none if it cannot be listed.
template <typename Visit>
void ForEachEntry(const fs::path& dir, Visit visit) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (visit(*it)) return;
  }
}

int64_t SteadyNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool IsExcludedUnit(const CgroupIdentity& id) {
  const std::string_view unit = id.unit;
  return id.in_user_slice || unit == "init.scope" ||
         (StartsWith(unit, "session-") && EndsWith(unit, ".scope")) ||
         (StartsWith(unit, "user@") && EndsWith(unit, ".service"));
}

}  // namespace

CgroupIdentity ParseCgroup(std::string_view text) {
  Found preferred;  // from the v2 ("0::") and v1 name=systemd lines
  Found fallback;   // from v1 controller lines
  // Lines are "hierarchy-id:controllers:path".
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    const size_t c1 = line.find(':');
    if (c1 == std::string_view::npos) continue;
    const size_t c2 = line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) continue;
    // v1 controller lines repeat the systemd line's path; they count only on a cgroup v1 host
    // without systemd, or a hybrid one whose v2 line says nothing.
    const std::string_view controllers = line.substr(c1 + 1, c2 - c1 - 1);
    Found& found = controllers.empty() || controllers == "name=systemd" ? preferred : fallback;
    Merge(found, ParsePath(line.substr(c2 + 1)));
  }
  const Found* use = &preferred;
  if (!preferred.NamesContainerOrUnit() &&
      (fallback.NamesContainerOrUnit() || preferred.pod_uid.empty())) {
    use = &fallback;
  }
  CgroupIdentity id;
  id.pod_uid = use->pod_uid;
  id.container_id = std::string(use->container_id);
  id.machine = use->machine;
  id.unit = std::string(use->unit);
  id.in_user_slice = use->in_user_slice;
  if (!id.container_id.empty()) {
    id.runtime = std::string(use->container_runtime);
  } else if (!id.machine.empty()) {
    id.runtime = "nspawn";
  }
  return id;
}

WorkloadResolver::WorkloadResolver(Paths paths, size_t max_cached, Clock now_ms)
    : paths_(std::move(paths)),
      max_cached_(max_cached),
      now_ms_(now_ms ? std::move(now_ms) : Clock(SteadyNowMs)) {}

template <typename T, typename Lookup>
const WorkloadResolver::Entry<T>& WorkloadResolver::Cached(
    std::unordered_map<std::string, Entry<T>>& cache, const std::string& key, Lookup lookup) {
  const int64_t now = now_ms_();
  auto it = cache.find(key);
  if (it != cache.end() && (it->second.found || now - it->second.checked_ms < kRetryMs)) {
    return it->second;
  }
  if (it == cache.end()) {
    // Bounded: when full, start over rather than track recency (as ProcessInfoCache does).
    if (cache.size() >= max_cached_) cache.clear();
    it = cache.emplace(key, Entry<T>{}).first;
  }
  Entry<T>& entry = it->second;
  entry.value = T{};
  entry.found = lookup(entry.value);
  entry.checked_ms = now;
  return entry;
}

Workload WorkloadResolver::Resolve(const CgroupIdentity& id, std::string_view comm) {
  Workload w;
  if (!id.pod_uid.empty()) {
    const Entry<Pod>& entry =
        Cached(pods_, id.pod_uid, [&](Pod& pod) { return LookupPod(id.pod_uid, pod); });
    if (entry.found) {
      const Pod pod = entry.value;
      w.kind = Workload::Kind::kPod;
      w.namespace_ = pod.namespace_;
      w.pod = pod.name;
      w.workload = pod.namespace_ + "/" + pod.name;
      if (!id.container_id.empty()) {
        const Entry<std::string>& name = Cached(
            pod_containers_, id.container_id,
            [&](std::string& found) { return LookupPodContainer(pod, id.container_id, found); });
        w.container = name.found ? name.value : ShortId(id.container_id);
      }
      return w;
    }
  }
  if (!id.container_id.empty()) {
    const Entry<std::string>& name = Cached(containers_, id.container_id, [&](std::string& found) {
      return LookupContainer(id.runtime, id.container_id, found);
    });
    w.kind = Workload::Kind::kContainer;
    w.container = name.found ? name.value : ShortId(id.container_id);
    w.workload = w.container;
    return w;
  }
  if (!id.machine.empty()) {
    w.kind = Workload::Kind::kContainer;
    w.container = id.machine;
    w.workload = id.machine;
    return w;
  }
  if (!id.unit.empty() && !IsExcludedUnit(id)) {
    w.kind = Workload::Kind::kUnit;
    w.workload = id.unit;
    return w;
  }
  w.kind = Workload::Kind::kComm;
  w.workload = std::string(comm);
  return w;
}

bool WorkloadResolver::LookupPod(const std::string& uid, Pod& pod) const {
  // <namespace>_<pod>_<uid>: Kubernetes names never hold '_', so the split is unambiguous.
  const std::string suffix = "_" + uid;
  bool found = false;
  ForEachEntry(fs::path(paths_.kubelet_log_dir) / "pods", [&](const fs::directory_entry& entry) {
    const std::string name = entry.path().filename().string();
    if (!EndsWith(name, suffix)) return false;
    const std::string_view rest = std::string_view(name).substr(0, name.size() - suffix.size());
    const size_t sep = rest.find('_');
    if (sep == std::string_view::npos || rest.find('_', sep + 1) != std::string_view::npos) {
      return false;
    }
    const std::string_view ns = rest.substr(0, sep);
    const std::string_view pod_name = rest.substr(sep + 1);
    if (!IsPlainName(ns) || !IsPlainName(pod_name)) return false;
    pod.namespace_ = std::string(ns);
    pod.name = std::string(pod_name);
    found = true;
    return true;
  });
  return found;
}

bool WorkloadResolver::LookupPodContainer(const Pod& pod, const std::string& container_id,
                                          std::string& name) const {
  // <pod>_<namespace>_<container>-<id>.log, a symlink into pods/: only its name is read.
  const std::string prefix = pod.name + "_" + pod.namespace_ + "_";
  const std::string suffix = "-" + container_id + ".log";
  bool found = false;
  ForEachEntry(fs::path(paths_.kubelet_log_dir) / "containers",
               [&](const fs::directory_entry& entry) {
                 const std::string file = entry.path().filename().string();
                 if (file.size() <= prefix.size() + suffix.size() || !StartsWith(file, prefix) ||
                     !EndsWith(file, suffix)) {
                   return false;
                 }
                 const std::string_view container = std::string_view(file).substr(
                     prefix.size(), file.size() - prefix.size() - suffix.size());
                 if (!IsPlainName(container) || container.find('_') != std::string_view::npos)
                   return false;
                 name = std::string(container);
                 found = true;
                 return true;
               });
  return found;
}

bool WorkloadResolver::LookupContainer(const std::string& runtime, const std::string& container_id,
                                       std::string& name) const {
  if (runtime == "docker") return DockerName(container_id, name);
  if (runtime == "podman" || runtime == "cri-o") return StorageName(container_id, name);
  // A bare id (cgroupfs drivers) may be either's; ids are unique, so a match is the container.
  if (runtime.empty()) return DockerName(container_id, name) || StorageName(container_id, name);
  return false;  // containerd keeps its names in a database of its own
}

bool WorkloadResolver::DockerName(const std::string& container_id, std::string& name) const {
  std::string text;
  const fs::path file =
      fs::path(paths_.docker_root) / "containers" / container_id / "config.v2.json";
  if (!ReadBounded(file, kMaxDockerConfigBytes, text)) return false;
  try {
    const nlohmann::json config = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!config.is_object()) return false;
    const auto it = config.find("Name");
    if (it == config.end() || !it->is_string()) return false;
    std::string_view value = it->get_ref<const std::string&>();
    if (StartsWith(value, "/")) value.remove_prefix(1);
    if (!IsPlainName(value)) return false;
    name = std::string(value);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

bool WorkloadResolver::StorageName(const std::string& container_id, std::string& name) const {
  // containers/storage keeps one containers.json per graph driver: overlay-containers/, ...
  bool found = false;
  ForEachEntry(paths_.containers_storage, [&](const fs::directory_entry& entry) {
    if (!EndsWith(entry.path().filename().string(), "-containers")) return false;
    std::string text;
    if (!ReadBounded(entry.path() / "containers.json", kMaxContainersJsonBytes, text)) {
      return false;
    }
    if (text.find(container_id) == std::string::npos) return false;  // skip parsing
    try {
      const nlohmann::json all = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
      if (!all.is_array()) return false;
      for (const nlohmann::json& c : all) {
        if (!c.is_object()) continue;
        const auto id = c.find("id");
        if (id == c.end() || !id->is_string() ||
            id->get_ref<const std::string&>() != container_id) {
          continue;
        }
        const auto names = c.find("names");
        if (names == c.end() || !names->is_array() || names->empty()) return false;
        const nlohmann::json& first = names->front();
        if (!first.is_string() || !IsPlainName(first.get_ref<const std::string&>())) return false;
        name = first.get<std::string>();
        found = true;
        return true;
      }
    } catch (const std::exception&) {
      return false;
    }
    return false;
  });
  return found;
}

}  // namespace tracegap
