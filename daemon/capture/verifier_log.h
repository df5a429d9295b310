#pragma once
// Reading what the kernel's BPF verifier says, and what a program load's errno means.
//
// Pure functions over text (no libbpf, no kernel): unit-tested with logs of real kernels.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tracegap {

// The verifier's budget: BPF_COMPLEXITY_LIMIT_INSNS, the same on every kernel since 5.2.
inline constexpr uint64_t kVerifierInsnBudget = 1'000'000;

// The statistics lines the verifier prints at the end of every load with log level 4
// (BPF_LOG_STATS), whether the program was accepted or not:
//   verification time 200025 usec
//   processed 24626 insns (limit 1000000) max_states_per_insn 11 total_states 1253 ...
struct VerifierStats {
  std::optional<uint64_t> processed_insns;
  std::optional<uint64_t> verification_us;
  std::optional<uint64_t> total_states;
  std::optional<uint64_t> peak_states;
};

VerifierStats ParseVerifierStats(std::string_view log);

// The last `n` non-empty lines of a log (where the verifier states why it refused a program),
// without the statistics lines, which are reported apart.
std::vector<std::string> VerifierReason(std::string_view log, size_t n);

// What a BPF_PROG_LOAD errno means, for a person: "E2BIG: over the verifier's complexity budget
// (...)" and so on. `err` is a positive errno.
std::string LoadErrnoMeaning(int err);

}  // namespace tracegap
