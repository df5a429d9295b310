// Tests W3C Trace Context parsing (daemon/protocols/trace_context/trace_context.h), in this
// order: the traceparent table (every reason with examples, ParseTraceparent); the tracestate
// table (ValidateTracestate); whole messages (ClassifyContext: header names, missing, malformed,
// duplicate traceparent, orphan tracestate, joined tracestate fields); Level 2 duplicate
// tracestate keys. Label names are in trace_context_labels_test.cc, allocation in
// trace_context_alloc_test.cc.
#include "protocols/trace_context/trace_context.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <new>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "protocols/header_field.h"

namespace tracegap {

// Readable gtest failure messages.
void PrintTo(TraceparentError e, std::ostream* os) { *os << Label(e); }
void PrintTo(TracestateError e, std::ostream* os) { *os << Label(e); }
void PrintTo(ContextVerdict v, std::ostream* os) { *os << Label(v); }

namespace {

constexpr std::string_view kSpecTraceparent =
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
constexpr std::string_view kSpecTracestate = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";
constexpr std::string_view kTraceId = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr std::string_view kParentId = "00f067aa0ba902b7";
constexpr std::string_view kZeroTraceId = "00000000000000000000000000000000";
constexpr std::string_view kZeroParentId = "0000000000000000";

std::string Tp(std::string_view version, std::string_view trace_id = kTraceId,
               std::string_view parent_id = kParentId, std::string_view flags = "01",
               std::string_view tail = "") {
  std::string s;
  s.append(version).append("-").append(trace_id).append("-").append(parent_id).append("-");
  s.append(flags).append(tail);
  return s;
}

std::string WithCharAt(std::string s, std::size_t pos, char c) {
  s[pos] = c;
  return s;
}

std::string AsciiLower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

// "k<first>=v,...": `count` members with distinct keys.
std::string Members(int count, int first = 0, std::string_view sep = ",") {
  std::string s;
  for (int i = 0; i < count; ++i) {
    if (i > 0) s.append(sep);
    s.append("k").append(std::to_string(first + i)).append("=v");
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// traceparent, one value

struct TraceparentCase {
  std::string name;
  std::string value;
  TraceparentError want;
};

std::ostream& operator<<(std::ostream& os, const TraceparentCase& c) { return os << c.name; }

std::vector<TraceparentCase> TraceparentCases() {
  const std::string spec(kSpecTraceparent);
  using E = TraceparentError;
  return {
      // Valid.
      {"SpecExample", spec, E::kNone},
      {"NotSampled", Tp("00", kTraceId, kParentId, "00"), E::kNone},
      {"AllFlagBits", Tp("00", kTraceId, kParentId, "ff"), E::kNone},
      {"FutureVersionExactly55", Tp("cc"), E::kNone},
      {"FutureVersionExtraField", Tp("01", kTraceId, kParentId, "01", "-extra"), E::kNone},
      {"FutureVersionEmptyExtraField", Tp("fe", kTraceId, kParentId, "01", "-"), E::kNone},
      {"FutureVersionExtraIsOpaque", Tp("02", kTraceId, kParentId, "01", "-XY,= \x01z"), E::kNone},

      // Length outranks everything below it.
      {"Empty", "", E::kLength},
      {"SingleSpace", " ", E::kLength},
      {"WhitespaceOnly", " \t  ", E::kLength},
      {"Truncated54", spec.substr(0, 54), E::kLength},
      {"Version00With56", spec + "0", E::kLength},
      {"Version00WithExtraField", spec + "-extra", E::kLength},
      {"Version00TrailingSpace", spec + " ", E::kLength},
      {"FutureVersion54", Tp("01").substr(0, 54), E::kLength},
      {"FfAloneIsLength", "ff", E::kLength},
      {"Garbage", "hello", E::kLength},
      {"TwoJoinedWithComma", spec + "," + spec, E::kLength},

      // Delimiter.
      {"DelimiterAt2", WithCharAt(spec, 2, '_'), E::kDelimiter},
      {"DelimiterAt35", WithCharAt(spec, 35, '_'), E::kDelimiter},
      {"DelimiterAt52", WithCharAt(spec, 52, '.'), E::kDelimiter},
      {"SpacesForDelimiters", "00 4bf92f3577b34da6a3ce929d0e0e4736 00f067aa0ba902b7 01",
       E::kDelimiter},
      {"FutureVersionNoDelimiterAt55", Tp("01", kTraceId, kParentId, "01", "x"), E::kDelimiter},
      {"FutureVersionGluedExtra", Tp("01", kTraceId, kParentId, "01", "extra"), E::kDelimiter},
      {"LeadingSpaceShiftsFields", " " + spec, E::kDelimiter},
      {"DelimiterOutranksVersion", WithCharAt(Tp("zz"), 2, '_'), E::kDelimiter},

      // Version.
      {"VersionFf", Tp("ff"), E::kVersion},
      {"VersionFfUppercase", Tp("FF"), E::kVersion},
      {"VersionFfMixedCase", Tp("fF"), E::kVersion},
      {"VersionFfWithExtraField", Tp("ff", kTraceId, kParentId, "01", "-x"), E::kVersion},
      {"VersionNonHexLower", Tp("0g"), E::kVersion},
      {"VersionNonHexUpper", Tp("0G"), E::kVersion},
      {"VersionLetters", Tp("zz"), E::kVersion},
      {"VersionOutranksNonHex", Tp("0g", "4bf92f3577b34da6a3ce929d0e0e473x"), E::kVersion},

      // Non-hex.
      {"NonHexInTraceId", Tp("00", "4bf92f3577b34da6a3ce929d0e0e473g"), E::kNonHex},
      {"NonHexInParentId", Tp("00", kTraceId, "00f067aa0ba902bz"), E::kNonHex},
      {"SpaceInParentId", Tp("00", kTraceId, "00f067aa 0ba902b"), E::kNonHex},
      {"NonHexFlags", Tp("00", kTraceId, kParentId, "0x"), E::kNonHex},
      {"DashInFlags", Tp("00", kTraceId, kParentId, "-1"), E::kNonHex},
      {"NonHexOutranksUppercase", Tp("00", "4BF92F3577B34DA6A3CE929D0E0E4736", "00f067aa0ba902bg"),
       E::kNonHex},
      {"NonHexOutranksZeroTraceId", Tp("00", kZeroTraceId, "00f067aa0ba902bg"), E::kNonHex},

      // Zero ids.
      {"ZeroTraceId", Tp("00", kZeroTraceId), E::kZeroTraceId},
      {"ZeroTraceIdFutureVersion", Tp("01", kZeroTraceId, kParentId, "01", "-x"), E::kZeroTraceId},
      {"BothIdsZero", Tp("00", kZeroTraceId, kZeroParentId), E::kZeroTraceId},
      {"ZeroTraceIdOutranksUppercase", Tp("00", kZeroTraceId, "00F067AA0BA902B7"), E::kZeroTraceId},
      {"ZeroParentId", Tp("00", kTraceId, kZeroParentId), E::kZeroParentId},
      {"ZeroParentIdFutureVersion", Tp("fe", kTraceId, kZeroParentId, "00", "-x"),
       E::kZeroParentId},
      {"ZeroParentIdOutranksUppercase", Tp("00", "4BF92F3577B34DA6A3CE929D0E0E4736", kZeroParentId),
       E::kZeroParentId},

      // Uppercase: only when lowercasing would fix the value.
      {"UppercaseTraceId", Tp("00", "4BF92F3577B34DA6A3CE929D0E0E4736"), E::kUppercaseHex},
      {"UppercaseParentId", Tp("00", kTraceId, "00F067AA0BA902B7"), E::kUppercaseHex},
      {"MixedCaseTraceId", Tp("00", "4bF92f3577b34da6a3ce929d0e0e4736"), E::kUppercaseHex},
      {"UppercaseFlags", Tp("00", kTraceId, kParentId, "0A"), E::kUppercaseHex},
      {"UppercaseFutureVersion", Tp("0A"), E::kUppercaseHex},
  };
}

class TraceparentTest : public ::testing::TestWithParam<TraceparentCase> {};

TEST_P(TraceparentTest, Reason) {
  const TraceparentCase& c = GetParam();
  EXPECT_EQ(ParseTraceparent(c.value).error, c.want) << "value: '" << c.value << "'";
}

// The definition of uppercase_hex, checked on every case: it is the reason exactly when the value
// is invalid and lowercasing it would make it valid.
TEST_P(TraceparentTest, UppercaseHexMeansLowercasingFixesIt) {
  const TraceparentCase& c = GetParam();
  const TraceparentError error = ParseTraceparent(c.value).error;
  const bool lowercase_fixes =
      error != TraceparentError::kNone && ParseTraceparent(AsciiLower(c.value)).ok();
  EXPECT_EQ(error == TraceparentError::kUppercaseHex, lowercase_fixes) << c.value;
}

// Through the message-level entry point the verdict must agree with the single-value parser.
TEST_P(TraceparentTest, ClassifyAgrees) {
  const TraceparentCase& c = GetParam();
  const HeaderField headers[] = {{"traceparent", c.value}};
  const ContextResult r = ClassifyContext(headers);
  EXPECT_EQ(r.traceparent_error, c.want);
  EXPECT_EQ(r.verdict, c.want == TraceparentError::kNone ? ContextVerdict::kValid
                                                         : ContextVerdict::kMalformed);
}

INSTANTIATE_TEST_SUITE_P(Table, TraceparentTest, ::testing::ValuesIn(TraceparentCases()),
                         [](const auto& info) { return info.param.name; });

TEST(TraceparentTable, EveryReasonHasAtLeastTwoExamples) {
  const auto cases = TraceparentCases();
  for (TraceparentError e : kTraceparentErrors) {
    if (e == TraceparentError::kDuplicate) continue;  // message-level, see ClassifyContext tests
    const auto n =
        std::count_if(cases.begin(), cases.end(), [e](const auto& c) { return c.want == e; });
    EXPECT_GE(n, 2) << Label(e);
  }
}

TEST(ParseTraceparent, SpecExampleFields) {
  const TraceparentResult r = ParseTraceparent(kSpecTraceparent);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value.version, 0x00);
  EXPECT_EQ(r.value.trace_id.ToHex(), kTraceId);
  EXPECT_EQ(r.value.trace_id.bytes[0], 0x4b);
  EXPECT_EQ(r.value.trace_id.bytes[15], 0x36);
  EXPECT_EQ(r.value.parent_id.ToHex(), kParentId);
  EXPECT_EQ(r.value.parent_id.bytes[7], 0xb7);
  EXPECT_EQ(r.value.flags, 0x01);
}

TEST(ParseTraceparent, FutureVersionFieldsComeFromThePrefix) {
  const TraceparentResult r = ParseTraceparent(Tp("cc", kTraceId, kParentId, "09", "-what-ever"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value.version, 0xcc);
  EXPECT_EQ(r.value.trace_id.ToHex(), kTraceId);
  EXPECT_EQ(r.value.parent_id.ToHex(), kParentId);
  EXPECT_EQ(r.value.flags, 0x09);
}

TEST(ParseTraceparent, NeverReportsDuplicate) {
  EXPECT_NE(
      ParseTraceparent(std::string(kSpecTraceparent) + "," + std::string(kSpecTraceparent)).error,
      TraceparentError::kDuplicate);
}

// ---------------------------------------------------------------------------------------------
// tracestate, fields only

struct TracestateCase {
  std::string name;
  std::vector<std::string> fields;
  TracestateError want;
  // ContextResult::tracestate_has_duplicates with a valid traceparent: a repeated key in a list
  // that is otherwise valid (Level 2: not an error).
  bool duplicates = false;
};

std::ostream& operator<<(std::ostream& os, const TracestateCase& c) { return os << c.name; }

std::vector<TracestateCase> TracestateCases() {
  using E = TracestateError;
  const std::string key256(256, 'a');
  const std::string value256(256, 'v');
  return {
      // Valid.
      {"SpecExample", {std::string(kSpecTracestate)}, E::kNone},
      {"NoFields", {}, E::kNone},
      {"EmptyField", {""}, E::kNone},
      {"OnlyCommas", {",,,"}, E::kNone},
      {"OnlyOwsMembers", {" \t , ,\t"}, E::kNone},
      {"OwsAroundMembers", {" rojo=1 \t,\t congo=2 "}, E::kNone},
      {"SpaceBeforeCommaIsOws", {"rojo=1 ,congo=2"}, E::kNone},
      {"Exactly32Members", {Members(32)}, E::kNone},
      {"Exactly32MembersWithEmptyOnes", {",," + Members(32, 0, ", ,") + ","}, E::kNone},
      {"Exactly32MembersAcrossFields", {Members(16), Members(16, 16)}, E::kNone},
      {"MultiTenantKey", {"fw529a3039@dt=x"}, E::kNone},
      {"KeyStartsWithDigit", {"0abc=1"}, E::kNone},
      {"EveryKeyChar", {"a0_-*/@z=1"}, E::kNone},
      {"Key256", {key256 + "=1"}, E::kNone},
      {"Value256", {"k=" + value256}, E::kNone},
      {"ValuePunctuationAndInnerSpaces", {"k=a b!~\"#$%&'()*+-./:;<>?@[\\]^_`{|}"}, E::kNone},
      {"ValueLeadingSpace", {"k= a"}, E::kNone},
      {"TwoFields", {"rojo=1", "congo=2"}, E::kNone},
      {"EmptyFieldsAround", {"", "rojo=1", ""}, E::kNone},

      // Member (no '=') outranks everything in the content.
      {"MemberWithoutEquals", {"rojo"}, E::kMember},
      {"SecondMemberWithoutEquals", {"rojo=1,congo"}, E::kMember},
      {"MemberWithoutEqualsInSecondField", {"rojo=1", " congo "}, E::kMember},
      {"MemberOutranksKey", {"Bad=1,nokey"}, E::kMember},
      {"MemberOutranksTooMany", {Members(40) + ",x"}, E::kMember},

      // Key.
      {"KeyUppercase", {"Rojo=1"}, E::kKey},
      {"KeyLeadingUnderscore", {"_rojo=1"}, E::kKey},
      {"KeyLeadingAt", {"@dt=1"}, E::kKey},
      {"Key257", {std::string(257, 'a') + "=1"}, E::kKey},
      {"KeyEmpty", {"=1"}, E::kKey},
      {"KeyWithSpace", {"ro jo=1"}, E::kKey},
      {"KeyNonPrintable", {std::string("ro\x01jo=1")}, E::kKey},
      {"KeyOutranksValue", {"k=a=b,Bad=1"}, E::kKey},
      {"KeyOutranksTooMany", {Members(33) + ",K=1"}, E::kKey},
      {"UppercaseIsNotADuplicate", {"rojo=1,Rojo=2"}, E::kKey},

      // Value.
      {"ValueContainsEquals", {"k=a=b"}, E::kValue},
      {"ValueEmpty", {"k="}, E::kValue},
      {"ValueOnlySpaceTrailing", {"k= "}, E::kValue},
      {"ValueOnlySpacesBeforeComma", {"k=  ,x=1"}, E::kValue},
      {"Value257", {"k=" + std::string(257, 'v')}, E::kValue},
      {"ValueControlChar", {std::string("k=a\x01") + "b"}, E::kValue},
      {"ValueDel", {"k=a\x7f"}, E::kValue},
      {"ValueInnerTab", {"k=a\tb"}, E::kValue},
      {"ValueNonAscii", {"k=caf\xc3\xa9"}, E::kValue},
      {"ValueOutranksTooMany", {Members(33) + ",x=a=b"}, E::kValue},
      {"ValueDespiteDuplicateKey", {"a=1,a=x=y"}, E::kValue},

      // Too many members.
      {"Members33", {Members(33)}, E::kTooManyMembers},
      {"Members33AcrossFields", {Members(17), Members(16, 17)}, E::kTooManyMembers},
      {"Members33WithEmptyOnes", {Members(33, 0, ",,")}, E::kTooManyMembers},
      {"TooManyDespiteDuplicateKey", {Members(33) + ",k0=again"}, E::kTooManyMembers},

      // Duplicate keys are valid (Level 2; the official test suite's
      // test_tracestate_duplicated_keys), only flagged.
      {"DuplicateSameValue", {"foo=1,foo=1"}, E::kNone, true},
      {"DuplicateOtherValue", {"foo=1,foo=2"}, E::kNone, true},
      {"DuplicateSameValueAcrossFields", {"foo=1", "foo=1"}, E::kNone, true},
      {"DuplicateOtherValueAcrossFields", {"foo=1", "foo=2"}, E::kNone, true},
      {"DuplicateWithOws", {" a=1 ,\ta=2"}, E::kNone, true},
      {"DuplicateMultiTenantKey", {"fw@dt=1,x=2,fw@dt=3"}, E::kNone, true},
      {"DuplicateThreeTimes", {"a=1", "b=2,a=3", "a=4"}, E::kNone, true},
      {"DuplicateAt32", {Members(31) + ",k0=again"}, E::kNone, true},
      {"DuplicateAt32AcrossFields", {Members(16), Members(16, 15)}, E::kNone, true},
      // ... but a real error is still reported, and then the flag is not set.
      {"MemberDespiteDuplicateKey", {"foo=1,foo=2,bar"}, E::kMember},
      {"KeyDespiteDuplicateKeyAcrossFields", {"foo=1", "foo=2", "Bar=1"}, E::kKey},
  };
}

class TracestateTest : public ::testing::TestWithParam<TracestateCase> {};

TEST_P(TracestateTest, Reason) {
  const TracestateCase& c = GetParam();
  const std::vector<std::string_view> views(c.fields.begin(), c.fields.end());
  EXPECT_EQ(ValidateTracestate(views), c.want);
}

// With a valid traceparent the message-level result carries the same reason and stays valid.
TEST_P(TracestateTest, ValidTraceparentStaysValid) {
  const TracestateCase& c = GetParam();
  std::vector<HeaderField> headers = {{"traceparent", kSpecTraceparent}};
  for (const std::string& f : c.fields) headers.push_back({"tracestate", f});
  const ContextResult r = ClassifyContext(headers);
  EXPECT_EQ(r.verdict, ContextVerdict::kValid);
  EXPECT_EQ(r.traceparent_error, TraceparentError::kNone);
  EXPECT_EQ(r.trace_id.ToHex(), kTraceId);
  EXPECT_EQ(r.has_tracestate, !c.fields.empty());
  EXPECT_EQ(r.tracestate_error, c.want);
  EXPECT_EQ(r.tracestate_has_duplicates, c.duplicates);
}

// The flag is a finding about a list that is otherwise valid, so a table case never claims it
// next to a reason.
TEST(TracestateTable, DuplicatesOnlyWithoutReason) {
  for (const TracestateCase& c : TracestateCases()) {
    if (c.duplicates) {
      EXPECT_EQ(c.want, TracestateError::kNone) << c.name;
    }
  }
}

// Whatever the content, a tracestate without a valid traceparent is only ever an orphan (and no
// tracestate field at all is no finding).
TEST_P(TracestateTest, OrphanWithoutTraceparent) {
  const TracestateCase& c = GetParam();
  const TracestateError want = c.fields.empty() ? TracestateError::kNone : TracestateError::kOrphan;
  std::vector<HeaderField> headers;
  for (const std::string& f : c.fields) headers.push_back({"tracestate", f});
  EXPECT_EQ(ClassifyContext(headers).tracestate_error, want);
  EXPECT_FALSE(ClassifyContext(headers).tracestate_has_duplicates);  // content not judged
  headers.push_back({"traceparent", "garbage"});
  EXPECT_EQ(ClassifyContext(headers).tracestate_error, want);
  EXPECT_FALSE(ClassifyContext(headers).tracestate_has_duplicates);
}

INSTANTIATE_TEST_SUITE_P(Table, TracestateTest, ::testing::ValuesIn(TracestateCases()),
                         [](const auto& info) { return info.param.name; });

TEST(TracestateTable, EveryReasonHasAtLeastTwoExamples) {
  const auto cases = TracestateCases();
  for (TracestateError e : kTracestateErrors) {
    if (e == TracestateError::kOrphan) continue;  // message-level, see ClassifyContext tests
    const auto n =
        std::count_if(cases.begin(), cases.end(), [e](const auto& c) { return c.want == e; });
    EXPECT_GE(n, 2) << Label(e);
  }
}

TEST(ValidateTracestate, SingleValueOverload) {
  EXPECT_EQ(ValidateTracestate(kSpecTracestate), TracestateError::kNone);
  EXPECT_EQ(ValidateTracestate("a=1,a=2"), TracestateError::kNone);  // Level 2: not an error
  EXPECT_EQ(ValidateTracestate("a=1,a=2,Bad=3"), TracestateError::kKey);
}

// ---------------------------------------------------------------------------------------------
// Whole message

TEST(ClassifyContext, SpecExample) {
  const HeaderField headers[] = {
      {"Host", "example.com"},
      {"traceparent", kSpecTraceparent},
      {"tracestate", kSpecTracestate},
  };
  const ContextResult r = ClassifyContext(headers);
  EXPECT_EQ(r.verdict, ContextVerdict::kValid);
  EXPECT_EQ(r.traceparent_error, TraceparentError::kNone);
  EXPECT_TRUE(r.has_tracestate);
  EXPECT_EQ(r.tracestate_error, TracestateError::kNone);
  EXPECT_FALSE(r.tracestate_has_duplicates);
  EXPECT_EQ(r.legacy, 0);
  EXPECT_EQ(r.trace_id.ToHex(), kTraceId);
  EXPECT_EQ(r.parent_id.ToHex(), kParentId);
  EXPECT_EQ(r.flags, 0x01);
}

TEST(ClassifyContext, HeaderNamesAnyCase) {
  const HeaderField headers[] = {{"TraceParent", kSpecTraceparent}, {"TRACESTATE", "a=1,a=2"}};
  const ContextResult r = ClassifyContext(headers);
  EXPECT_EQ(r.verdict, ContextVerdict::kValid);
  EXPECT_TRUE(r.has_tracestate);
  EXPECT_EQ(r.tracestate_error, TracestateError::kNone);
  EXPECT_TRUE(r.tracestate_has_duplicates);
}

TEST(ClassifyContext, Missing) {
  EXPECT_EQ(ClassifyContext({}).verdict, ContextVerdict::kMissing);
  const HeaderField headers[] = {
      {"host", "x"}, {"traceparentx", kSpecTraceparent}, {"x-traceparent", kSpecTraceparent}};
  const ContextResult r = ClassifyContext(headers);
  EXPECT_EQ(r.verdict, ContextVerdict::kMissing);
  EXPECT_EQ(r.traceparent_error, TraceparentError::kNone);
  EXPECT_EQ(r.tracestate_error, TracestateError::kNone);
  EXPECT_FALSE(r.has_tracestate);
  EXPECT_TRUE(r.trace_id.IsZero());
}

TEST(ClassifyContext, EmptyTraceparentFieldIsMalformedNotMissing) {
  const HeaderField headers[] = {{"traceparent", ""}};
  const ContextResult r = ClassifyContext(headers);
  EXPECT_EQ(r.verdict, ContextVerdict::kMalformed);
  EXPECT_EQ(r.traceparent_error, TraceparentError::kLength);
}

TEST(ClassifyContext, MalformedLeavesIdsZero) {
  const std::string upper = Tp("00", "4BF92F3577B34DA6A3CE929D0E0E4736");
  const HeaderField headers[] = {{"traceparent", upper}};
  const ContextResult r = ClassifyContext(headers);
  EXPECT_EQ(r.verdict, ContextVerdict::kMalformed);
  EXPECT_EQ(r.traceparent_error, TraceparentError::kUppercaseHex);
  EXPECT_TRUE(r.trace_id.IsZero());
  EXPECT_TRUE(r.parent_id.IsZero());
  EXPECT_EQ(r.flags, 0);
}

// Header fields are views: the strings they point into must outlive the case.
struct MessageCase {
  std::string name;
  std::vector<HeaderField> headers;
};

TEST(ClassifyContext, DuplicateTraceparent) {
  const std::string other = Tp("00", "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331");
  const std::vector<MessageCase> cases = {
      {"Identical", {{"traceparent", kSpecTraceparent}, {"traceparent", kSpecTraceparent}}},
      {"Different", {{"traceparent", kSpecTraceparent}, {"traceparent", other}}},
      {"MixedCaseNames", {{"TraceParent", kSpecTraceparent}, {"traceparent", other}}},
      {"OneInvalid", {{"traceparent", "x"}, {"traceparent", kSpecTraceparent}}},
      {"BothEmpty", {{"traceparent", ""}, {"traceparent", ""}}},
      {"Three",
       {{"traceparent", other}, {"a", "b"}, {"traceparent", other}, {"traceparent", other}}},
  };
  for (const MessageCase& c : cases) {
    SCOPED_TRACE(c.name);
    const ContextResult r = ClassifyContext(c.headers);
    EXPECT_EQ(r.verdict, ContextVerdict::kMalformed);
    EXPECT_EQ(r.traceparent_error, TraceparentError::kDuplicate);
    EXPECT_TRUE(r.trace_id.IsZero());
  }
}

TEST(ClassifyContext, Orphan) {
  const std::string version_ff = Tp("ff");
  const std::string uppercase = Tp("00", kTraceId, "00F067AA0BA902B7");
  const std::vector<MessageCase> cases = {
      {"NoTraceparent", {{"tracestate", kSpecTracestate}}},
      {"NoTraceparentEmptyTracestate", {{"tracestate", ""}}},
      {"MalformedTraceparent", {{"traceparent", version_ff}, {"tracestate", kSpecTracestate}}},
      {"UppercaseTraceparent", {{"tracestate", kSpecTracestate}, {"traceparent", uppercase}}},
      {"DuplicateTraceparent",
       {{"traceparent", kSpecTraceparent},
        {"traceparent", kSpecTraceparent},
        {"tracestate", kSpecTracestate}}},
      {"InvalidTracestateToo", {{"Tracestate", "BAD"}}},
  };
  for (const MessageCase& c : cases) {
    SCOPED_TRACE(c.name);
    const ContextResult r = ClassifyContext(c.headers);
    EXPECT_NE(r.verdict, ContextVerdict::kValid);
    EXPECT_TRUE(r.has_tracestate);
    EXPECT_EQ(r.tracestate_error, TracestateError::kOrphan);
  }
}

TEST(ClassifyContext, TracestateFieldsAreJoinedInOrder) {
  const std::string first = Members(20);
  const std::string second = Members(13, 20);
  const HeaderField too_many[] = {
      {"tracestate", first}, {"traceparent", kSpecTraceparent}, {"TraceState", second}};
  EXPECT_EQ(ClassifyContext(too_many).tracestate_error, TracestateError::kTooManyMembers);
  const HeaderField dup[] = {
      {"tracestate", "a=1"}, {"traceparent", kSpecTraceparent}, {"tracestate", "b=2,a=3"}};
  EXPECT_EQ(ClassifyContext(dup).tracestate_error, TracestateError::kNone);
  EXPECT_TRUE(ClassifyContext(dup).tracestate_has_duplicates);
  const HeaderField distinct[] = {
      {"tracestate", "a=1"}, {"traceparent", kSpecTraceparent}, {"tracestate", "b=2,c=3"}};
  EXPECT_EQ(ClassifyContext(distinct).tracestate_error, TracestateError::kNone);
  EXPECT_FALSE(ClassifyContext(distinct).tracestate_has_duplicates);
}

// W3C Trace Context Level 2 (w3c/trace-context #477, #552): a repeated tracestate key is the
// sender's bug, not a broken header. The header is carried on, so the message is valid with no
// tracestate reason, and only tracestate_has_duplicates records the repeat.
TEST(ClassifyContext, DuplicateTracestateKeysAreValidLevel2) {
  const std::vector<MessageCase> cases = {
      {"SameValue", {{"traceparent", kSpecTraceparent}, {"tracestate", "foo=1,foo=1"}}},
      {"OtherValue", {{"traceparent", kSpecTraceparent}, {"tracestate", "foo=1,foo=2"}}},
      {"SameValueTwoLines",
       {{"traceparent", kSpecTraceparent}, {"tracestate", "foo=1"}, {"tracestate", "foo=1"}}},
      {"OtherValueTwoLines",
       {{"tracestate", "foo=1"}, {"traceparent", kSpecTraceparent}, {"TraceState", "foo=2"}}},
  };
  for (const MessageCase& c : cases) {
    SCOPED_TRACE(c.name);
    const ContextResult r = ClassifyContext(c.headers);
    EXPECT_EQ(r.verdict, ContextVerdict::kValid);
    EXPECT_EQ(r.traceparent_error, TraceparentError::kNone);
    EXPECT_TRUE(r.has_tracestate);
    EXPECT_EQ(r.tracestate_error, TracestateError::kNone);
    EXPECT_TRUE(r.tracestate_has_duplicates);
    EXPECT_EQ(r.trace_id.ToHex(), kTraceId);
  }

  const HeaderField distinct[] = {
      {"traceparent", kSpecTraceparent}, {"tracestate", "foo=1"}, {"tracestate", "bar=1"}};
  EXPECT_FALSE(ClassifyContext(distinct).tracestate_has_duplicates);

  // Another problem in the list is still reported as itself, and the repeat is not flagged.
  const HeaderField with_error[] = {
      {"traceparent", kSpecTraceparent}, {"tracestate", "foo=1"}, {"tracestate", "foo=2,v=a=b"}};
  const ContextResult r = ClassifyContext(with_error);
  EXPECT_EQ(r.verdict, ContextVerdict::kValid);
  EXPECT_EQ(r.tracestate_error, TracestateError::kValue);
  EXPECT_FALSE(r.tracestate_has_duplicates);

  // Without a valid traceparent the content is not judged: orphan, not flagged.
  const HeaderField orphan[] = {{"tracestate", "foo=1,foo=2"}};
  EXPECT_EQ(ClassifyContext(orphan).tracestate_error, TracestateError::kOrphan);
  EXPECT_FALSE(ClassifyContext(orphan).tracestate_has_duplicates);
}

}  // namespace
}  // namespace tracegap
