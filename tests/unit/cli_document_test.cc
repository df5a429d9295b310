// The CLI's edge for the daemon's JSON: ParseDocument() refuses what is not one strict, bounded
// JSON document with a reason, and the decoders name the field that does not fit the API.

#include <gtest/gtest.h>

#include <limits>
#include <random>
#include <string>

#include "cli/document.h"
#include "cli/model.h"

namespace tracegap::cli {
namespace {

using namespace std::string_literals;

std::string ParseError(std::string_view text, int max_depth = kMaxDocumentDepth) {
  std::string error;
  EXPECT_FALSE(ParseDocument(text, &error, max_depth).has_value()) << "parsed: " << text;
  EXPECT_FALSE(error.empty()) << text;
  return error;
}

Document MustParse(std::string_view text) {
  std::string error;
  std::optional<Document> v = ParseDocument(text, &error);
  EXPECT_TRUE(v.has_value()) << text << ": " << error;
  return v.value_or(Document());
}

TEST(CliDocumentTest, KeepsOrderAndExactIntegers) {
  const Document v =
      MustParse(R"({"b":1,"a":[18446744073709551615,-5,1.0,1e2,"\u00e9\ud83d\ude00\n"],"z":null})");
  EXPECT_EQ(v.begin().key(), "b");
  EXPECT_EQ(v["a"][0].get<uint64_t>(), std::numeric_limits<uint64_t>::max());
  EXPECT_TRUE(v["a"][1].is_number_integer() && !v["a"][1].is_number_unsigned());
  EXPECT_TRUE(v["a"][2].is_number_float());  // written with a fraction: not a counter
  EXPECT_TRUE(v["a"][3].is_number_float());
  EXPECT_EQ(v["a"][4], "é😀\n");
  EXPECT_EQ(PrintDocument(v, -1),
            R"({"b":1,"a":[18446744073709551615,-5,1.0,100.0,"é😀\n"],"z":null})");
}

TEST(CliDocumentTest, NestingUpToTheLimit) {
  EXPECT_TRUE(ParseDocument(std::string(64, '[') + std::string(64, ']'), nullptr).has_value());
  EXPECT_EQ(ParseError(std::string(65, '[') + std::string(65, ']')),
            "nesting deeper than 64 levels");
  EXPECT_TRUE(ParseDocument("[1]", nullptr, 1).has_value());
  EXPECT_FALSE(ParseDocument("[[1]]", nullptr, 1).has_value());
}

TEST(CliDocumentTest, DepthBombsFailFast) {
  EXPECT_EQ(ParseError(std::string(1'000'000, '[')), "nesting deeper than 64 levels");
  std::string objects;
  for (int i = 0; i < 100'000; ++i) objects += "{\"a\":";
  EXPECT_EQ(ParseError(objects), "nesting deeper than 64 levels");
}

TEST(CliDocumentTest, DuplicateKeysAreRefused) {
  EXPECT_EQ(ParseError(R"({"a":1,"a":2})"), "duplicate key \"a\" in an object");
  std::string wide = "{";
  for (int i = 0; i < 1000; ++i) wide += "\"k" + std::to_string(i) + "\":{\"k0\":0},";
  wide += "\"k500\":0}";
  EXPECT_EQ(ParseError(wide), "duplicate key \"k500\" in an object");
  EXPECT_TRUE(ParseDocument(R"({"a":{"a":1},"b":[{"a":1},{"a":2}]})", nullptr).has_value());
}

TEST(CliDocumentTest, MessagesSayWhere) {
  EXPECT_EQ(ParseError("[1 2]"),
            "parse error at line 1, column 4: syntax error while parsing array - unexpected "
            "number literal; expected ']'");
  EXPECT_EQ(ParseError("1e999"), "number overflow parsing '1e999'");
}

TEST(CliDocumentTest, RejectsEverythingOutsideTheGrammar) {
  for (std::string_view bad : {"",
                               " ",
                               "{",
                               "}",
                               "[",
                               "[1,]",
                               "{\"a\":1,}",
                               "[1,,2]",
                               "1.",
                               ".5",
                               "-",
                               "1e",
                               "1e+",
                               "+1",
                               "-01",
                               "01",
                               "tru",
                               "nul",
                               "nulll",
                               "True",
                               "NaN",
                               "Infinity",
                               "-Infinity",
                               "'a'",
                               "\"\\x\"",
                               "\"\\u12g4\"",
                               "\"\\u12\"",
                               "\"\\ud800\"",
                               "\"\\ud800\\u0041\"",
                               "\"\\udc00\"",
                               "\"a\tb\"",
                               "\"\xff\"",
                               "\"\xc0\x80\"",
                               "\"\xed\xa0\x80\"",
                               "\"\xf4\x90\x80\x80\"",
                               "// c\n1",
                               "/* */1",
                               "1e999",
                               "-1e999",
                               "[1]]",
                               "{}}",
                               "[1]x",
                               "\"\\",
                               "\"ab",
                               "{1:2}",
                               "\x01"}) {
    ParseError(bad);
  }
}

TEST(CliDocumentTest, InvalidUtf8InBuiltDocumentsPrintsAsReplacement) {
  Document v = {{"comm",
                 "a\xff"
                 "b"}};
  EXPECT_EQ(PrintDocument(v, -1),
            "{\"comm\":\"a\xef\xbf\xbd"
            "b\"}");
}

// Decoding a hostile but well-formed document: each mismatch names the field.
TEST(CliDocumentTest, DecodersNameTheField) {
  std::string error;
  ProcessDetail detail;
  EXPECT_FALSE(DecodeProcessDetail(MustParse("7"), &detail, &error));
  EXPECT_EQ(error, "process is a number, not an object");
  StatusInfo status;
  EXPECT_FALSE(DecodeStatus(MustParse(R"({"version":"1","uptime_seconds":"x"})"), &status, &error));
  EXPECT_EQ(error, "status.uptime_seconds is a string, not a number");
  const std::string base =
      R"({"version":"1","uptime_seconds":1,"attach":"a","capture":"c","http2":true,)"
      R"("degraded":false,"load_failures":[],"connections_tracked":0,"processes_tracked":0,)";
  EXPECT_TRUE(DecodeStatus(MustParse(base + R"("kernel_drops":{"x":1}})"), &status, &error))
      << error;
  EXPECT_FALSE(DecodeStatus(MustParse(base + R"("kernel_drops":{"x":1.5}})"), &status, &error));
  EXPECT_EQ(error, "status.kernel_drops.x is not a non-negative integer");
  EXPECT_FALSE(DecodeStatus(MustParse(base + R"("kernel_drops":{"x":true}})"), &status, &error));
  EXPECT_EQ(error, "status.kernel_drops.x is a boolean, not a number");
  std::string failures = base + R"("kernel_drops":{}})";
  failures.replace(failures.find(R"("load_failures":[])"), 18, R"("load_failures":["a",2])");
  EXPECT_FALSE(DecodeStatus(MustParse(failures), &status, &error));
  EXPECT_EQ(error, "status.load_failures[1] is not a string");
}

// Garbage and mutated documents: never a crash (ASan/UBSan builds check the "never UB"); what
// parses prints to text that parses to the same document, and decoding it fails or succeeds
// without throwing.
TEST(CliDocumentTest, SurvivesGarbageAndMutations) {
  std::mt19937 rng(7);
  const std::string seed =
      R"({"processes":[{"pid":1,"comm":"a\u00e9","r":0.25,"l":[true,false,null,-1e5]}],)"
      R"("x":"\ud83d\ude00"})";
  const std::string alphabet = "{}[]\":,.-+eE0123456789truefalsn \\u\xff\xc3\x80";
  for (int i = 0; i < 20000; ++i) {
    std::string text;
    if (i % 2 == 0) {
      text = seed;
      const int edits = 1 + static_cast<int>(rng() % 4);
      for (int j = 0; j < edits; ++j) {
        const size_t pos = rng() % text.size();
        switch (rng() % 3) {
          case 0:
            text[pos] = static_cast<char>(rng());
            break;
          case 1:
            text.erase(pos, 1 + rng() % 3);
            break;
          default:
            text.insert(pos, 1, alphabet[rng() % alphabet.size()]);
        }
        if (text.empty()) text = "x";
      }
    } else {
      const size_t n = rng() % 40;
      for (size_t j = 0; j < n; ++j) text.push_back(alphabet[rng() % alphabet.size()]);
    }
    std::string error;
    std::optional<Document> v = ParseDocument(text, &error);
    if (!v) {
      ASSERT_FALSE(error.empty()) << text;
      continue;
    }
    const std::string once = PrintDocument(*v, -1);
    std::optional<Document> again = ParseDocument(once, &error);
    ASSERT_TRUE(again.has_value()) << once << ": " << error;
    ASSERT_EQ(PrintDocument(*again, -1), once);
    std::vector<ProcessRow> rows;
    ProcessDetail detail;
    StatusInfo status;
    DecodeProcessList(*v, &rows, &error);
    DecodeProcessDetail(*v, &detail, &error);
    DecodeStatus(*v, &status, &error);
  }
}

}  // namespace
}  // namespace tracegap::cli
