#pragma once
// Start-up checks run before any BPF object is opened. Each failure names what is missing and
// what the user can do, and maps to a distinct exit code (documented in tracegapd --help).

#include <string>

namespace tracegap {

inline constexpr int kExitPrivileges = 3;
inline constexpr int kExitNoBtf = 4;
inline constexpr int kExitNoTracefs = 5;
inline constexpr int kExitBpfLoad = 6;
inline constexpr int kExitAttach = 7;
inline constexpr int kExitListen = 8;

struct PreflightResult {
  int exit_code = 0;    // 0: all good
  std::string message;  // what is wrong and what to do; empty when all good
  std::string notes;    // what was done on the way (e.g. "mounted tracefs at ..."), for the log
};

// Checks, in order: capabilities (CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN), kernel BTF, and
// tracefs (mounting it at /sys/kernel/tracing when it is not mounted and we may).
PreflightResult RunPreflight();

// Whether the effective capability set holds `cap` (a CAP_* number).
bool HasEffectiveCapability(int cap);

}  // namespace tracegap
