#include "capture/preflight.h"

#include <errno.h>
#include <linux/capability.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

namespace tracegap {
namespace {

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

constexpr const char* kBtfPath = "/sys/kernel/btf/vmlinux";
constexpr const char* kTracefs = "/sys/kernel/tracing";
constexpr const char* kDebugfsTracing = "/sys/kernel/debug/tracing";

constexpr unsigned long kTracefsMagic = 0x74726163;  // TRACEFS_MAGIC, linux/magic.h

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// tracefs is usable if the syscall tracepoints we attach to are visible in it.
bool TracefsReady(const std::string& root) {
  return Exists(root + "/events/syscalls/sys_enter_write/id");
}

}  // namespace

bool HasEffectiveCapability(int cap) {
  __user_cap_header_struct header{};
  __user_cap_data_struct data[2]{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;
  if (syscall(SYS_capget, &header, data) != 0) return false;
  return (data[cap / 32].effective & (1u << (cap % 32))) != 0;
}

PreflightResult RunPreflight() {
  PreflightResult r;
  const bool sys_admin = HasEffectiveCapability(CAP_SYS_ADMIN);
  const bool bpf = HasEffectiveCapability(CAP_BPF);
  const bool perfmon = HasEffectiveCapability(CAP_PERFMON);
  if (!sys_admin && !(bpf && perfmon)) {
    std::string missing =
        !bpf && !perfmon ? "CAP_BPF and CAP_PERFMON" : (!bpf ? "CAP_BPF" : "CAP_PERFMON");
    r.exit_code = kExitPrivileges;
    r.message = "missing privileges: " + missing +
                " (or CAP_SYS_ADMIN) is needed to load and attach BPF programs; run tracegapd as "
                "root or through its systemd unit, which grants exactly these";
    return r;
  }
  if (!Exists(kBtfPath)) {
    r.exit_code = kExitNoBtf;
    r.message = std::string("no kernel BTF at ") + kBtfPath +
                ": tracegapd needs a kernel built with CONFIG_DEBUG_INFO_BTF=y (Debian, Ubuntu, "
                "RHEL and Fedora kernels have it since 2020-2021)";
    return r;
  }
  if (TracefsReady(kTracefs) || TracefsReady(kDebugfsTracing)) return r;
  // Mounted but unreadable: event ids are root-only files; a non-root daemon needs
  // CAP_DAC_READ_SEARCH (its systemd unit grants it).
  struct statfs fs;
  if (statfs(kTracefs, &fs) == 0 && static_cast<unsigned long>(fs.f_type) == kTracefsMagic &&
      access((std::string(kTracefs) + "/events").c_str(), R_OK | X_OK) != 0) {
    r.exit_code = kExitPrivileges;
    r.message = std::string("missing privileges: tracefs at ") + kTracefs +
                " is mounted but not readable; run tracegapd as root or grant CAP_DAC_READ_SEARCH";
    return r;
  }
  // Not mounted (common in containers and minimal hosts): mount it ourselves if we can.
  if (mount("tracefs", kTracefs, "tracefs", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) == 0) {
    if (TracefsReady(kTracefs)) {
      r.notes = std::string("mounted tracefs at ") + kTracefs;
      return r;
    }
    r.exit_code = kExitNoTracefs;
    r.message = std::string("tracefs mounted at ") + kTracefs +
                " but has no syscall tracepoints: the kernel lacks CONFIG_FTRACE_SYSCALLS";
    return r;
  }
  const int err = errno;
  r.exit_code = kExitNoTracefs;
  r.message = std::string("tracefs is not mounted and mounting it at ") + kTracefs + " failed (" +
              std::strerror(err) + "); mount it first: mount -t tracefs tracefs " + kTracefs;
  return r;
}

}  // namespace tracegap
