#include "capture/load_attempt.h"

#include "capture/verifier_log.h"

namespace tracegap {

std::string_view Label(KernelReads reads) {
  return reads == KernelReads::kDirect ? "direct" : "probe-read";
}

std::string_view Label(CaptureHooks hooks) {
  return hooks == CaptureHooks::kSocket ? "socket" : "syscall";
}

std::string VariantName(const CaptureVariant& v) {
  std::string name(Label(v.hooks));
  if (v.hooks == CaptureHooks::kSyscall)
    name += v.reads == KernelReads::kDirect ? "+direct-reads" : "+probe-reads";
  return name + (v.http2 ? "+http2" : "+http1-only");
}

std::vector<CaptureVariant> CaptureChain(const ChainChoice& choice) {
  std::vector<CaptureVariant> chain;
  for (bool http2 : {true, false}) {
    if (http2 && !choice.http2) continue;
    if (choice.socket_hooks) chain.push_back({CaptureHooks::kSocket, KernelReads::kDirect, http2});
    if (!choice.syscall_hooks) continue;
    if (choice.direct_kernel_reads)
      chain.push_back({CaptureHooks::kSyscall, KernelReads::kDirect, http2});
    chain.push_back({CaptureHooks::kSyscall, KernelReads::kProbeRead, http2});
  }
  return chain;
}

std::string LoadAttempt::Describe() const {
  std::string out = "capture variant " + VariantName(variant);
  switch (result) {
    case Result::kLoaded: {
      out += " loaded";
      uint64_t most = 0;
      std::string which;
      for (const ProgramCost& p : programs) {
        if (p.insns > most) most = p.insns, which = p.program;
      }
      if (!which.empty()) {
        out += " (costliest program " + which + ": " + std::to_string(most) + " insns verified, " +
               std::to_string(most * 100 / kVerifierInsnBudget) + "% of the verifier's budget)";
      }
      return out;
    }
    case Result::kSkipped:
      return out + " skipped: " + why;
    case Result::kFailed:
      out += " failed to load: " + why;
      for (const std::string& line : verifier_lines) out += "\n    verifier: " + line;
      return out;
  }
  return out;
}

}  // namespace tracegap
