// The capture variants tracegapd tries, in order, for each choice the options leave, and their
// names (as the start-up line, `tracegap status` and --verify-only print them).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "capture/load_attempt.h"

namespace tracegap {
namespace {

std::vector<std::string> Names(const ChainChoice& choice) {
  std::vector<std::string> names;
  for (const CaptureVariant& v : CaptureChain(choice)) names.push_back(VariantName(v));
  return names;
}

TEST(LoadChainTest, DefaultTriesHttp2FirstThenSocketBeforeSyscall) {
  EXPECT_EQ(Names({}), (std::vector<std::string>{"socket+http2", "syscall+direct-reads+http2",
                                                 "syscall+probe-reads+http2", "socket+http1-only",
                                                 "syscall+direct-reads+http1-only",
                                                 "syscall+probe-reads+http1-only"}));
}

TEST(LoadChainTest, CaptureSocketKeepsOnlyTheSocketLayer) {
  EXPECT_EQ(Names({.syscall_hooks = false}),
            (std::vector<std::string>{"socket+http2", "socket+http1-only"}));
}

TEST(LoadChainTest, CaptureSyscallKeepsOnlySyscallHooks) {
  EXPECT_EQ(Names({.socket_hooks = false}),
            (std::vector<std::string>{"syscall+direct-reads+http2", "syscall+probe-reads+http2",
                                      "syscall+direct-reads+http1-only",
                                      "syscall+probe-reads+http1-only"}));
}

TEST(LoadChainTest, ProbeReadDropsOnlyTheSyscallDirectBuild) {
  EXPECT_EQ(Names({.direct_kernel_reads = false}),
            (std::vector<std::string>{"socket+http2", "syscall+probe-reads+http2",
                                      "socket+http1-only", "syscall+probe-reads+http1-only"}));
}

TEST(LoadChainTest, WithoutHttp2) {
  EXPECT_EQ(Names({.socket_hooks = false, .direct_kernel_reads = false, .http2 = false}),
            (std::vector<std::string>{"syscall+probe-reads+http1-only"}));
}

TEST(LoadChainTest, SocketVariantsReadWithPlainLoads) {
  for (const CaptureVariant& v : CaptureChain({})) {
    if (v.hooks == CaptureHooks::kSocket) {
      EXPECT_EQ(v.reads, KernelReads::kDirect);
    }
  }
  EXPECT_EQ(Label(CaptureHooks::kSocket), "socket");
  EXPECT_EQ(Label(CaptureHooks::kSyscall), "syscall");
}

TEST(LoadChainTest, DescribesASkippedVariant) {
  LoadAttempt a;
  a.variant = {CaptureHooks::kSocket, KernelReads::kDirect, true};
  a.result = LoadAttempt::Result::kSkipped;
  a.why = "the kernel has no sock/sock_send_length tracepoint (added in Linux 6.3)";
  EXPECT_EQ(a.Describe(),
            "capture variant socket+http2 skipped: the kernel has no sock/sock_send_length "
            "tracepoint (added in Linux 6.3)");
}

}  // namespace
}  // namespace tracegap
