#pragma once
// The capture variants tracegapd tries in turn (Probes::Chain), and what happened when one was
// loaded: the vocabulary of the load chain, shared by the loader, the start-up log, the status
// API and `tracegapd --verify-only`. No libbpf here.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tracegap {

// How the BPF programs read kernel structures: plain loads through bpf_rdonly_cast (Linux 6.2+),
// or bpf_probe_read_kernel (any kernel). Two builds of the same programs (bpf/CMakeLists.txt).
enum class KernelReads : uint8_t { kDirect, kProbeRead };
std::string_view Label(KernelReads reads);  // "direct", "probe-read"

// One way to capture, of those the daemon tries in turn, best first (Probes::Chain).
struct CaptureVariant {
  KernelReads reads = KernelReads::kDirect;
  bool http2 = true;  // HTTP/2 frames followed (false: HTTP/1 only)
};
std::string VariantName(const CaptureVariant& v);  // e.g. "direct-reads+http2"

// The verifier's cost of one program, from its statistics (log level 4).
struct ProgramCost {
  std::string program;
  uint64_t insns = 0;                 // instructions the verifier processed
  std::optional<uint64_t> verify_us;  // verification time, where the kernel reports it
};

// What happened when one variant was loaded.
struct LoadAttempt {
  enum class Result : uint8_t { kLoaded, kFailed, kSkipped };
  CaptureVariant variant;
  Result result = Result::kFailed;
  std::string why;                          // skipped or failed: the cause, with its evidence
  std::string failed_program;               // failed in the verifier: which program
  int error = 0;                            // failed: the positive errno
  std::vector<std::string> verifier_lines;  // failed: the verifier's last lines
  std::vector<ProgramCost> programs;        // every program verified (the failed one last)
  // One line (plus the verifier's lines, indented) for the log.
  std::string Describe() const;
};

}  // namespace tracegap
