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
#include "tracegap_fast.skel.h"

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
  const char* program;
};

#define TG_ENTER_HOOK(sc) Hook{"syscalls", "sys_enter_" #sc, "tracepoint__syscalls__sys_enter_" #sc}
#define TG_EXIT_HOOK(sc) Hook{"syscalls", "sys_exit_" #sc, "tracepoint__syscalls__sys_exit"}
const Hook kHooks[] = {
    TG_ENTER_HOOK(write),    TG_EXIT_HOOK(write),    TG_ENTER_HOOK(sendto),  TG_EXIT_HOOK(sendto),
    TG_ENTER_HOOK(writev),   TG_EXIT_HOOK(writev),   TG_ENTER_HOOK(sendmsg), TG_EXIT_HOOK(sendmsg),
    TG_ENTER_HOOK(read),     TG_EXIT_HOOK(read),     TG_ENTER_HOOK(recvfrom), TG_EXIT_HOOK(recvfrom),
    TG_ENTER_HOOK(readv),    TG_EXIT_HOOK(readv),    TG_ENTER_HOOK(recvmsg), TG_EXIT_HOOK(recvmsg),
    Hook{"sock", "inet_sock_set_state", "tracepoint__sock__inet_sock_set_state"},
};
#undef TG_ENTER_HOOK
#undef TG_EXIT_HOOK

// The two builds of the programs (bpf/CMakeLists.txt): same maps, programs and settings.
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

// open -> configure -> load (the verifier runs here) of one build.
template <class Skel>
bool Probes::Load(const ProbeConfig& config, Object* out, ProbeError* err) {
  Skel* s = SkelApi<Skel>::Open();
  if (s == nullptr) {
    *err = {kExitBpfLoad, "open BPF object: " + Errno(errno) + LastLibbpfLines(10)};
    return false;
  }
  Object o;
  o.obj = s->obj;
  o.skel = s;
  o.destroy = SkelApi<Skel>::Destroy;
  o.events = s->maps.tg_events;
  o.conns = s->maps.tg_conns;
  o.drops = s->maps.tg_drops;
  s->rodata->tg_self_tgid = config.self_tgid;
  s->rodata->tg_self_pidns_dev = config.self_pidns_dev;
  s->rodata->tg_self_pidns_ino = config.self_pidns_ino;
  s->rodata->tg_max_header_bytes = config.max_header_bytes;
  s->rodata->tg_wakeup_bytes = config.wakeup_bytes;
  if (int e = bpf_map__set_max_entries(s->maps.tg_events, config.ring_buffer_bytes); e) {
    *err = {kExitBpfLoad, "size ring buffer to " + std::to_string(config.ring_buffer_bytes) + ": " + Errno(e)};
    return false;
  }
  if (int e = bpf_map__set_max_entries(s->maps.tg_conns, config.max_connections); e) {
    *err = {kExitBpfLoad, "size connection map: " + Errno(e)};
    return false;
  }
  if (int e = SkelApi<Skel>::Load(s); e) {
    *err = {kExitBpfLoad, "load BPF programs: " + Errno(e) + "; last libbpf/verifier lines:" +
                              LastLibbpfLines(25)};
    return false;
  }
  *out = std::move(o);
  return true;
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

std::unique_ptr<Probes> Probes::Start(const ProbeConfig& config, RecordHandler handler, ProbeError* err) {
  libbpf_set_print(LibbpfPrint);
  std::unique_ptr<Probes> p(new Probes());
  p->handler_ = std::move(handler);

  // open, configure, load: the direct-reads build first where wanted, else (or when the kernel
  // refuses it: no bpf_rdonly_cast before Linux 6.2) the bpf_probe_read_kernel build.
  bool loaded = false;
  if (config.direct_kernel_reads) {
    ProbeError fast_err;
    loaded = Load<tracegap_fast_bpf>(config, &p->object_, &fast_err);
    if (loaded) {
      p->direct_kernel_reads_ = true;
    } else {
      TG_LOG(Info) << "direct kernel reads are not available on this kernel (they need the "
                      "bpf_rdonly_cast kfunc, Linux 6.2+); using bpf_probe_read_kernel";
      TG_LOG(Debug) << "the direct-reads build failed with: " << fast_err.message;
      LibbpfLines().clear();
    }
  }
  if (!loaded && !Load<tracegap_bpf>(config, &p->object_, err)) return nullptr;
  // attach
  for (const Hook& hook : kHooks) {
    bpf_program* prog = bpf_object__find_program_by_name(p->object_.obj, hook.program);
    if (prog == nullptr) {
      *err = {kExitAttach, std::string("no BPF program ") + hook.program + " in the object"};
      return nullptr;
    }
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
  p->ring_.reset(ring_buffer__new(bpf_map__fd(p->object_.events), OnRecord, &p->handler_, nullptr));
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
  const int fd = bpf_map__fd(object_.drops);
  for (uint32_t reason = 0; reason < TG_DROP_REASON_COUNT; ++reason) {
    if (bpf_map_lookup_elem(fd, &reason, per_cpu.data()) != 0) continue;
    for (uint64_t v : per_cpu) totals[reason] += v;
  }
  return totals;
}

}  // namespace tracegap
