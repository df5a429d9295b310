#pragma once
// The BPF side's lifecycle: open -> configure -> load -> attach -> poll -> detach.
//
// Each stage that fails returns an error naming the stage, the probe, the errno and (for load)
// the verifier's last lines. Destroying Probes detaches every program and frees every map; the
// kernel does the same if the process dies, since nothing is pinned.
// Not thread-safe: one owner thread.

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "tracegap.h"

struct bpf_object;
struct bpf_map;
struct ring_buffer;
struct bpf_link;

namespace tracegap {

struct ProbeConfig {
  uint32_t self_tgid = 0;          // as seen in the daemon's own pid namespace
  uint64_t self_pidns_dev = 0;     // that namespace, when it is not the host's (kernel dev_t)
  uint64_t self_pidns_ino = 0;
  uint32_t max_header_bytes = TG_DEFAULT_MAX_HEADER_BYTES;
  uint64_t ring_buffer_bytes = 8u << 20;
  uint32_t max_connections = 65536;
  uint64_t wakeup_bytes = 256 * 1024;
  // Use the build of the programs that reads kernel structures with plain loads (bpf_rdonly_cast,
  // Linux 6.2+) when the kernel accepts it; false: always the bpf_probe_read_kernel build.
  bool direct_kernel_reads = true;
};

struct ProbeError {
  int exit_code = 0;   // kExitBpfLoad or kExitAttach
  std::string message;
};

using KernelDrops = std::array<uint64_t, TG_DROP_REASON_COUNT>;
// Called with each raw ring buffer record; the bytes are valid only during the call.
using RecordHandler = std::function<void(std::span<const uint8_t>)>;

class Probes {
 public:
  // Opens, configures, loads and attaches everything. On failure returns nullptr and fills *err.
  static std::unique_ptr<Probes> Start(const ProbeConfig& config, RecordHandler handler, ProbeError* err);
  ~Probes();
  Probes(const Probes&) = delete;
  Probes& operator=(const Probes&) = delete;

  // Waits up to timeout_ms for records and hands each to the handler. Returns the number of
  // records consumed, or a negative errno (-EINTR when a signal arrived).
  int Poll(int timeout_ms);
  // Sums the per-CPU kernel failure counters.
  KernelDrops ReadDrops() const;
  // The ids of the connections the kernel side tracks now (tg_conns), read in batches: every
  // connection tracked for the whole call is in the result. nullopt if the map cannot be read.
  // Costs one syscall per few thousand connections: call rarely.
  std::optional<std::unordered_set<uint64_t>> LiveConnectionIds() const;
  // Number of tracepoints attached.
  int attached() const { return static_cast<int>(links_.size()); }
  // Whether the loaded programs read kernel structures with plain loads (see ProbeConfig).
  bool direct_kernel_reads() const { return direct_kernel_reads_; }
  // "tracepoint": the mechanism used for capture (reported in tracegap_build_info).
  static constexpr const char* kAttachMechanism = "tracepoint";

 private:
  Probes() = default;
  // A loaded skeleton of either build, seen through the generic libbpf API.
  struct Object {
    bpf_object* obj = nullptr;
    void* skel = nullptr;
    void (*destroy)(void*) = nullptr;
    bpf_map* events = nullptr;
    bpf_map* conns = nullptr;
    bpf_map* drops = nullptr;
    Object() = default;
    Object(const Object&) = delete;
    Object& operator=(const Object&) = delete;
    Object& operator=(Object&& o) noexcept;
    ~Object();
  };
  template <class Skel>
  static bool Load(const ProbeConfig& config, Object* out, ProbeError* err);
  struct RingDeleter {
    void operator()(ring_buffer* r) const;
  };
  struct LinkDeleter {
    void operator()(::bpf_link* l) const;
  };
  Object object_;
  bool direct_kernel_reads_ = false;
  std::unique_ptr<ring_buffer, RingDeleter> ring_;
  std::vector<std::unique_ptr<::bpf_link, LinkDeleter>> links_;
  RecordHandler handler_;
};

}  // namespace tracegap
