#pragma once
// Attaching the TLS uprobes (bpf/tls.h) to every OpenSSL library that processes use, and knowing
// which processes' TLS is not seen, and why.
//
// Where: uprobes are set on a file (its inode), not on a process, so one attachment per libssl
// file serves every process that maps it, those running now and those started later. At start
// the system's libssl files (the dynamic linker's directories) and every libssl that a running
// process maps are attached. After that, the kernel's TG_EVENT_TLS_UNSEEN (a connection that began
// with a TLS handshake outside every probed call) drives a look at that one process's maps: a
// libssl not attached yet (a container's own copy, one installed later) is attached then; a
// process without one gets a diagnosis (static OpenSSL, BoringSSL, Go, Java, rustls: reason.h),
// listed by `tracegap status` and counted. Why events and not a periodic scan of /proc: only a
// process that does TLS is ever looked at, at the moment it does, and an idle host costs nothing.
// The first connection of such a process is missed (its handshake came before the attachment).
//
// Runs on the event loop's thread (NoteUnseen is called from the ring buffer's callback; attaching
// takes a few milliseconds per library, once). Snapshot() may be called from any thread.

#include <bpf/libbpf.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "capture/tls/maps.h"
#include "capture/tls/reason.h"

namespace tracegap::tls {

struct LibraryStatus {
  std::string path;  // as the process that led to it names it (or the system's path)
  LibraryKind kind = LibraryKind::kOpenSsl3;
  bool attached = false;  // the read and write probes are in place
  std::string error;      // what failed, with its cause ("" when all attached)
  int probes = 0;         // uprobes attached on it
};

struct UnseenProcess {
  uint32_t pid = 0;
  std::string comm;
  std::string exe;
  Unseen reason = Unseen::kNoKnownLibrary;
  std::string detail;        // the evidence (reason.h)
  uint64_t connections = 0;  // TLS connections of it not seen since it was listed
};

struct TlsStatus {
  std::vector<LibraryStatus> libraries;
  std::vector<UnseenProcess> unseen;  // processes alive at the last look, oldest first
};

// Why an attachment failed, as a metric label.
enum class AttachFailure : uint8_t { kNoSymbol, kPermission, kNoFile, kOther };
std::string_view Label(AttachFailure f);  // "no_symbol", "permission", "no_file", "other"

class Attacher {
 public:
  struct Hooks {
    std::function<void(AttachFailure)> attach_failed;  // one probe could not be attached
    std::function<void(Unseen)> unseen;                // one TLS connection not seen
  };
  // `obj`: the loaded capture object with the tg_tls_* programs. `proc` is /proc (tests may point
  // it elsewhere).
  Attacher(bpf_object* obj, Hooks hooks, std::string proc = "/proc");
  ~Attacher();
  Attacher(const Attacher&) = delete;
  Attacher& operator=(const Attacher&) = delete;

  // Attaches to the system's libssl files and to those of every running process.
  void Start();
  // A connection of `pid` began with TLS that no probe reads (TG_EVENT_TLS_UNSEEN).
  void NoteUnseen(uint32_t pid, std::string_view comm);
  TlsStatus Snapshot() const;
  // Uprobes attached (entry and return probes each count). The loop's thread only.
  size_t probes() const { return links_.size(); }

 private:
  struct FileKey {
    uint64_t dev = 0, inode = 0;
    auto operator<=>(const FileKey&) const = default;
  };
  // Attaches every probe to the library at `path` (reachable from here), once per file.
  bool AttachLibrary(const std::string& path, LibraryKind kind, FileKey key);
  // Whether `pid` maps a libssl, attaching any not attached yet.
  bool LookAtProcess(uint32_t pid, ProcessMaps* maps);
  // Attaches the Go crypto/tls probes to the executable at `path`, once per file; "" or why not.
  std::string AttachGo(const std::string& path, FileKey key);
  // The executable of `pid` as a file key (device, inode); false if it cannot be read.
  bool ExeKey(uint32_t pid, FileKey* key) const;

  bpf_object* obj_;
  Hooks hooks_;
  std::string proc_;
  std::vector<bpf_link*> links_;
  std::map<FileKey, size_t> attached_;  // file -> index in status_.libraries
  std::map<FileKey, std::string> go_;   // Go executables looked at -> "" (probed) or why not
  // When each pid was last looked at (CLOCK_MONOTONIC seconds): a busy process is looked at
  // again at most every kLookAgainSeconds.
  std::map<uint32_t, uint64_t> looked_;
  mutable std::mutex mu_;  // guards status_
  TlsStatus status_;
};

}  // namespace tracegap::tls
