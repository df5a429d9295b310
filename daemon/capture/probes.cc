#include "capture/probes.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "capture/libbpf_log.h"
#include "capture/preflight.h"
#include "errno_text.h"
#include "log.h"

namespace tracegap {
namespace {

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

int OnRecord(void* ctx, void* data, size_t size) {
  auto* handler = static_cast<RecordHandler*>(ctx);
  (*handler)(std::span<const uint8_t>(static_cast<const uint8_t*>(data), size));
  return 0;
}

}  // namespace

void Probes::RingDeleter::operator()(ring_buffer* r) const { ring_buffer__free(r); }
void Probes::LinkDeleter::operator()(bpf_link* l) const { bpf_link__destroy(l); }

Probes::~Probes() {
  // Order matters: links first (stop new events), then the ring buffer, then the object.
  // Each tracepoint detach waits for an RCU grace period (~80 ms here); done one after another,
  // 17 of them take over a second. Detached from parallel threads, they share grace periods.
  // The TLS uprobes go at the same time (the kernel removes those one at a time, ~55 ms each
  // here: docs/tls.md), so that the two waits overlap.
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> detachers;
  detachers.reserve(links_.size() + 1);
  detachers.emplace_back([this] { tls_.reset(); });
  for (auto& link : links_) detachers.emplace_back([l = std::move(link)]() mutable { l.reset(); });
  for (auto& t : detachers) t.join();
  TG_LOG(Debug) << "probes detached in "
                << std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - t0)
                       .count()
                << " ms";
  links_.clear();
  ring_.reset();
  object_ = BpfObject();
}

std::vector<CaptureVariant> Probes::Chain(const ProbeConfig& config) {
  std::vector<CaptureVariant> chain =
      CaptureChain({.socket_hooks = config.socket_hooks,
                    .syscall_hooks = config.syscall_hooks,
                    .direct_kernel_reads = config.direct_kernel_reads,
                    .http2 = config.http2});
  for (CaptureVariant& v : chain) v.tls = config.tls;
  return chain;
}

bool Probes::degraded() const {
  for (const LoadAttempt& a : attempts_) {
    if (a.result == LoadAttempt::Result::kFailed) return true;
  }
  return false;
}

std::vector<LoadAttempt> Probes::VerifyAll(const ProbeConfig& config) {
  InstallLibbpfLog();
  std::vector<LoadAttempt> attempts;
  for (const CaptureVariant& variant : Chain(config)) {
    BpfObject object;
    LoadAttempt attempt;
    LoadVariant(config, variant, &object, &attempt);
    attempts.push_back(std::move(attempt));
  }
  return attempts;
}

std::unique_ptr<Probes> Probes::Start(const ProbeConfig& config, RecordHandler handler,
                                      ProbeError* err) {
  InstallLibbpfLog();
  std::unique_ptr<Probes> p(new Probes());
  p->handler_ = std::move(handler);

  // open, configure, load: the first variant of the chain that the kernel accepts.
  bool loaded = false;
  std::vector<CaptureVariant> chain = Chain(config);
  for (size_t i = 0; i < chain.size(); ++i) {
    const CaptureVariant variant = chain[i];
    LoadAttempt attempt;
    loaded = LoadVariant(config, variant, &p->object_, &attempt);
    if (!loaded && variant.tls && attempt.failed_program.starts_with(kTlsProgramPrefix)) {
      // The kernel refuses a TLS program: the same capture without TLS, next.
      CaptureVariant without = variant;
      without.tls = false;
      chain.insert(chain.begin() + static_cast<std::ptrdiff_t>(i) + 1, without);
      p->tls_unavailable_ = "the kernel refused the TLS programs: " + attempt.why;
    }
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
      // The TLS uprobes are attached per library file (StartTls).
      if (std::string_view(bpf_program__name(prog)).starts_with(kTlsProgramPrefix)) continue;
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

void Probes::StartTls(tls::Attacher::Hooks hooks) {
  if (!variant_.tls) return;
  tls_ = std::make_unique<tls::Attacher>(object_.obj, std::move(hooks));
  tls_->Start();
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
  std::unordered_set<uint64_t> ids;
  for (const bpf_map* map : {object_.conns, object_.tls_conns}) {
    if (map == nullptr || (map == object_.tls_conns && !variant_.tls)) continue;
    std::optional<std::unordered_set<uint64_t>> some = ConnectionIdsIn(map);
    if (!some) return std::nullopt;
    ids.merge(*some);
  }
  return ids;
}

std::optional<std::unordered_set<uint64_t>> Probes::ConnectionIdsIn(const bpf_map* map) {
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
