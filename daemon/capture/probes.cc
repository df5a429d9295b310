#include "capture/probes.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <unistd.h>

#include <cstdarg>
#include <cstring>
#include <deque>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "capture/preflight.h"
#include "capture/verifier_log.h"
#include "errno_text.h"
#include "log.h"
#include "tracegap.skel.h"
#include "tracegap_fast.skel.h"
#include "tracegap_sock.skel.h"

namespace tracegap {
namespace {

// libbpf's messages, kept so that a failed load can show the verifier's last lines. libbpf calls
// the print callback from the thread that calls it, and only the main thread calls libbpf.
std::deque<std::string>& LibbpfLines() {
  static std::deque<std::string> lines;
  return lines;
}

int LibbpfPrint(enum libbpf_print_level level, const char* fmt, va_list args) {
  // Whole messages, however long (libbpf prints a refused program's verifier log as one).
  va_list again;
  va_copy(again, args);
  const int len = vsnprintf(nullptr, 0, fmt, args);
  std::string text(len > 0 ? static_cast<size_t>(len) : 0, '\0');
  if (len > 0) vsnprintf(text.data(), text.size() + 1, fmt, again);
  va_end(again);
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    auto& lines = LibbpfLines();
    lines.push_back(line);
    if (lines.size() > 200) lines.pop_front();
  }
  if (level == LIBBPF_WARN) {
    while (!text.empty() && text.back() == '\n') text.pop_back();
    TG_LOG(Debug) << "libbpf: " << text;
  }
  return 0;
}

std::string LastLibbpfLines(size_t n) {
  const auto& lines = LibbpfLines();
  std::string out;
  size_t start = lines.size() > n ? lines.size() - n : 0;
  for (size_t i = start; i < lines.size(); ++i) out += "\n    " + lines[i];
  return out;
}

// Every tracepoint the syscall build hooks, with the program that serves it (the exit program is
// shared). The socket-layer build's programs attach where their sections say (tp_btf/...).
struct Hook {
  const char* category;
  const char* name;
  const char* program;
};

#define TG_ENTER_HOOK(sc) \
  Hook { "syscalls", "sys_enter_" #sc, "tracepoint__syscalls__sys_enter_" #sc }
#define TG_EXIT_HOOK(sc) \
  Hook { "syscalls", "sys_exit_" #sc, "tracepoint__syscalls__sys_exit" }
const Hook kHooks[] = {
    TG_ENTER_HOOK(write),
    TG_EXIT_HOOK(write),
    TG_ENTER_HOOK(sendto),
    TG_EXIT_HOOK(sendto),
    TG_ENTER_HOOK(writev),
    TG_EXIT_HOOK(writev),
    TG_ENTER_HOOK(sendmsg),
    TG_EXIT_HOOK(sendmsg),
    TG_ENTER_HOOK(read),
    TG_EXIT_HOOK(read),
    TG_ENTER_HOOK(recvfrom),
    TG_EXIT_HOOK(recvfrom),
    TG_ENTER_HOOK(readv),
    TG_EXIT_HOOK(readv),
    TG_ENTER_HOOK(recvmsg),
    TG_EXIT_HOOK(recvmsg),
    Hook{"sock", "inet_sock_set_state", "tracepoint__sock__inet_sock_set_state"},
};
#undef TG_ENTER_HOOK
#undef TG_EXIT_HOOK

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

int OnRecord(void* ctx, void* data, size_t size) {
  auto* handler = static_cast<RecordHandler*>(ctx);
  (*handler)(std::span<const uint8_t>(static_cast<const uint8_t*>(data), size));
  return 0;
}

}  // namespace

Probes::Object& Probes::Object::operator=(Object&& o) noexcept {
  if (this != &o) {
    if (destroy != nullptr) destroy(skel);
    obj = o.obj;
    skel = o.skel;
    destroy = o.destroy;
    events = o.events;
    conns = o.conns;
    drops = o.drops;
    o.skel = nullptr;
    o.destroy = nullptr;
  }
  return *this;
}

Probes::Object::~Object() {
  if (destroy != nullptr) destroy(skel);
}

namespace {

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
  s->rodata->tg_test_refuse_http2 =
      variant.http2 ? static_cast<uint8_t>(config.test_refuse_http2) : 0;
  if (int e = bpf_map__set_max_entries(s->maps.tg_events, config.ring_buffer_bytes); e) {
    *error = "size ring buffer to " + std::to_string(config.ring_buffer_bytes) + ": " +
             ErrnoTextWithNumber(e);
    SkelApi<Skel>::Destroy(s);
    return nullptr;
  }
  if (int e = bpf_map__set_max_entries(s->maps.tg_conns, config.max_connections); e) {
    *error = "size connection map: " + ErrnoTextWithNumber(e);
    SkelApi<Skel>::Destroy(s);
    return nullptr;
  }
  return s;
}

}  // namespace

// Loads one build with `variant`'s settings into *out; fills *attempt either way.
template <class Skel>
bool Probes::Load(const ProbeConfig& config, const CaptureVariant& variant, Object* out,
                  LoadAttempt* attempt) {
  LibbpfLines().clear();
  std::string error;
  Skel* s = OpenConfigured<Skel>(config, variant, &error);
  if (s == nullptr) {
    attempt->result = LoadAttempt::Result::kFailed;
    attempt->why = error;
    return false;
  }
  Object o;
  o.obj = s->obj;
  o.skel = s;
  o.destroy = SkelApi<Skel>::Destroy;
  o.events = s->maps.tg_events;
  o.conns = s->maps.tg_conns;
  o.drops = s->maps.tg_drops;
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
    o = Object();
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

bool Probes::LoadVariant(const ProbeConfig& config, const CaptureVariant& variant, Object* out,
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

void Probes::RingDeleter::operator()(ring_buffer* r) const { ring_buffer__free(r); }
void Probes::LinkDeleter::operator()(bpf_link* l) const { bpf_link__destroy(l); }

Probes::~Probes() {
  // Order matters: links first (stop new events), then the ring buffer, then the object.
  // Each tracepoint detach waits for an RCU grace period (~80 ms here); done one after another,
  // 17 of them take over a second. Detached from parallel threads, they share grace periods.
  std::vector<std::thread> detachers;
  detachers.reserve(links_.size());
  for (auto& link : links_) detachers.emplace_back([l = std::move(link)]() mutable { l.reset(); });
  for (auto& t : detachers) t.join();
  links_.clear();
  ring_.reset();
  object_ = Object();
}

std::vector<CaptureVariant> Probes::Chain(const ProbeConfig& config) {
  return CaptureChain({.socket_hooks = config.socket_hooks,
                       .syscall_hooks = config.syscall_hooks,
                       .direct_kernel_reads = config.direct_kernel_reads,
                       .http2 = config.http2});
}

bool Probes::degraded() const {
  for (const LoadAttempt& a : attempts_) {
    if (a.result == LoadAttempt::Result::kFailed) return true;
  }
  return false;
}

std::vector<LoadAttempt> Probes::VerifyAll(const ProbeConfig& config) {
  libbpf_set_print(LibbpfPrint);
  std::vector<LoadAttempt> attempts;
  for (const CaptureVariant& variant : Chain(config)) {
    Object object;
    LoadAttempt attempt;
    LoadVariant(config, variant, &object, &attempt);
    attempts.push_back(std::move(attempt));
  }
  return attempts;
}

std::unique_ptr<Probes> Probes::Start(const ProbeConfig& config, RecordHandler handler,
                                      ProbeError* err) {
  libbpf_set_print(LibbpfPrint);
  std::unique_ptr<Probes> p(new Probes());
  p->handler_ = std::move(handler);

  // open, configure, load: the first variant of the chain that the kernel accepts.
  bool loaded = false;
  for (const CaptureVariant& variant : Chain(config)) {
    LoadAttempt attempt;
    loaded = LoadVariant(config, variant, &p->object_, &attempt);
    if (attempt.result == LoadAttempt::Result::kSkipped) {
      TG_LOG(Info) << attempt.Describe();
    } else if (attempt.result == LoadAttempt::Result::kFailed) {
      TG_LOG(Warning) << attempt.Describe();
    } else {
      TG_LOG(Debug) << attempt.Describe();
    }
    p->attempts_.push_back(std::move(attempt));
    if (loaded) {
      p->variant_ = variant;
      break;
    }
  }
  if (!loaded) {
    std::string message = "no capture variant loads on this kernel:";
    for (const LoadAttempt& a : p->attempts_) {
      std::string d = a.Describe();
      for (size_t at = 0; (at = d.find('\n', at)) != std::string::npos; at += 3)
        d.replace(at, 1, "\n  ");
      message += "\n  " + d;
    }
    *err = {kExitBpfLoad, message};
    return nullptr;
  }
  // attach
  if (p->variant_.hooks == CaptureHooks::kSocket) {
    bpf_program* prog;
    bpf_object__for_each_program(prog, p->object_.obj) {
      bpf_link* link = bpf_program__attach(prog);
      if (!link) {
        const int e = errno;
        *err = {kExitAttach, std::string("attach ") + bpf_program__section_name(prog) + ": " +
                                 ErrnoTextWithNumber(e) + LastLibbpfLines(3)};
        return nullptr;
      }
      p->links_.emplace_back(link);
    }
  } else {
    for (const Hook& hook : kHooks) {
      bpf_program* prog = bpf_object__find_program_by_name(p->object_.obj, hook.program);
      if (prog == nullptr) {
        *err = {kExitAttach, std::string("no BPF program ") + hook.program + " in the object"};
        return nullptr;
      }
      bpf_link* link = bpf_program__attach_tracepoint(prog, hook.category, hook.name);
      if (!link) {
        const int e = errno;
        *err = {kExitAttach, std::string("attach tracepoint ") + hook.category + "/" + hook.name +
                                 ": " + ErrnoTextWithNumber(e) + LastLibbpfLines(3)};
        return nullptr;
      }
      p->links_.emplace_back(link);
    }
  }
  // The ring buffer consumer gets a pointer to handler_, which lives as long as *p.
  p->ring_.reset(ring_buffer__new(bpf_map__fd(p->object_.events), OnRecord, &p->handler_, nullptr));
  if (!p->ring_) {
    *err = {kExitBpfLoad, "open ring buffer: " + ErrnoTextWithNumber(errno)};
    return nullptr;
  }
  return p;
}

int Probes::Poll(int timeout_ms) {
  // The BPF side submits with BPF_RB_NO_WAKEUP until tg_wakeup_bytes are queued, so epoll often
  // times out with records waiting: consume them either way.
  int n = ring_buffer__poll(ring_.get(), timeout_ms);
  if (n < 0 && n != -EINTR) return n;
  int m = ring_buffer__consume(ring_.get());
  if (m < 0) return m;
  return n == -EINTR ? -EINTR : n + m;
}

std::optional<std::unordered_set<uint64_t>> Probes::LiveConnectionIds() const {
  const bpf_map* map = object_.conns;
  const int fd = bpf_map__fd(map);
  const size_t key_size = bpf_map__key_size(map);
  const size_t value_size = bpf_map__value_size(map);  // struct tg_conn: conn_id comes first
  if (value_size < sizeof(uint64_t)) return std::nullopt;
  constexpr uint32_t kBatch = 4096;
  std::vector<uint8_t> keys(kBatch * key_size);
  std::vector<uint8_t> values(kBatch * value_size);
  std::unordered_set<uint64_t> ids;
  uint64_t cursor = 0;  // the hash map's batch token (a bucket index), large enough for any map
  bool first = true;
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  while (true) {
    uint32_t count = kBatch;
    const int r = bpf_map_lookup_batch(fd, first ? nullptr : &cursor, &cursor, keys.data(),
                                       values.data(), &count, &opts);
    const int e = r != 0 ? errno : 0;
    for (uint32_t i = 0; i < count && i < kBatch; ++i) {
      uint64_t id;
      std::memcpy(&id, values.data() + i * value_size, sizeof(id));
      ids.insert(id);
    }
    if (r != 0) {
      if (e == ENOENT) return ids;  // the end of the map
      TG_LOG(Warning) << "cannot read the kernel connection map: " << ErrnoTextWithNumber(e);
      return std::nullopt;
    }
    first = false;
  }
}

KernelDrops Probes::ReadDrops() const {
  KernelDrops totals{};
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return totals;
  std::vector<uint64_t> per_cpu(static_cast<size_t>(ncpu));
  const int fd = bpf_map__fd(object_.drops);
  for (uint32_t reason = 0; reason < TG_DROP_REASON_COUNT; ++reason) {
    if (bpf_map_lookup_elem(fd, &reason, per_cpu.data()) != 0) continue;
    for (uint64_t v : per_cpu) totals[reason] += v;
  }
  return totals;
}

}  // namespace tracegap
