#pragma once
// Loading one capture variant into the kernel: open the build's object, configure it, load it
// with a verifier log per program, and report the attempt (capture/load_attempt.h). What a build
// needs of the kernel (a tracepoint, a kfunc) is looked up in the kernel's BTF first: a variant
// the kernel cannot have is skipped, not failed. No attaching here (capture/probes.h).

#include <cstdint>
#include <string_view>

#include "capture/load_attempt.h"
#include "tracegap.h"

struct bpf_object;
struct bpf_map;

namespace tracegap {

struct ProbeConfig {
  uint32_t self_tgid = 0;       // as seen in the daemon's own pid namespace
  uint64_t self_pidns_dev = 0;  // that namespace, when it is not the host's (kernel dev_t)
  uint64_t self_pidns_ino = 0;
  uint32_t max_header_bytes = TG_DEFAULT_MAX_HEADER_BYTES;
  uint64_t ring_buffer_bytes = 8u << 20;
  uint32_t max_connections = 65536;
  uint64_t wakeup_bytes = 256 * 1024;
  // Use the build of the programs that reads kernel structures with plain loads (bpf_rdonly_cast,
  // Linux 6.2+) when the kernel accepts it; false: always the bpf_probe_read_kernel build.
  bool direct_kernel_reads = true;
  // Try variants that follow HTTP/2 (false: HTTP/1 only, whatever the kernel accepts).
  bool http2 = true;
  // Which hooks to try (--capture): the socket layer's (tried first), the syscalls' (fallback).
  bool socket_hooks = true;
  bool syscall_hooks = true;
  // Read TLS plaintext (--tls auto): load the uprobe programs of bpf/tls.h (attached later, per
  // libssl file, by TlsAttacher) and have the capture hooks tie TLS sessions to sockets.
  bool tls = true;
  // Test-only: make the kernel refuse the HTTP/2 variants (bpf/maps.h), to test the fallback and
  // its diagnostics. Set by TRACEGAP_TEST_REFUSE_HTTP2=complex|unsafe in the environment.
  enum class TestRefusal : uint8_t { kNone = 0, kComplex = 1, kUnsafe = 2 };
  TestRefusal test_refuse_http2 = TestRefusal::kNone;
  // Test-only: make the kernel refuse the TLS programs (TRACEGAP_TEST_REFUSE_TLS=1).
  bool test_refuse_tls = false;
};

// A loaded build, seen through the generic libbpf API. Move-only; destroying it frees the
// programs and maps (nothing is pinned).
struct BpfObject {
  bpf_object* obj = nullptr;
  void* skel = nullptr;
  void (*destroy)(void*) = nullptr;
  bpf_map* events = nullptr;     // tg_events: the ring buffer
  bpf_map* conns = nullptr;      // tg_conns: the ids of live connections are its values' first word
  bpf_map* drops = nullptr;      // tg_drops: kernel-side failures by reason
  bpf_map* tls_conns = nullptr;  // tg_tls_conns: TLS streams' state; conn_id is the first word
  BpfObject() = default;
  BpfObject(const BpfObject&) = delete;
  BpfObject& operator=(const BpfObject&) = delete;
  BpfObject& operator=(BpfObject&& o) noexcept;
  ~BpfObject();
};

// The programs of bpf/tls.h are named so: loaded with --tls auto only, attached per libssl file.
inline constexpr std::string_view kTlsProgramPrefix = "tg_tls_";

// Loads `variant` with `config`'s settings into *out; fills *attempt either way (loaded, skipped
// with the reason, or failed with the program, errno and the verifier's own words). Returns
// whether it loaded.
bool LoadVariant(const ProbeConfig& config, const CaptureVariant& variant, BpfObject* out,
                 LoadAttempt* attempt);

}  // namespace tracegap
