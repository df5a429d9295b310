// The verifier's statistics and reasons, read from logs as kernels print them.
#include "capture/verifier_log.h"

#include <errno.h>
#include <gtest/gtest.h>

namespace tracegap {
namespace {

// Linux 6.18, log level 4, a program accepted.
constexpr const char* kAccepted =
    "verification time 200025 usec\n"
    "stack depth 96+0\n"
    "processed 24626 insns (limit 1000000) max_states_per_insn 11 total_states 1253 peak_states "
    "1499 "
    "mark_read 0\n";

// Linux 6.18, log level 4, over the budget.
constexpr const char* kTooLarge =
    "BPF program is too large. Processed 1000001 insn\n"
    "verification time 428912 usec\n"
    "stack depth 96+0\n"
    "processed 1000001 insns (limit 1000000) max_states_per_insn 28 total_states 52620 peak_states "
    "344 "
    "mark_read 0\n";

// Linux 6.1 (the report), level 1: the failing instruction, its source line, the reason.
constexpr const char* kUnbounded =
    "1021: (85) call bpf_ringbuf_output#130\n"
    "; if (bpf_ringbuf_output(&tg_events, ev, sizeof(*ev) + len, wake)) { @ emit.h:40\n"
    "R3 unbounded memory access, use 'var &= const' or 'if (var < const)'\n"
    "processed 5317 insns (limit 1000000) max_states_per_insn 4 total_states 310 peak_states 310 "
    "mark_read 87\n";

TEST(VerifierLogTest, StatsOfAnAcceptedProgram) {
  const VerifierStats s = ParseVerifierStats(kAccepted);
  EXPECT_EQ(s.processed_insns, 24626u);
  EXPECT_EQ(s.verification_us, 200025u);
  EXPECT_EQ(s.total_states, 1253u);
  EXPECT_EQ(s.peak_states, 1499u);
  EXPECT_TRUE(VerifierReason(kAccepted, 5).empty()) << "statistics are no reason";
}

TEST(VerifierLogTest, TooLarge) {
  const VerifierStats s = ParseVerifierStats(kTooLarge);
  EXPECT_EQ(s.processed_insns, 1000001u);
  EXPECT_EQ(s.verification_us, 428912u);
  EXPECT_EQ(VerifierReason(kTooLarge, 5),
            std::vector<std::string>{"BPF program is too large. Processed 1000001 insn"});
}

TEST(VerifierLogTest, ReasonIsTheLastLinesWithoutStats) {
  EXPECT_EQ(VerifierReason(kUnbounded, 2),
            (std::vector<std::string>{
                "; if (bpf_ringbuf_output(&tg_events, ev, sizeof(*ev) + len, wake)) { @ emit.h:40",
                "R3 unbounded memory access, use 'var &= const' or 'if (var < const)'"}));
  EXPECT_EQ(ParseVerifierStats(kUnbounded).verification_us, std::nullopt)
      << "6.1 at level 1: no time";
  EXPECT_EQ(ParseVerifierStats(kUnbounded).processed_insns, 5317u);
}

TEST(VerifierLogTest, HostileAndEmptyLogs) {
  EXPECT_FALSE(ParseVerifierStats("").processed_insns.has_value());
  EXPECT_FALSE(ParseVerifierStats("processed lots of insns\n").processed_insns.has_value());
  EXPECT_FALSE(
      ParseVerifierStats("processed 99999999999999999999999 insns\n").processed_insns.has_value());
  EXPECT_TRUE(VerifierReason(std::string(5, '\0'), 3).empty())
      << "a NUL-filled buffer has no lines";
  EXPECT_EQ(VerifierReason("a\r\n\n\nb  \n", 5), (std::vector<std::string>{"a", "b"}));
}

TEST(VerifierLogTest, ErrnoMeanings) {
  EXPECT_TRUE(LoadErrnoMeaning(E2BIG).starts_with("E2BIG: over the verifier's complexity budget"));
  EXPECT_TRUE(LoadErrnoMeaning(-EACCES).starts_with("EACCES: rejected by the verifier"));
  EXPECT_TRUE(LoadErrnoMeaning(EPERM).find("CAP_BPF") != std::string::npos);
  EXPECT_TRUE(LoadErrnoMeaning(524).starts_with("ENOTSUPP"));
  EXPECT_NE(LoadErrnoMeaning(ETIMEDOUT).find("(errno 110)"), std::string::npos);
}

}  // namespace
}  // namespace tracegap
