// Legacy trace header detection and the label tables of the trace-context module (split from
// trace_context_test.cc, which covers traceparent, tracestate and whole messages).

#include <gtest/gtest.h>

#include <array>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "protocols/header_field.h"
#include "protocols/trace_context/trace_context.h"

namespace tracegap {
namespace {

constexpr std::string_view kSpecTraceparent =
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
constexpr std::string_view kZeroParentId = "0000000000000000";

// ---------------------------------------------------------------------------------------------
// Legacy formats

TEST(LegacyFormat, DetectedFromHeaderNamesAnyCase) {
  struct Case {
    std::string_view name;
    LegacyFormat want;
  };
  const Case cases[] = {
      {"B3", LegacyFormat::kB3},
      {"X-B3-TraceId", LegacyFormat::kB3},
      {"x-B3-spanid", LegacyFormat::kB3},
      {"X-B3-ParentSpanId", LegacyFormat::kB3},
      {"X-B3-Sampled", LegacyFormat::kB3},
      {"X-B3-FLAGS", LegacyFormat::kB3},
      {"Uber-Trace-Id", LegacyFormat::kJaeger},
      {"UberCtx-User-Id", LegacyFormat::kJaeger},
      {"uberctx-x", LegacyFormat::kJaeger},
      {"X-Amzn-Trace-Id", LegacyFormat::kXRay},
      {"Grpc-Trace-Bin", LegacyFormat::kGrpcTraceBin},
      {"SW8", LegacyFormat::kSkyWalking},
      {"sw8", LegacyFormat::kSkyWalking},
      // Near misses.
      {"", LegacyFormat::kNone},
      {"b", LegacyFormat::kNone},
      {"b3x", LegacyFormat::kNone},
      {"x-b3-other", LegacyFormat::kNone},
      {"uber-trace-id2", LegacyFormat::kNone},
      {"uberctx", LegacyFormat::kNone},
      {"x-amzn-trace", LegacyFormat::kNone},
      {"grpc-trace", LegacyFormat::kNone},
      {"sw8-correlation", LegacyFormat::kNone},
      {"traceparent", LegacyFormat::kNone},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(LegacyFormatForHeader(c.name), c.want);
    const HeaderField headers[] = {{c.name, "1"}};
    EXPECT_EQ(ClassifyContext(headers).legacy, static_cast<uint8_t>(c.want));
  }
}

TEST(LegacyFormat, MaskCombinesAndDoesNotAffectVerdict) {
  const HeaderField headers[] = {
      {"X-B3-TraceId", "80f198ee56343ba864fe8b2a57d3eff7"},
      {"X-B3-SpanId", "e457b5a2e4d86bd1"},
      {"SW8", "1-..."},
      {"traceparent", kSpecTraceparent},
      {"x-amzn-trace-id", "Root=1-5759e988-bd862e3fe1be46a994272793"},
  };
  const ContextResult r = ClassifyContext(headers);
  EXPECT_EQ(r.verdict, ContextVerdict::kValid);
  EXPECT_EQ(r.legacy, LegacyFormat::kB3 | LegacyFormat::kXRay | LegacyFormat::kSkyWalking);
  const LegacyFormatList list = ListLegacyFormats(r.legacy);
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0], LegacyFormat::kB3);
  EXPECT_EQ(list[1], LegacyFormat::kXRay);
  EXPECT_EQ(list[2], LegacyFormat::kSkyWalking);

  const HeaderField none[] = {{"uber-trace-id", "x"}};
  const ContextResult missing = ClassifyContext(none);
  EXPECT_EQ(missing.verdict, ContextVerdict::kMissing);
  EXPECT_TRUE(HasLegacyFormat(missing.legacy, LegacyFormat::kJaeger));
}

TEST(LegacyFormat, ListEveryBit) {
  EXPECT_TRUE(ListLegacyFormats(0).empty());
  const LegacyFormatList all = ListLegacyFormats(0xff);
  ASSERT_EQ(all.size(), kLegacyFormats.size());
  EXPECT_TRUE(std::equal(all.begin(), all.end(), kLegacyFormats.begin()));
  static_assert(ListLegacyFormats(LegacyFormat::kJaeger | LegacyFormat::kGrpcTraceBin).size() == 2);
}

// ---------------------------------------------------------------------------------------------
// Labels

template <typename Enum, std::size_t N>
void ExpectDistinctNonEmptyLabels(const std::array<Enum, N>& values, Enum none) {
  std::set<std::string_view> seen = {Label(none)};
  EXPECT_FALSE(Label(none).empty());
  for (Enum e : values) {
    SCOPED_TRACE(static_cast<int>(e));
    EXPECT_FALSE(Label(e).empty());
    EXPECT_NE(Label(e), "invalid");
    EXPECT_TRUE(seen.insert(Label(e)).second) << "duplicate label " << Label(e);
  }
}

TEST(Labels, DistinctAndNonEmpty) {
  ExpectDistinctNonEmptyLabels(kTraceparentErrors, TraceparentError::kNone);
  ExpectDistinctNonEmptyLabels(kTracestateErrors, TracestateError::kNone);
  ExpectDistinctNonEmptyLabels(kLegacyFormats, LegacyFormat::kNone);
  std::set<std::string_view> verdicts;
  for (ContextVerdict v : kAllContextVerdicts) {
    EXPECT_FALSE(Label(v).empty());
    EXPECT_TRUE(verdicts.insert(Label(v)).second);
  }
}

// The arrays list every enumerator, in declaration order, which is the precedence order.
TEST(Labels, ArraysCoverEveryEnumeratorInPrecedenceOrder) {
  for (std::size_t i = 0; i < kTraceparentErrors.size(); ++i) {
    EXPECT_EQ(static_cast<std::size_t>(kTraceparentErrors[i]), i + 1);
  }
  EXPECT_EQ(Label(static_cast<TraceparentError>(kTraceparentErrors.size() + 1)), "invalid");
  for (std::size_t i = 0; i < kTracestateErrors.size(); ++i) {
    EXPECT_EQ(static_cast<std::size_t>(kTracestateErrors[i]), i + 1);
  }
  EXPECT_EQ(Label(static_cast<TracestateError>(kTracestateErrors.size() + 1)), "invalid");
  for (std::size_t i = 0; i < kLegacyFormats.size(); ++i) {
    EXPECT_EQ(static_cast<std::size_t>(kLegacyFormats[i]), std::size_t{1} << i);
  }
  EXPECT_EQ(Label(static_cast<LegacyFormat>(1 << kLegacyFormats.size())), "invalid");
  EXPECT_EQ(Label(static_cast<LegacyFormat>(LegacyFormat::kB3 | LegacyFormat::kXRay)), "invalid");
  for (std::size_t i = 0; i < kAllContextVerdicts.size(); ++i) {
    EXPECT_EQ(static_cast<std::size_t>(kAllContextVerdicts[i]), i);
  }
  EXPECT_EQ(Label(static_cast<ContextVerdict>(kAllContextVerdicts.size())), "invalid");
}

// These strings are Prometheus label values and documented: changing one breaks dashboards.
TEST(Labels, ExactStrings) {
  EXPECT_EQ(Label(ContextVerdict::kValid), "valid");
  EXPECT_EQ(Label(ContextVerdict::kMissing), "missing");
  EXPECT_EQ(Label(ContextVerdict::kMalformed), "malformed");
  EXPECT_EQ(Label(ContextVerdict::kUnknown), "unknown");

  EXPECT_EQ(Label(TraceparentError::kNone), "none");
  EXPECT_EQ(Label(TraceparentError::kVersion), "version");
  EXPECT_EQ(Label(TraceparentError::kLength), "length");
  EXPECT_EQ(Label(TraceparentError::kDelimiter), "delimiter");
  EXPECT_EQ(Label(TraceparentError::kNonHex), "non_hex");
  EXPECT_EQ(Label(TraceparentError::kUppercaseHex), "uppercase_hex");
  EXPECT_EQ(Label(TraceparentError::kZeroTraceId), "zero_trace_id");
  EXPECT_EQ(Label(TraceparentError::kZeroParentId), "zero_parent_id");
  EXPECT_EQ(Label(TraceparentError::kDuplicate), "duplicate");

  EXPECT_EQ(Label(TracestateError::kNone), "none");
  EXPECT_EQ(Label(TracestateError::kTooManyMembers), "too_many_members");
  EXPECT_EQ(Label(TracestateError::kKey), "key");
  EXPECT_EQ(Label(TracestateError::kValue), "value");
  EXPECT_EQ(Label(TracestateError::kMember), "member");
  EXPECT_EQ(Label(TracestateError::kOrphan), "orphan");

  EXPECT_EQ(Label(LegacyFormat::kNone), "none");
  EXPECT_EQ(Label(LegacyFormat::kB3), "b3");
  EXPECT_EQ(Label(LegacyFormat::kJaeger), "jaeger");
  EXPECT_EQ(Label(LegacyFormat::kXRay), "xray");
  EXPECT_EQ(Label(LegacyFormat::kGrpcTraceBin), "grpc_trace_bin");
  EXPECT_EQ(Label(LegacyFormat::kSkyWalking), "sw8");
}

// ---------------------------------------------------------------------------------------------
// Ids

TEST(HexId, EqualityHexAndHash) {
  const TraceId a = ParseTraceparent(kSpecTraceparent).value.trace_id;
  TraceId b = a;
  EXPECT_EQ(a, b);
  EXPECT_EQ(std::hash<TraceId>{}(a), std::hash<TraceId>{}(b));
  b.bytes[15] ^= 1;
  EXPECT_NE(a, b);
  EXPECT_LT(a, b);
  EXPECT_EQ(b.ToHex(), "4bf92f3577b34da6a3ce929d0e0e4737");
  EXPECT_FALSE(a.IsZero());
  EXPECT_TRUE(TraceId{}.IsZero());
  EXPECT_EQ(SpanId{}.ToHex(), kZeroParentId);
  static_assert(!std::is_same_v<TraceId, SpanId>);
  static_assert(sizeof(TraceId) == 16 && sizeof(SpanId) == 8);
}

}  // namespace
}  // namespace tracegap
