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

struct tracegap_bpf;
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
  // "tracepoint": the mechanism used for capture (reported in tracegap_build_info).
  static constexpr const char* kAttachMechanism = "tracepoint";

 private:
  Probes() = default;
  struct SkelDeleter {
    void operator()(tracegap_bpf* s) const;
  };
  struct RingDeleter {
    void operator()(ring_buffer* r) const;
  };
  struct LinkDeleter {
    void operator()(::bpf_link* l) const;
  };
  std::unique_ptr<tracegap_bpf, SkelDeleter> skel_;
  std::unique_ptr<ring_buffer, RingDeleter> ring_;
  std::vector<std::unique_ptr<::bpf_link, LinkDeleter>> links_;
  RecordHandler handler_;
};

}  // namespace tracegap
