#include "capture/tls/attacher.h"

#include <errno.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "capture/libbpf_log.h"
#include "capture/tls/elf_tls.h"
#include "capture/tls/go_probes.h"
#include "capture/tls/system_libs.h"
#include "errno_text.h"
#include "log.h"

namespace tracegap::tls {
namespace {

// One probe: the library function, the program at its entry, the program at its return.
struct Probe {
  const char* function;
  const char* entry;
  const char* exit;
  bool required;  // without it the library's plaintext is not seen
};
constexpr Probe kProbes[] = {
    {"SSL_write", "tg_tls_write_enter", "tg_tls_exit", true},
    {"SSL_read", "tg_tls_read_enter", "tg_tls_exit", true},
    // OpenSSL 1.1.1 and later; what Python 3.10+ and curl 8 call.
    {"SSL_write_ex", "tg_tls_write_ex_enter", "tg_tls_exit", false},
    {"SSL_read_ex", "tg_tls_read_ex_enter", "tg_tls_exit", false},
    // Where a session first does socket I/O: ties it to its socket before any plaintext.
    // SSL_connect and SSL_accept run it too (they call it through its exported symbol): not
    // probed apart, since every uprobe costs ~55 ms to detach here, one after another.
    {"SSL_do_handshake", "tg_tls_handshake_enter", "tg_tls_handshake_exit", false},
};

// Diagnosed processes listed at most; the oldest goes first.
constexpr size_t kMaxUnseen = 1024;
// A process is looked at again (its maps, its executable) at most this often.
constexpr uint64_t kLookAgainSeconds = 30;

uint64_t MonotonicSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec);
}

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

AttachFailure Classify(int err) {
  switch (err) {
    case ENOENT:
    case ESRCH:
      return AttachFailure::kNoSymbol;
    case EACCES:
    case EPERM:
      return AttachFailure::kPermission;
    default:
      return AttachFailure::kOther;
  }
}

}  // namespace

std::string_view Label(AttachFailure f) {
  switch (f) {
    case AttachFailure::kNoSymbol:
      return "no_symbol";
    case AttachFailure::kPermission:
      return "permission";
    case AttachFailure::kNoFile:
      return "no_file";
    case AttachFailure::kOther:
      return "other";
  }
  return "other";
}

Attacher::Attacher(bpf_object* obj, Hooks hooks, std::string proc)
    : obj_(obj), hooks_(std::move(hooks)), proc_(std::move(proc)) {}

Attacher::~Attacher() {
  // Each detach waits for the kernel (an RCU grace period: ~80 ms here, seconds under emulation);
  // from parallel threads they share the waits, as the tracepoints do (~Probes).
  std::vector<std::thread> detachers;
  detachers.reserve(links_.size());
  for (bpf_link* l : links_) detachers.emplace_back([l] { bpf_link__destroy(l); });
  for (std::thread& t : detachers) t.join();
}

bool Attacher::AttachLibrary(const std::string& path, LibraryKind kind, FileKey key) {
  if (attached_.contains(key)) return status_.libraries[attached_[key]].attached;
  LibraryStatus lib{path, kind, false, "", 0};
  int required_ok = 0, required = 0;
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    lib.error = "stat " + path + ": " + ErrnoTextWithNumber(errno);
    if (hooks_.attach_failed) hooks_.attach_failed(AttachFailure::kNoFile);
  } else {
    for (const Probe& p : kProbes) {
      required += p.required;
      bool ok = true;
      for (const bool ret : {false, true}) {
        bpf_program* prog = bpf_object__find_program_by_name(obj_, ret ? p.exit : p.entry);
        if (prog == nullptr) {
          lib.error = std::string("no BPF program ") + (ret ? p.exit : p.entry);
          ok = false;
          break;
        }
        LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = ret, .func_name = p.function);
        ClearLibbpfLines();
        bpf_link* link = bpf_program__attach_uprobe_opts(prog, -1, path.c_str(), 0, &opts);
        if (link == nullptr) {
          const int e = errno;
          // A missing optional function (OpenSSL 1.1.0 has no _ex calls) is no failure.
          if (p.required || Classify(e) != AttachFailure::kNoSymbol) {
            if (!lib.error.empty()) lib.error += "; ";
            lib.error += std::string(ret ? "uretprobe " : "uprobe ") + p.function + ": " +
                         ErrnoTextWithNumber(e) + LastLibbpfLines(2);
            if (hooks_.attach_failed) hooks_.attach_failed(Classify(e));
          }
          ok = false;
          break;
        }
        links_.push_back(link);
        ++lib.probes;
      }
      if (ok && p.required) ++required_ok;
    }
    lib.attached = required_ok == required;
  }
  if (lib.attached) {
    TG_LOG(Debug) << "TLS: " << lib.probes << " uprobes on " << path << " (" << Label(kind) << ")"
                  << (lib.error.empty() ? "" : "; not attached: " + lib.error);
  } else {
    TG_LOG(Warning) << "TLS: cannot read the plaintext of " << path << ": " << lib.error;
  }
  std::lock_guard lock(mu_);
  attached_[key] = status_.libraries.size();
  status_.libraries.push_back(std::move(lib));
  return status_.libraries.back().attached;
}

void Attacher::Start() {
  for (const auto& [path, kind] : FindSystemLibssl()) {
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) continue;
    AttachLibrary(path, kind, {static_cast<uint64_t>(st.st_dev), st.st_ino});
  }
  // Every running process's own libssl (a container's, one outside the linker's directories),
  // and every running Go program with crypto/tls (each executable read once).
  std::error_code ec;
  std::set<FileKey> executables;
  for (const auto& entry : std::filesystem::directory_iterator(proc_, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    const uint32_t pid = static_cast<uint32_t>(std::stoul(name));
    ProcessMaps maps;
    if (LookAtProcess(pid, &maps)) continue;
    FileKey key;
    if (!ExeKey(pid, &key) || !executables.insert(key).second) continue;
    const std::string exe = proc_ + "/" + name + "/exe";
    const auto elf = InspectElf(exe);
    if (const auto* t = std::get_if<ElfTls>(&elf); t != nullptr && t->go && t->go_crypto_tls)
      AttachGo(exe, key);
  }
}

bool Attacher::ExeKey(uint32_t pid, FileKey* key) const {
  struct stat st {};
  if (stat((proc_ + "/" + std::to_string(pid) + "/exe").c_str(), &st) != 0) return false;
  *key = {static_cast<uint64_t>(st.st_dev), st.st_ino};
  return true;
}

std::string Attacher::AttachGo(const std::string& path, FileKey key) {
  if (auto it = go_.find(key); it != go_.end()) return it->second;
  // Shown by the executable's own name (`path` is /proc/PID/exe, which names it for the attach).
  std::error_code ec;
  const std::filesystem::path shown = std::filesystem::read_symlink(path, ec);
  LibraryStatus lib{ec ? path : shown.string(), LibraryKind::kGoCryptoTls, false, "", 0};
  const auto found = FindGoTlsProbes(path);
  if (const auto* why = std::get_if<std::string>(&found)) {
    lib.error = *why;
  } else {
    const GoTlsProbes& g = std::get<GoTlsProbes>(found);
    std::vector<std::pair<const char*, uint64_t>> at;
    at.emplace_back("tg_tls_go_write_enter", g.write.entry);
    at.emplace_back("tg_tls_go_read_enter", g.read.entry);
    for (uint64_t r : g.read.returns) at.emplace_back("tg_tls_go_exit", r);
    for (uint64_t h : g.handshakes) at.emplace_back("tg_tls_go_handshake_enter", h);
    lib.attached = true;
    for (const auto& [name, offset] : at) {
      bpf_program* prog = bpf_object__find_program_by_name(obj_, name);
      LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = false);
      ClearLibbpfLines();
      bpf_link* link = prog == nullptr
                           ? nullptr
                           : bpf_program__attach_uprobe_opts(prog, -1, path.c_str(),
                                                             static_cast<size_t>(offset), &opts);
      if (link == nullptr) {
        const int e = prog == nullptr ? ENOENT : errno;
        lib.error = std::string("uprobe ") + name + " at file offset " + std::to_string(offset) +
                    ": " + ErrnoTextWithNumber(e) + LastLibbpfLines(2);
        if (hooks_.attach_failed) hooks_.attach_failed(Classify(e));
        lib.attached = false;
        break;
      }
      links_.push_back(link);
      ++lib.probes;
    }
  }
  if (lib.attached) {
    TG_LOG(Info) << "TLS: " << lib.probes << " uprobes on Go's crypto/tls in " << path;
  } else {
    TG_LOG(Info) << "TLS: Go's crypto/tls in " << path << " is not probed: " << lib.error;
  }
  go_[key] = lib.attached ? "" : lib.error;
  std::lock_guard lock(mu_);
  status_.libraries.push_back(std::move(lib));
  return go_[key];
}

bool Attacher::LookAtProcess(uint32_t pid, ProcessMaps* maps) {
  const std::string base = proc_ + "/" + std::to_string(pid);
  std::string text;
  if (!ReadFile(base + "/maps", &text)) return false;
  *maps = ParseMaps(text);
  bool any = false;
  for (const auto& [file, kind] : maps->libssl) {
    // The file as this process sees it (its mount namespace): through its root.
    const std::string path = base + "/root" + file.path;
    struct stat st {};
    FileKey key{0, file.inode};
    if (stat(path.c_str(), &st) == 0) key = {static_cast<uint64_t>(st.st_dev), st.st_ino};
    // A 32-bit or foreign libssl (a biarch process): its arguments are not where the probes look.
    if (!IsNativeLibrary(path)) continue;
    // The same file as one attached already (the system's) under another name: no new probes.
    any |= AttachLibrary(path, kind, key);
  }
  return any;
}

void Attacher::NoteUnseen(uint32_t pid, std::string_view comm) {
  const uint64_t now = MonotonicSeconds();
  auto seen = looked_.find(pid);
  if (seen != looked_.end() && now - seen->second < kLookAgainSeconds) {
    std::lock_guard lock(mu_);
    for (UnseenProcess& u : status_.unseen) {
      if (u.pid != pid) continue;
      ++u.connections;
      if (hooks_.unseen) hooks_.unseen(u.reason);
    }
    return;
  }
  if (looked_.size() > 4 * kMaxUnseen) looked_.clear();
  const std::string base = proc_ + "/" + std::to_string(pid);
  if (access(base.c_str(), F_OK) != 0) {
    // Gone before its event was read (a short-lived client): counted, nothing to look at.
    TG_LOG(Debug) << "TLS of pid " << pid << " (" << comm << ") is not seen; it has exited";
    if (hooks_.unseen) hooks_.unseen(Unseen::kExited);
    return;
  }
  looked_[pid] = now;
  const size_t attached_before = attached_.size();
  ProcessMaps maps;
  const bool has_libssl = LookAtProcess(pid, &maps);
  UnseenProcess u;
  u.pid = pid;
  u.comm = std::string(comm);
  u.connections = 1;
  char exe[4096];
  const ssize_t n = readlink((base + "/exe").c_str(), exe, sizeof exe);
  if (n > 0) u.exe.assign(exe, static_cast<size_t>(n));
  if (has_libssl) {
    // Probes were just put on its library: its next connections are seen. One attached before:
    // this session did its socket I/O outside every probed call.
    if (attached_.size() > attached_before) return;
    u.reason = Unseen::kOutsideProbes;
    u.detail =
        "maps a probed libssl, but this TLS session's handshake did its socket I/O "
        "outside SSL_do_handshake/SSL_connect/SSL_accept/SSL_read/SSL_write (a memory "
        "BIO, as Node.js uses, or another TLS library in the same process)";
  } else {
    FileKey key;
    const bool have_key = ExeKey(pid, &key);
    if (have_key) {
      // A Go program probed already: its TLS is read (this event is its ciphertext's handshake).
      if (auto it = go_.find(key); it != go_.end() && it->second.empty()) return;
    }
    const auto elf = InspectElf(base + "/exe");
    const Diagnosis d = Diagnose(maps, elf);
    u.reason = d.reason;
    u.detail = d.detail;
    if (d.reason == Unseen::kGo && have_key) {
      // Probed from now on: its later connections are seen. Else listed, with why.
      const std::string why = AttachGo(base + "/exe", key);
      if (why.empty()) return;
      u.detail += "; not probed: " + why;
    }
  }
  TG_LOG(Info) << "TLS of pid " << pid << " (" << comm << ") is not seen: " << Label(u.reason)
               << ": " << u.detail;
  if (hooks_.unseen) hooks_.unseen(u.reason);
  std::lock_guard lock(mu_);
  std::erase_if(status_.unseen, [pid](const UnseenProcess& x) { return x.pid == pid; });
  if (status_.unseen.size() >= kMaxUnseen) status_.unseen.erase(status_.unseen.begin());
  status_.unseen.push_back(std::move(u));
}

TlsStatus Attacher::Snapshot() const {
  std::lock_guard lock(mu_);
  TlsStatus s;
  s.libraries = status_.libraries;
  for (const UnseenProcess& u : status_.unseen) {
    // Only processes still running.
    if (access((proc_ + "/" + std::to_string(u.pid)).c_str(), F_OK) == 0) s.unseen.push_back(u);
  }
  return s;
}

}  // namespace tracegap::tls
