#include "capture/load_variant.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "capture/libbpf_log.h"
#include "capture/verifier_log.h"
#include "errno_text.h"
#include "tracegap.skel.h"
#include "tracegap_fast.skel.h"
#include "tracegap_sock.skel.h"

namespace tracegap {

BpfObject& BpfObject::operator=(BpfObject&& o) noexcept {
  if (this != &o) {
    if (destroy != nullptr) destroy(skel);
    obj = o.obj;
    skel = o.skel;
    destroy = o.destroy;
    events = o.events;
    conns = o.conns;
    drops = o.drops;
    tls_conns = o.tls_conns;
    o.skel = nullptr;
    o.destroy = nullptr;
  }
  return *this;
}

BpfObject::~BpfObject() {
  if (destroy != nullptr) destroy(skel);
}

namespace {

// The three builds of the programs (bpf/CMakeLists.txt): the same settings, event maps and
// counters; the socket-layer build has programs of its own.
template <class Skel>
struct SkelApi;
template <>
struct SkelApi<tracegap_bpf> {
  static tracegap_bpf* Open() { return tracegap_bpf__open(); }
  static int Load(tracegap_bpf* s) { return tracegap_bpf__load(s); }
  static void Destroy(void* s) { tracegap_bpf__destroy(static_cast<tracegap_bpf*>(s)); }
};
template <>
struct SkelApi<tracegap_fast_bpf> {
  static tracegap_fast_bpf* Open() { return tracegap_fast_bpf__open(); }
  static int Load(tracegap_fast_bpf* s) { return tracegap_fast_bpf__load(s); }
  static void Destroy(void* s) { tracegap_fast_bpf__destroy(static_cast<tracegap_fast_bpf*>(s)); }
};
template <>
struct SkelApi<tracegap_sock_bpf> {
  static tracegap_sock_bpf* Open() { return tracegap_sock_bpf__open(); }
  static int Load(tracegap_sock_bpf* s) { return tracegap_sock_bpf__load(s); }
  static void Destroy(void* s) { tracegap_sock_bpf__destroy(static_cast<tracegap_sock_bpf*>(s)); }
};

// Whether the kernel's BTF has a type of this name and kind (read once per process).
bool KernelBtfHas(const char* name, int kind) {
  static btf* vmlinux = btf__load_vmlinux_btf();
  return vmlinux != nullptr && btf__find_by_name_kind(vmlinux, name, kind) >= 0;
}

// Each program's verifier log at level 4 (BPF_LOG_STATS): the statistics of every program, and
// the reason of a refused one, without the instruction-by-instruction trace (which for a program
// near the budget runs to gigabytes and, on kernels before 6.4, fails the load with ENOSPC once
// its buffer is full).
constexpr size_t kStatsLogBytes = 64 * 1024;
constexpr uint32_t kLogLevelStats = 4;
// For a program the verifier proved unsafe, a second load with the instruction trace (level 1):
// its last lines show the failing instruction and its source line. 6.4+ keeps the log's tail
// when it overflows; older kernels keep its head and say ENOSPC.
constexpr size_t kTraceLogBytes = 16 * 1024 * 1024;
constexpr size_t kReasonLines = 12;

bool IsStatsOnly(std::string_view log) { return VerifierReason(log, 1).empty(); }

// open -> configure -> load (the verifier runs here) of one build, with the variant's settings.
template <class Skel>
Skel* OpenConfigured(const ProbeConfig& config, const CaptureVariant& variant, std::string* error) {
  Skel* s = SkelApi<Skel>::Open();
  if (s == nullptr) {
    *error = "open BPF object: " + ErrnoTextWithNumber(errno) + LastLibbpfLines(10);
    return nullptr;
  }
  s->rodata->tg_self_tgid = config.self_tgid;
  s->rodata->tg_self_pidns_dev = config.self_pidns_dev;
  s->rodata->tg_self_pidns_ino = config.self_pidns_ino;
  s->rodata->tg_max_header_bytes = config.max_header_bytes;
  s->rodata->tg_wakeup_bytes = config.wakeup_bytes;
  s->rodata->tg_follow_http2 = variant.http2 ? 1 : 0;
  s->rodata->tg_tls_enabled = config.tls && variant.tls ? 1 : 0;
  s->rodata->tg_test_refuse_tls = s->rodata->tg_tls_enabled && config.test_refuse_tls ? 1 : 0;
  if (!s->rodata->tg_tls_enabled) {
    // Never verified: the TLS code is dead in the other programs (tg_tls_enabled is read-only).
    bpf_program* p;
    bpf_object__for_each_program(p, s->obj) {
      if (std::string_view(bpf_program__name(p)).starts_with(kTlsProgramPrefix))
        bpf_program__set_autoload(p, false);
    }
  }
  s->rodata->tg_test_refuse_http2 =
      variant.http2 ? static_cast<uint8_t>(config.test_refuse_http2) : 0;
  if (int e = bpf_map__set_max_entries(s->maps.tg_events, config.ring_buffer_bytes); e) {
    *error = "size ring buffer to " + std::to_string(config.ring_buffer_bytes) + ": " +
             ErrnoTextWithNumber(e);
    SkelApi<Skel>::Destroy(s);
    return nullptr;
  }
  // TLS sessions are a share of the connections: a quarter of them (LRU hashes are allocated
  // whole at load; docs/internals.md#maps).
  const uint32_t tls_entries = std::max<uint32_t>(1024, config.max_connections / 4);
  for (auto [m, entries] :
       {std::pair{s->maps.tg_conns, config.max_connections},
        std::pair{s->maps.tg_tls_ssl, tls_entries}, std::pair{s->maps.tg_tls_conns, tls_entries}}) {
    if (int e = bpf_map__set_max_entries(m, entries); e) {
      *error = std::string("size ") + bpf_map__name(m) + " to " + std::to_string(entries) + ": " +
               ErrnoTextWithNumber(e);
      SkelApi<Skel>::Destroy(s);
      return nullptr;
    }
  }
  return s;
}

// Loads one build with `variant`'s settings into *out; fills *attempt either way.
template <class Skel>
bool Load(const ProbeConfig& config, const CaptureVariant& variant, BpfObject* out,
          LoadAttempt* attempt) {
  ClearLibbpfLines();
  std::string error;
  Skel* s = OpenConfigured<Skel>(config, variant, &error);
  if (s == nullptr) {
    attempt->result = LoadAttempt::Result::kFailed;
    attempt->why = error;
    return false;
  }
  BpfObject o;
  o.obj = s->obj;
  o.skel = s;
  o.destroy = SkelApi<Skel>::Destroy;
  o.events = s->maps.tg_events;
  o.conns = s->maps.tg_conns;
  o.drops = s->maps.tg_drops;
  o.tls_conns = s->maps.tg_tls_conns;
  // One log buffer per program, at the statistics level.
  std::vector<std::pair<bpf_program*, std::vector<char>>> logs;
  bpf_program* prog;
  bpf_object__for_each_program(prog, s->obj) {
    if (!bpf_program__autoload(prog)) continue;
    logs.emplace_back(prog, std::vector<char>(kStatsLogBytes, '\0'));
  }
  for (auto& [p, buf] : logs) {
    bpf_program__set_log_buf(p, buf.data(), buf.size());
    bpf_program__set_log_level(p, kLogLevelStats);
  }
  const int rc = SkelApi<Skel>::Load(s);
  const char* failed = nullptr;
  for (auto& [p, buf] : logs) {
    const std::string_view log(buf.data(), strnlen(buf.data(), buf.size()));
    if (log.empty()) continue;  // not verified (the load stopped before it)
    const VerifierStats stats = ParseVerifierStats(log);
    ProgramCost cost{bpf_program__name(p), stats.processed_insns.value_or(0),
                     stats.verification_us};
    if (rc == 0 && !stats.processed_insns) {
      // No statistics line (an unusual kernel): the count the kernel keeps (Linux 5.16+).
      bpf_prog_info info{};
      uint32_t len = sizeof(info);
      if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len) == 0)
        cost.insns = info.verified_insns;
    }
    attempt->programs.push_back(std::move(cost));
    if (rc != 0 && failed == nullptr && !IsStatsOnly(log)) {
      failed = bpf_program__name(p);
      attempt->verifier_lines = VerifierReason(log, kReasonLines);
      if (stats.processed_insns) {
        attempt->verifier_lines.push_back(
            "processed " + std::to_string(*stats.processed_insns) + " insns (limit " +
            std::to_string(kVerifierInsnBudget) + ")" +
            (stats.total_states ? ", total_states " + std::to_string(*stats.total_states) : "") +
            (stats.peak_states ? ", peak_states " + std::to_string(*stats.peak_states) : "") +
            (stats.verification_us ? ", " + std::to_string(*stats.verification_us / 1000) + " ms"
                                   : ""));
      }
    }
  }
  if (rc == 0) {
    attempt->result = LoadAttempt::Result::kLoaded;
    *out = std::move(o);
    return true;
  }
  const int err = rc < 0 ? -rc : rc;
  attempt->result = LoadAttempt::Result::kFailed;
  attempt->error = err;
  if (failed == nullptr) {
    // Not the verifier (no program said why): a map, BTF or relocation step; libbpf said what.
    attempt->why = LoadErrnoMeaning(err) + "; libbpf:" + LastLibbpfLines(8);
    return false;
  }
  attempt->failed_program = failed;
  attempt->why = "program " + std::string(failed) + ": " + LoadErrnoMeaning(err);
  if (err == EACCES || err == EINVAL) {
    // The verifier's reason names a register; the instruction trace's tail shows which source
    // line it was. Load once more with it, for this program only.
    o = BpfObject();
    std::string ignored;
    if (Skel* again = OpenConfigured<Skel>(config, variant, &ignored)) {
      std::vector<char> trace(kTraceLogBytes, '\0');
      bpf_object__for_each_program(prog, again->obj) {
        // (`failed` pointed into the object just destroyed: compare with the copy.)
        if (attempt->failed_program == bpf_program__name(prog)) {
          bpf_program__set_log_buf(prog, trace.data(), trace.size());
          bpf_program__set_log_level(prog, 1);
        }
      }
      const int rc2 = SkelApi<Skel>::Load(again);
      SkelApi<Skel>::Destroy(again);
      const std::string_view log(trace.data(), strnlen(trace.data(), trace.size()));
      if (rc2 == -ENOSPC) {
        attempt->verifier_lines.push_back("(the instruction trace exceeds " +
                                          std::to_string(kTraceLogBytes >> 20) +
                                          " MiB on this kernel, which keeps only its head)");
      } else if (rc2 != 0 && !log.empty()) {
        attempt->verifier_lines = VerifierReason(log, kReasonLines);
      }
    }
  }
  return false;
}

}  // namespace

bool LoadVariant(const ProbeConfig& config, const CaptureVariant& variant, BpfObject* out,
                 LoadAttempt* attempt) {
  attempt->variant = variant;
  // What a build needs of the kernel is looked up in its BTF, rather than inferred from a failed
  // load: a missing feature is a skipped variant, not a failure.
  if (variant.hooks == CaptureHooks::kSocket) {
    // A BTF tracepoint is attached through its btf_trace_<name> type (libbpf looks it up so).
    for (const char* tp : {"btf_trace_sock_send_length", "btf_trace_sock_recv_length"}) {
      if (!KernelBtfHas(tp, BTF_KIND_TYPEDEF)) {
        attempt->result = LoadAttempt::Result::kSkipped;
        attempt->why = std::string("the kernel has no sock/") + (tp + 10) +
                       " tracepoint (added in Linux 6.3): its BTF has no " + tp;
        return false;
      }
    }
    return Load<tracegap_sock_bpf>(config, variant, out, attempt);
  }
  if (variant.reads == KernelReads::kDirect) {
    if (!KernelBtfHas("bpf_rdonly_cast", BTF_KIND_FUNC)) {
      attempt->result = LoadAttempt::Result::kSkipped;
      attempt->why = "the kernel's BTF has no bpf_rdonly_cast kfunc (added in Linux 6.2)";
      return false;
    }
    return Load<tracegap_fast_bpf>(config, variant, out, attempt);
  }
  return Load<tracegap_bpf>(config, variant, out, attempt);
}

}  // namespace tracegap
