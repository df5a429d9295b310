#include "probes.h"

#include <bpf/bpf.h>
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

#include "log.h"
#include "preflight.h"
#include "tracegap.skel.h"

namespace tracegap {
namespace {

// libbpf's messages, kept so that a failed load can show the verifier's last lines. libbpf calls
// the print callback from the thread that calls it, and only the main thread calls libbpf.
std::deque<std::string>& LibbpfLines() {
  static std::deque<std::string> lines;
  return lines;
}

int LibbpfPrint(enum libbpf_print_level level, const char* fmt, va_list args) {
  char buf[1024];
  vsnprintf(buf, sizeof(buf), fmt, args);
  std::string text(buf);
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

std::string Errno(int err) {
  if (err < 0) err = -err;
  return std::string(std::strerror(err)) + " (errno " + std::to_string(err) + ")";
}

// Every tracepoint tracegap hooks, with the program that serves it. The exit program is shared.
struct Hook {
  const char* category;
  const char* name;
  bpf_program* (*program)(tracegap_bpf*);
};

#define TG_ENTER_HOOK(sc)                                                                    \
  Hook{"syscalls", "sys_enter_" #sc,                                                        \
       [](tracegap_bpf* s) { return s->progs.tracepoint__syscalls__sys_enter_##sc; }}
#define TG_EXIT_HOOK(sc) \
  Hook{"syscalls", "sys_exit_" #sc, [](tracegap_bpf* s) { return s->progs.tracepoint__syscalls__sys_exit; }}
const Hook kHooks[] = {
    TG_ENTER_HOOK(write),    TG_EXIT_HOOK(write),    TG_ENTER_HOOK(sendto),  TG_EXIT_HOOK(sendto),
    TG_ENTER_HOOK(writev),   TG_EXIT_HOOK(writev),   TG_ENTER_HOOK(sendmsg), TG_EXIT_HOOK(sendmsg),
    TG_ENTER_HOOK(read),     TG_EXIT_HOOK(read),     TG_ENTER_HOOK(recvfrom), TG_EXIT_HOOK(recvfrom),
    TG_ENTER_HOOK(readv),    TG_EXIT_HOOK(readv),    TG_ENTER_HOOK(recvmsg), TG_EXIT_HOOK(recvmsg),
    Hook{"sock", "inet_sock_set_state",
         [](tracegap_bpf* s) { return s->progs.tracepoint__sock__inet_sock_set_state; }},
};
#undef TG_ENTER_HOOK
#undef TG_EXIT_HOOK

int OnRecord(void* ctx, void* data, size_t size) {
  auto* handler = static_cast<RecordHandler*>(ctx);
  (*handler)(std::span<const uint8_t>(static_cast<const uint8_t*>(data), size));
  return 0;
}

}  // namespace

void Probes::SkelDeleter::operator()(tracegap_bpf* s) const { tracegap_bpf__destroy(s); }
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
  skel_.reset();
}

std::unique_ptr<Probes> Probes::Start(const ProbeConfig& config, RecordHandler handler, ProbeError* err) {
  libbpf_set_print(LibbpfPrint);
  std::unique_ptr<Probes> p(new Probes());
  p->handler_ = std::move(handler);

  // open
  p->skel_.reset(tracegap_bpf__open());
  if (!p->skel_) {
    *err = {kExitBpfLoad, "open BPF object: " + Errno(errno) + LastLibbpfLines(10)};
    return nullptr;
  }
  // configure
  tracegap_bpf* s = p->skel_.get();
  s->rodata->tg_self_tgid = config.self_tgid;
  s->rodata->tg_self_pidns_dev = config.self_pidns_dev;
  s->rodata->tg_self_pidns_ino = config.self_pidns_ino;
  s->rodata->tg_max_header_bytes = config.max_header_bytes;
  s->rodata->tg_wakeup_bytes = config.wakeup_bytes;
  if (int e = bpf_map__set_max_entries(s->maps.tg_events, config.ring_buffer_bytes); e) {
    *err = {kExitBpfLoad, "size ring buffer to " + std::to_string(config.ring_buffer_bytes) + ": " + Errno(e)};
    return nullptr;
  }
  if (int e = bpf_map__set_max_entries(s->maps.tg_conns, config.max_connections); e) {
    *err = {kExitBpfLoad, "size connection map: " + Errno(e)};
    return nullptr;
  }
  // load (the verifier runs here)
  if (int e = tracegap_bpf__load(s); e) {
    *err = {kExitBpfLoad, "load BPF programs: " + Errno(e) + "; last libbpf/verifier lines:" +
                              LastLibbpfLines(25)};
    return nullptr;
  }
  // attach
  for (const Hook& hook : kHooks) {
    bpf_program* prog = hook.program(s);
    bpf_link* link = bpf_program__attach_tracepoint(prog, hook.category, hook.name);
    if (!link) {
      const int e = errno;
      *err = {kExitAttach, std::string("attach tracepoint ") + hook.category + "/" + hook.name + ": " +
                               Errno(e) + LastLibbpfLines(3)};
      return nullptr;
    }
    p->links_.emplace_back(link);
  }
  // The ring buffer consumer gets a pointer to handler_, which lives as long as *p.
  p->ring_.reset(ring_buffer__new(bpf_map__fd(s->maps.tg_events), OnRecord, &p->handler_, nullptr));
  if (!p->ring_) {
    *err = {kExitBpfLoad, "open ring buffer: " + Errno(errno)};
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
  const bpf_map* map = skel_->maps.tg_conns;
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
    const int r = bpf_map_lookup_batch(fd, first ? nullptr : &cursor, &cursor, keys.data(), values.data(),
                                       &count, &opts);
    const int e = r != 0 ? errno : 0;
    for (uint32_t i = 0; i < count && i < kBatch; ++i) {
      uint64_t id;
      std::memcpy(&id, values.data() + i * value_size, sizeof(id));
      ids.insert(id);
    }
    if (r != 0) {
      if (e == ENOENT) return ids;  // the end of the map
      TG_LOG(Warning) << "cannot read the kernel connection map: " << Errno(e);
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
  const int fd = bpf_map__fd(skel_->maps.tg_drops);
  for (uint32_t reason = 0; reason < TG_DROP_REASON_COUNT; ++reason) {
    if (bpf_map_lookup_elem(fd, &reason, per_cpu.data()) != 0) continue;
    for (uint64_t v : per_cpu) totals[reason] += v;
  }
  return totals;
}

}  // namespace tracegap
