#pragma once
// Who a process is, for the labels of its metrics: a Kubernetes pod, a container, a systemd unit
// or else its command name. Two parts: ParseCgroup, a pure parser of /proc/PID/cgroup, and
// WorkloadResolver, which turns what the cgroup path says into names by reading the metadata that
// the kubelet and the container runtimes leave on the host.
//
// The convention (documented for users; the first rule that applies decides):
//
// 1. Kubernetes pod (kind kPod). The cgroup path has a kubelet pod component:
//      cgroupfs driver: .../kubepods/<qos>/pod<uid>/<container id>   (uid with dashes)
//                       .../kubepods/pod<uid>/<container id>         (guaranteed QoS)
//      systemd driver:  kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid>.slice/
//                         cri-containerd-<id>.scope (or crio-<id>.scope, docker-<id>.scope),
//                       kubepods-pod<uid>.slice for guaranteed QoS; the uid has '_' for '-'.
//    The namespace and pod name come from the kubelet's log directory
//    <kubelet_log_dir>/pods/<namespace>_<pod>_<uid>/ (Kubernetes names never contain '_'). The
//    container's name comes from the kubelet's symlink
//    <kubelet_log_dir>/containers/<pod>_<namespace>_<container>-<container id>.log (listed, never
//    followed). workload = "namespace/pod", container = the container's name, else its short id.
//    No pod directory: rule 2 decides (a pod's name is never guessed).
// 2. Container (kind kContainer): docker (docker-<id>.scope, /docker/<id>), containerd
//    (cri-containerd-<id>.scope), CRI-O (crio-<id>.scope), podman (libpod-<id>.scope, libpod-<id>,
//    /libpod_parent/libpod-<id>, with or without a /container child), a bare 64-hex-digit component
//    (cgroupfs drivers: runtime unknown), systemd-nspawn (machine-<name>.scope,
//    systemd-nspawn@<name>.service, the name unescaped from systemd's \xNN). workload = container =
//    the container's name where the runtime's own metadata says it: docker's
//    <docker_root>/containers/<id>/config.v2.json "Name" (without its leading '/'); podman's and
//    CRI-O's <containers_storage>/<driver>-containers/containers.json (names[0] of the entry whose
//    "id" is the id); both are tried when the runtime is unknown; nspawn: the machine's name.
//    Else the short id (the first 12 hex digits). containerd keeps no readable names: short id.
//    The monitors podman and CRI-O run beside a container (libpod-conmon-<id>.scope,
//    crio-conmon-<id>.scope) count as that container. machined also registers VMs (libvirt's
//    machine-qemu\x2d1\x2dvm.scope): those show as the machine "qemu-1-vm", runtime "nspawn".
//    Names read from metadata are used only if printable ASCII without spaces, 1-253 bytes.
// 3. systemd unit (kind kUnit): the innermost .service or .scope unit, workload = the unit.
//    Login sessions (session-*.scope), init.scope, and user@*.service and whatever runs in a
//    user's slice (user-UID.slice) fall through: they name a login, not a workload.
// 4. Otherwise (kind kComm): workload = the command name (/proc/PID/comm).
//
// cgroup v2 has one line "0::/path"; v1 and hybrid hosts have one line per hierarchy
// "N:controllers:/path". The "0::" and "name=systemd" lines are preferred; the controller lines
// are used only when those name no container and no unit (a v1 host without systemd).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace tracegap {

// What the text of /proc/PID/cgroup alone says. Innermost wins: in nested containers
// (kind-in-docker, docker in nspawn) container_id and runtime describe the innermost container
// (machine still names the enclosing nspawn machine).
struct CgroupIdentity {
  std::string pod_uid;       // Kubernetes pod UID with dashes ("0f3e...-..."), "" if not in a pod
  std::string container_id;  // 64 lowercase hex digits, "" if none
  // The runtime of container_id: "docker", "containerd", "cri-o", "podman"; "" when the path does
  // not say (a bare id). "nspawn" when there is no container_id but a machine.
  std::string runtime;
  std::string machine;  // systemd-nspawn machine name (unescaped: "\x2d" -> "-"), "" if none
  // Innermost systemd unit (.service or .scope; a container's own scope counts), "" if none.
  std::string unit;
  // The unit lies in a user's slice (user-UID.slice or user@UID.service): a login's processes.
  bool in_user_slice = false;
};

// Pure; any input is safe; never throws. Only well-formed values come out: container_id is
// exactly 64 lowercase hex digits, pod_uid only lowercase hex digits and dashes (at most 64),
// machine only [A-Za-z0-9._-] (at most 64): a component that would unescape to anything else
// names no machine.
CgroupIdentity ParseCgroup(std::string_view proc_pid_cgroup_text);

struct Workload {
  enum class Kind { kPod, kContainer, kUnit, kComm };
  Kind kind = Kind::kComm;
  std::string
      workload;  // "namespace/pod", else container name (or 12-hex short id), else unit, else comm
  std::string container;   // container name where known, else short id; "" outside containers
  std::string namespace_;  // Kubernetes namespace, "" otherwise
  std::string pod;         // Kubernetes pod name, "" otherwise
};

// Resolves names from the host's kubelet and runtime metadata (the rules above), caching each
// answer: a pod by its uid, a container by its id. Names found are kept (pod names and container
// ids are immutable; a renamed docker container keeps its old name until the cache starts over).
// A name not found is looked for again at most every kRetryMs (ProcessInfoCache asks again for
// a pod's process that got its container's name meanwhile). Each cache holds at most
// max_cached entries and starts over when full.
//
// Reads are bounded (kMaxDockerConfigBytes, kMaxContainersJsonBytes: a larger file is not read);
// unreadable, oversized or malformed metadata means the next rule, never an error.
//
// Not thread-safe: one owner thread.
class WorkloadResolver {
 public:
  struct Paths {
    std::string kubelet_log_dir = "/var/log";     // holds the kubelet's pods/ and containers/
    std::string docker_root = "/var/lib/docker";  // containers/<id>/config.v2.json
    // podman and CRI-O: <driver>-containers/containers.json
    std::string containers_storage = "/var/lib/containers/storage";
  };
  using Clock = std::function<int64_t()>;  // milliseconds, monotonic

  static constexpr int64_t kRetryMs = 30'000;
  static constexpr uintmax_t kMaxDockerConfigBytes = uintmax_t{1} << 20;
  static constexpr uintmax_t kMaxContainersJsonBytes = uintmax_t{16} << 20;

  // now_ms defaults to the steady clock. (Two constructors rather than `Paths paths = {}`: a
  // nested struct's member initializers cannot serve as a default argument inside its class.)
  WorkloadResolver() : WorkloadResolver(Paths{}) {}
  explicit WorkloadResolver(Paths paths, size_t max_cached = 4096, Clock now_ms = {});

  Workload Resolve(const CgroupIdentity& id, std::string_view comm);

  // Entries held (pods, pods' container names, runtime container names), for tests.
  size_t cached() const { return pods_.size() + pod_containers_.size() + containers_.size(); }

 private:
  struct Pod {
    std::string namespace_;
    std::string name;
  };
  // A cached answer: found, or not found as of checked_ms.
  template <typename T>
  struct Entry {
    bool found = false;
    T value;
    int64_t checked_ms = 0;
  };
  template <typename T, typename Lookup>
  const Entry<T>& Cached(std::unordered_map<std::string, Entry<T>>& cache, const std::string& key,
                         Lookup lookup);

  bool LookupPod(const std::string& uid, Pod& pod) const;
  bool LookupPodContainer(const Pod& pod, const std::string& container_id, std::string& name) const;
  bool LookupContainer(const std::string& runtime, const std::string& container_id,
                       std::string& name) const;
  bool DockerName(const std::string& container_id, std::string& name) const;
  bool StorageName(const std::string& container_id, std::string& name) const;

  Paths paths_;
  size_t max_cached_;
  Clock now_ms_;
  std::unordered_map<std::string, Entry<Pod>> pods_;                    // by pod uid
  std::unordered_map<std::string, Entry<std::string>> pod_containers_;  // by container id
  std::unordered_map<std::string, Entry<std::string>> containers_;      // by container id
};

}  // namespace tracegap
