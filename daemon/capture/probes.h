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
#include <string_view>
#include <unordered_set>
#include <vector>

#include "capture/load_attempt.h"
#include "capture/load_variant.h"
#include "capture/tls/attacher.h"
#include "event_loop.h"
#include "tracegap.h"

struct bpf_object;
struct bpf_map;
struct ring_buffer;
struct bpf_link;

namespace tracegap {

struct ProbeError {
  int exit_code = 0;  // kExitBpfLoad or kExitAttach
  std::string message;
};

// Called with each raw ring buffer record; the bytes are valid only during the call.
using RecordHandler = std::function<void(std::span<const uint8_t>)>;

class Probes final : public EventSource {
 public:
  // The variants to try, best first (CaptureChain).
  static std::vector<CaptureVariant> Chain(const ProbeConfig& config);
  // Opens, configures and loads the first variant of the chain that the kernel accepts, and
  // attaches it. On failure (no variant loads, or attaching fails) returns nullptr and fills *err.
  static std::unique_ptr<Probes> Start(const ProbeConfig& config, RecordHandler handler,
                                       ProbeError* err);
  // Loads every variant of the chain (without attaching any) and reports each: for
  // `tracegapd --verify-only`.
  static std::vector<LoadAttempt> VerifyAll(const ProbeConfig& config);
  ~Probes();
  Probes(const Probes&) = delete;
  Probes& operator=(const Probes&) = delete;

  // Waits up to timeout_ms for records and hands each to the handler. Returns the number of
  // records consumed, or a negative errno (-EINTR when a signal arrived).
  int Poll(int timeout_ms) override;
  // Sums the per-CPU kernel failure counters.
  KernelDrops ReadDrops() const override;
  // The ids of the connections the kernel side tracks now (tg_conns), read in batches: every
  // connection tracked for the whole call is in the result. nullopt if the map cannot be read.
  // Costs one syscall per few thousand connections: call rarely.
  std::optional<std::unordered_set<uint64_t>> LiveConnectionIds() const override;
  // Number of tracepoints attached.
  int attached() const { return static_cast<int>(links_.size()); }
  CaptureHooks hooks() const { return variant_.hooks; }
  // Whether the loaded programs read kernel structures with plain loads (see ProbeConfig).
  bool direct_kernel_reads() const { return variant_.reads == KernelReads::kDirect; }
  // The variant that runs, and every attempt made to get it (in chain order).
  const CaptureVariant& variant() const { return variant_; }
  const std::vector<LoadAttempt>& attempts() const { return attempts_; }
  // A better variant failed to load (a skipped one, e.g. a kfunc the kernel lacks, is no failure).
  bool degraded() const;
  // Whether the loaded programs read TLS plaintext (--tls auto, and the kernel accepted them).
  bool tls_loaded() const { return variant_.tls; }
  // Why TLS plaintext is not read although --tls auto asked for it ("" when it is, or when off).
  const std::string& tls_unavailable() const { return tls_unavailable_; }
  // Attaches the TLS uprobes to the libssl files found now (capture/tls/attacher.h); later ones
  // are attached as processes show TLS. Nothing when the loaded variant has no TLS programs.
  void StartTls(tls::Attacher::Hooks hooks);
  tls::Attacher* tls() { return tls_.get(); }
  // "tracepoint": the mechanism used for capture (reported in tracegap_build_info).
  static constexpr const char* kAttachMechanism = "tracepoint";

 private:
  Probes() = default;
  // The connection ids in a map whose values begin with one (tg_conns, tg_tls_conns).
  static std::optional<std::unordered_set<uint64_t>> ConnectionIdsIn(const bpf_map* map);
  struct RingDeleter {
    void operator()(ring_buffer* r) const;
  };
  struct LinkDeleter {
    void operator()(::bpf_link* l) const;
  };
  BpfObject object_;
  CaptureVariant variant_;
  std::vector<LoadAttempt> attempts_;
  std::unique_ptr<ring_buffer, RingDeleter> ring_;
  std::vector<std::unique_ptr<::bpf_link, LinkDeleter>> links_;
  RecordHandler handler_;
  std::string tls_unavailable_;
  std::unique_ptr<tls::Attacher> tls_;  // its uprobe links go before the object (~Probes)
};

}  // namespace tracegap
