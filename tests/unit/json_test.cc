#include "json/json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>

namespace tracegap::json {
namespace {

using namespace std::string_literals;

std::string Quoted(std::string_view s) {
  std::string out;
  AppendQuoted(&out, s);
  return out;
}

std::string ParseError(std::string_view text, const ParseLimits& limits = {}) {
  std::string error;
  std::optional<Value> v = Parse(text, &error, limits);
  EXPECT_FALSE(v.has_value()) << "parsed: " << text;
  return error;
}

Value MustParse(std::string_view text) {
  std::string error;
  std::optional<Value> v = Parse(text, &error);
  EXPECT_TRUE(v.has_value()) << text << ": " << error;
  return v ? std::move(*v) : Value();
}

// ---------------------------------------------------------------------------------------------
// Writer

TEST(JsonWriterTest, CompactDocument) {
  std::string out;
  Writer w(&out);
  w.BeginObject();
  w.Key("a").Uint(1);
  w.Key("b").BeginArray().Bool(true).Null().String("x").BeginObject().EndObject().EndArray();
  w.Key("c").BeginArray().EndArray();
  w.Key("d").Int(-7);
  w.EndObject();
  EXPECT_TRUE(w.done());
  EXPECT_EQ(out, R"({"a":1,"b":[true,null,"x",{}],"c":[],"d":-7})");
}

TEST(JsonWriterTest, Indented) {
  std::string out;
  Writer w(&out, 2);
  w.BeginObject().Key("a").BeginArray().Uint(1).Uint(2).EndArray().Key("e").BeginObject();
  w.EndObject().EndObject();
  EXPECT_EQ(out, "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"e\": {}\n}");
}

TEST(JsonWriterTest, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(Quoted("a\"b\\c/d"), R"("a\"b\\c/d")");
  EXPECT_EQ(Quoted("\b\f\n\r\t"), R"("\b\f\n\r\t")");
  EXPECT_EQ(Quoted("\x01\x1f\x7f"), R"("\u0001\u001f\u007f")");
  EXPECT_EQ(Quoted("nul\0byte"s), R"("nul\u0000byte")");
}

TEST(JsonWriterTest, KeepsValidUtf8) {
  EXPECT_EQ(Quoted("é€😀"), "\"é€😀\"");
  EXPECT_EQ(Quoted("\xf4\x8f\xbf\xbf"), "\"\xf4\x8f\xbf\xbf\"");  // U+10FFFF
}

TEST(JsonWriterTest, ReplacesEachInvalidUtf8Byte) {
  EXPECT_EQ(Quoted("\xff"), R"("\ufffd")");
  EXPECT_EQ(Quoted("a\xc3"), R"("a\ufffd")");                              // truncated
  EXPECT_EQ(Quoted("\xc0\xaf"), R"("\ufffd\ufffd")");                      // overlong
  EXPECT_EQ(Quoted("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");            // surrogate
  EXPECT_EQ(Quoted("\xf4\x90\x80\x80"), R"("\ufffd\ufffd\ufffd\ufffd")");  // > U+10FFFF
  EXPECT_EQ(Quoted("\x80x"), R"("\ufffdx")");                              // lone continuation
  EXPECT_EQ(Quoted("\xe2\x82"), R"("\ufffd\ufffd")");                      // truncated at the end
}

TEST(JsonWriterTest, Numbers) {
  std::string out;
  Writer w(&out);
  w.BeginArray();
  w.Uint(std::numeric_limits<uint64_t>::max()).Int(std::numeric_limits<int64_t>::min());
  w.Double(0.25, 4).Double(1.0 / 3, 4).Double(2.0 / 3, 1).Double(-1.5, 0).Double(7, 0);
  w.Double(std::nan(""), 2).Double(INFINITY, 2).Number(0.1).Number(-INFINITY).Number(1e21);
  w.EndArray();
  EXPECT_EQ(out,
            "[18446744073709551615,-9223372036854775808,0.2500,0.3333,0.7,-2,7,null,null,0.1,"
            "null,1e+21]");
}

// ---------------------------------------------------------------------------------------------
// Round trips

TEST(JsonRoundTripTest, EveryAsciiByte) {
  std::string s;
  for (int c = 0; c < 128; ++c) s.push_back(static_cast<char>(c));
  Value v = MustParse(Quoted(s));
  EXPECT_EQ(v.string(), s);
}

TEST(JsonRoundTripTest, RandomValidUtf8Strings) {
  std::mt19937 rng(42);
  const std::vector<std::string> pieces = {"a",    "\"", "\\",  "\n",    "\x01",
                                           "\x7f", "é",  "€",   "😀",     "\xef\xbf\xbd",
                                           "/",    " ",  "\0"s, "\u2028"};
  for (int i = 0; i < 2000; ++i) {
    std::string s;
    const int n = static_cast<int>(rng() % 20);
    for (int j = 0; j < n; ++j) s += pieces[rng() % pieces.size()];
    ASSERT_EQ(MustParse(Quoted(s)).string(), s);
  }
}

TEST(JsonRoundTripTest, InvalidUtf8BecomesReplacementCharacters) {
  EXPECT_EQ(MustParse(Quoted("a\xff"
                             "b"))
                .string(),
            "a\xef\xbf\xbd"
            "b");
}

TEST(JsonRoundTripTest, DocumentSurvivesSerializeAndParse) {
  const std::string text =
      R"({"n":[0,-0,1.5,-2,1e-3,18446744073709551615,-9223372036854775808,1e300],)"
      R"("s":"\u00e9\ud83d\ude00\n","o":{"t":true,"f":false,"z":null},"e":[]})";
  Value v = MustParse(text);
  const std::string again = Serialize(v);
  Value w = MustParse(again);
  EXPECT_EQ(Serialize(w), again);
  EXPECT_EQ(w.Find("s")->string(), "é😀\n");
  EXPECT_EQ(w.Find("n")->items()[5].as_uint(), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(w.Find("n")->items()[6].as_int(), std::numeric_limits<int64_t>::min());
}

// ---------------------------------------------------------------------------------------------
// Parser: accepted input

TEST(JsonParseTest, ScalarsAndWhitespace) {
  EXPECT_TRUE(MustParse(" \t\r\nnull \n").is_null());
  EXPECT_TRUE(MustParse("true").bool_value());
  EXPECT_FALSE(MustParse("false").bool_value());
  EXPECT_EQ(MustParse("\"\"").string(), "");
  EXPECT_EQ(MustParse("\"\\/\\b\"").string(), "/\b");
  EXPECT_DOUBLE_EQ(MustParse("-1.5E-3").number(), -0.0015);
  EXPECT_DOUBLE_EQ(MustParse("2e+2").number(), 200);
}

TEST(JsonParseTest, NegativeZeroKeepsItsSign) {
  Value v = MustParse("-0");
  EXPECT_EQ(v.as_int(), std::nullopt);
  EXPECT_TRUE(std::signbit(v.number()));
  EXPECT_EQ(Serialize(v), "-0");
  EXPECT_EQ(Serialize(MustParse("-0e5")), "-0");  // found by fuzzing: was "-0", then "0"
}

TEST(JsonParseTest, IntegersAreExactWhenTheyFit) {
  EXPECT_EQ(MustParse("42").as_uint(), 42u);
  EXPECT_EQ(MustParse("42").as_int(), 42);
  EXPECT_EQ(MustParse("-5").as_uint(), std::nullopt);
  EXPECT_EQ(MustParse("-5").as_int(), -5);
  EXPECT_EQ(MustParse("1.0").as_uint(), std::nullopt);  // written as a fraction
  EXPECT_EQ(MustParse("1e2").as_uint(), std::nullopt);
  Value big = MustParse("18446744073709551616");  // 2^64: a number, but not an exact integer
  EXPECT_EQ(big.as_uint(), std::nullopt);
  EXPECT_DOUBLE_EQ(big.number(), 18446744073709551616.0);
}

TEST(JsonParseTest, ObjectsKeepOrderAndFindKeys) {
  Value v = MustParse(R"({"b":1,"a":{"c":[1,2]}})");
  ASSERT_TRUE(v.is_object());
  ASSERT_EQ(v.members().size(), 2u);
  EXPECT_EQ(v.members()[0].key, "b");
  EXPECT_EQ(v.Find("a")->Find("c")->items().size(), 2u);
  EXPECT_EQ(v.Find("missing"), nullptr);
  EXPECT_EQ(v.Find("b")->Find("x"), nullptr);  // not an object
  EXPECT_EQ(v.Find("b")->string(), "");        // wrong type: neutral value
}

TEST(JsonParseTest, NestingUpToTheLimit) {
  const std::string ok = std::string(64, '[') + std::string(64, ']');
  EXPECT_TRUE(Parse(ok, nullptr).has_value());
  const std::string deep = std::string(65, '[') + std::string(65, ']');
  EXPECT_EQ(ParseError(deep), "nesting deeper than 64 levels at offset 64");
}

// ---------------------------------------------------------------------------------------------
// Parser: rejected input

TEST(JsonParseTest, MalformedInputHasMessageAndOffset) {
  EXPECT_EQ(ParseError(""), "expected a value but found end of input at offset 0");
  EXPECT_EQ(ParseError("[1,]"), "expected a value but found ']' at offset 3");
  EXPECT_EQ(ParseError("[1 2]"), "expected ',' or ']' but found '2' at offset 3");
  EXPECT_EQ(ParseError(R"({"a" 1})"), "expected ':' but found '1' at offset 5");
  EXPECT_EQ(ParseError("{1:2}"), "expected a string key but found '1' at offset 1");
  EXPECT_EQ(ParseError("[1]x"), "unexpected 'x' after the value at offset 3");
  EXPECT_EQ(ParseError("01"), "leading zero in number at offset 0");
  EXPECT_EQ(ParseError("\"ab"), "unterminated string at offset 0");
  EXPECT_EQ(ParseError("\x01"), "expected a value but found byte 0x01 at offset 0");
  EXPECT_EQ(ParseError(R"({"a":1,"a":2})"), "duplicate key \"a\" in the object at offset 0");
}

TEST(JsonParseTest, RejectsEverythingOutsideTheGrammar) {
  for (std::string_view bad : {" ",
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
                               "// c\n1",
                               "/* */1",
                               "1e999",
                               "[1]]",
                               "{}}",
                               "\"\\",
                               "\xef\xbb\xbf{}"}) {
    std::string error;
    EXPECT_FALSE(Parse(bad, &error).has_value()) << bad;
    EXPECT_NE(error.find(" at offset "), std::string::npos) << bad << ": " << error;
  }
}

TEST(JsonParseTest, DuplicateKeysInAWideObject) {
  std::string text = "{";
  for (int i = 0; i < 1000; ++i)
    text += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  text += "\"k500\":0}";
  EXPECT_EQ(ParseError(text), "duplicate key \"k500\" in the object at offset 0");
}

TEST(JsonParseTest, DepthBombsFailFast) {
  EXPECT_NE(ParseError(std::string(1'000'000, '[')).find("nesting deeper"), std::string::npos);
  std::string objects;
  for (int i = 0; i < 100'000; ++i) objects += "{\"a\":";
  EXPECT_NE(ParseError(objects).find("nesting deeper"), std::string::npos);
}

TEST(JsonParseTest, SizeAndDepthLimitsAreConfigurable) {
  ParseLimits limits;
  limits.max_bytes = 4;
  EXPECT_EQ(ParseError("12345", limits), "input of 5 bytes exceeds the limit of 4 at offset 0");
  EXPECT_TRUE(Parse("1234", nullptr, limits).has_value());
  limits.max_depth = 1;
  EXPECT_TRUE(Parse("[1]", nullptr, limits).has_value());
  EXPECT_FALSE(Parse("[[1]]", nullptr, limits).has_value());
}

// Garbage and mutated documents: never a crash (ASan/UBSan builds check the "never UB"), and
// whatever parses serializes to something that parses to the same text again.
TEST(JsonParseTest, SurvivesGarbageAndMutations) {
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
          case 0: text[pos] = static_cast<char>(rng()); break;
          case 1: text.erase(pos, 1 + rng() % 3); break;
          default: text.insert(pos, 1, alphabet[rng() % alphabet.size()]);
        }
        if (text.empty()) text = "x";
      }
    } else {
      const size_t n = rng() % 40;
      for (size_t j = 0; j < n; ++j) text.push_back(alphabet[rng() % alphabet.size()]);
    }
    std::string error;
    std::optional<Value> v = Parse(text, &error);
    if (!v) {
      ASSERT_FALSE(error.empty()) << text;
      continue;
    }
    const std::string once = Serialize(*v);
    std::optional<Value> again = Parse(once, &error);
    ASSERT_TRUE(again.has_value()) << once << ": " << error;
    ASSERT_EQ(Serialize(*again), once);
  }
}

// ---------------------------------------------------------------------------------------------
// Values built in code

TEST(JsonValueTest, BuildAndSerialize) {
  Value v;
  v.Set("list", Value());
  v.Set("n", Value::Uint(3));
  Value list;
  list.Push(Value::String("a"));
  list.Push(Value::Int(-1));
  list.Push(Value::Number(0.5));
  list.Push(Value::EmptyObject());
  v.Set("items", std::move(list));
  EXPECT_EQ(Serialize(v), R"({"list":null,"n":3,"items":["a",-1,0.5,{}]})");
}

TEST(JsonUtf8Test, SequenceLengths) {
  EXPECT_EQ(Utf8SequenceLength("a", 0), 1u);
  EXPECT_EQ(Utf8SequenceLength("é", 0), 2u);
  EXPECT_EQ(Utf8SequenceLength("€", 0), 3u);
  EXPECT_EQ(Utf8SequenceLength("😀", 0), 4u);
  EXPECT_EQ(Utf8SequenceLength("\xe0\x80\x80", 0), 0u);  // overlong
  EXPECT_EQ(Utf8SequenceLength("\xf0\x80\x80\x80", 0), 0u);
  EXPECT_EQ(Utf8SequenceLength("\xf5\x80\x80\x80", 0), 0u);
  EXPECT_EQ(Utf8SequenceLength("\xc2", 0), 0u);
}

}  // namespace
}  // namespace tracegap::json
