// Proves the trace-context classifier's hot path does not allocate. Its own executable: it
// replaces the global operator new to count allocations, which must not affect other tests (and
// is not built under the sanitizers, which replace operator new themselves).

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "protocols/header_field.h"
#include "protocols/trace_context/trace_context.h"

namespace {
std::atomic<long> g_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
// noinline: once inlined, GCC's -Wmismatched-new-delete sees free() paired with operator new.
__attribute__((noinline)) void operator delete(void* p) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace tracegap {
namespace {

TEST(ClassifyContext, DoesNotAllocate) {
  std::string tracestate;
  for (int i = 0; i < 32; ++i) tracestate += (i ? ",k" : "k") + std::to_string(i) + "=v";
  const HeaderField headers[] = {
      {"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
      {"tracestate", tracestate},
      {"x-b3-traceid", "1"},
      {"user-agent", "curl/8"},
  };
  // A repeated key (Level 2: valid, only flagged), as the 32nd member, in a second field.
  const std::string first31 = tracestate.substr(0, tracestate.rfind(','));
  const HeaderField dup_headers[] = {
      {"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
      {"tracestate", first31},
      {"tracestate", "k0=again"},
  };
  const long before = g_allocations.load();
  const ContextResult r = ClassifyContext(headers);
  const ContextResult dup = ClassifyContext(dup_headers);
  const TracestateError dup_error = ValidateTracestate("a=1,b=2,a=3");
  const long after = g_allocations.load();
  EXPECT_EQ(after - before, 0);
  EXPECT_EQ(r.verdict, ContextVerdict::kValid);
  EXPECT_EQ(r.tracestate_error, TracestateError::kNone);
  EXPECT_FALSE(r.tracestate_has_duplicates);
  EXPECT_EQ(dup.tracestate_error, TracestateError::kNone);
  EXPECT_TRUE(dup.tracestate_has_duplicates);
  EXPECT_EQ(dup_error, TracestateError::kNone);
}

}  // namespace
}  // namespace tracegap
