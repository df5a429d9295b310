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

// Where the programs capture: at the end of a socket's sendmsg/recvmsg (BTF tracepoints
// sock_send_length/sock_recv_length, Linux 6.3+; bpf/tracegap_sock.bpf.c), or at the entry and exit
// of eight read/write syscalls (any kernel; bpf/tracegap.bpf.c).
enum class CaptureHooks : uint8_t { kSocket, kSyscall };
std::string_view Label(CaptureHooks hooks);  // "socket", "syscall"

// One way to capture, of those the daemon tries in turn, best first (Probes::Chain).
struct CaptureVariant {
  CaptureHooks hooks = CaptureHooks::kSocket;
  // How kernel structures are read. The socket-layer build always reads with plain loads (the
  // socket the tracepoint hands over is a pointer the verifier trusts): kDirect.
  KernelReads reads = KernelReads::kDirect;
  bool http2 = true;  // HTTP/2 frames followed (false: HTTP/1 only)
  // TLS plaintext read by uprobes (bpf/tls.h). A kernel that refuses those programs gets the
  // same variant without them (Probes::Start), and `tracegap status` says why.
  bool tls = true;
};
// "socket+http2", "syscall+direct-reads+http2", "syscall+probe-reads+http1-only", ...
std::string VariantName(const CaptureVariant& v);

// What the options leave to try (--capture, --kernel-reads, and whether HTTP/2 is wanted).
struct ChainChoice {
  bool socket_hooks = true;
  bool syscall_hooks = true;
  bool direct_kernel_reads = true;
  bool http2 = true;
};
// The variants to try, best first: HTTP/2 before HTTP/1 only (a kernel that refuses the HTTP/2
// follower still gets HTTP/1 capture), then socket-layer hooks before syscall hooks, direct
// reads before probe reads.
std::vector<CaptureVariant> CaptureChain(const ChainChoice& choice);

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
