// The strict, bounded JSON parser (see json.h). Recursive descent: recursion depth is bounded by
// ParseLimits::max_depth, so the stack is too.

#include <algorithm>
#include <charconv>
#include <exception>
#include <string>
#include <system_error>
#include <utility>

#include "json/json.h"
#include "json/json_internal.h"

namespace tracegap::json {
namespace {

class Parser {
 public:
  Parser(std::string_view text, const ParseLimits& limits) : text_(text), limits_(limits) {}

  std::optional<Value> Document() {
    Value v;
    SkipWhitespace();
    if (!ParseValue(&v, 0)) return std::nullopt;
    SkipWhitespace();
    if (pos_ != text_.size()) {
      Fail("unexpected " + Describe(pos_) + " after the value");
      return std::nullopt;
    }
    return v;
  }

  const std::string& error() const { return error_; }

 private:
  bool Fail(std::string message) { return FailAt(std::move(message), pos_); }

  bool FailAt(std::string message, size_t offset) {
    error_ = std::move(message) + " at offset " + std::to_string(offset);
    return false;
  }

  // The byte at `offset`, for an error message; garbage is shown as hex, never raw.
  std::string Describe(size_t offset) const {
    if (offset >= text_.size()) return "end of input";
    const unsigned char c = static_cast<unsigned char>(text_[offset]);
    if (c > 0x20 && c < 0x7f) return std::string("'") + static_cast<char>(c) + "'";
    static constexpr char kHex[] = "0123456789abcdef";
    return std::string("byte 0x") + kHex[c >> 4] + kHex[c & 0xf];
  }

  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return text_[pos_]; }

  void SkipWhitespace() {
    while (!AtEnd() && (Peek() == ' ' || Peek() == '\t' || Peek() == '\n' || Peek() == '\r')) {
      ++pos_;
    }
  }

  bool ParseValue(Value* out, int depth) {
    if (AtEnd()) return Fail("expected a value but found end of input");
    switch (Peek()) {
      case '{': return ParseObject(out, depth + 1);
      case '[': return ParseArray(out, depth + 1);
      case '"': {
        std::string s;
        if (!ParseString(&s)) return false;
        *out = Value::String(std::move(s));
        return true;
      }
      case 't': return ParseLiteral("true", Value::Bool(true), out);
      case 'f': return ParseLiteral("false", Value::Bool(false), out);
      case 'n': return ParseLiteral("null", Value(), out);
      default:
        if (Peek() == '-' || (Peek() >= '0' && Peek() <= '9')) return ParseNumber(out);
        return Fail("expected a value but found " + Describe(pos_));
    }
  }

  bool ParseLiteral(std::string_view word, Value v, Value* out) {
    if (text_.substr(pos_, word.size()) != word) return Fail("invalid literal");
    pos_ += word.size();
    *out = std::move(v);
    return true;
  }

  bool EnterContainer(int depth) {
    if (depth > limits_.max_depth) {
      return Fail("nesting deeper than " + std::to_string(limits_.max_depth) + " levels");
    }
    ++pos_;  // the '[' or '{'
    SkipWhitespace();
    return true;
  }

  bool ParseArray(Value* out, int depth) {
    if (!EnterContainer(depth)) return false;
    Value array = Value::EmptyArray();
    if (!AtEnd() && Peek() == ']') {
      ++pos_;
      *out = std::move(array);
      return true;
    }
    while (true) {
      Value item;
      if (!ParseValue(&item, depth)) return false;
      array.Push(std::move(item));
      SkipWhitespace();
      if (AtEnd()) return Fail("expected ',' or ']' but found end of input");
      if (Peek() == ']') break;
      if (Peek() != ',') return Fail("expected ',' or ']' but found " + Describe(pos_));
      ++pos_;
      SkipWhitespace();
    }
    ++pos_;
    *out = std::move(array);
    return true;
  }

  bool ParseObject(Value* out, int depth) {
    const size_t start = pos_;
    if (!EnterContainer(depth)) return false;
    Value obj = Value::EmptyObject();
    if (!AtEnd() && Peek() == '}') {
      ++pos_;
      *out = std::move(obj);
      return true;
    }
    while (true) {
      if (AtEnd() || Peek() != '"')
        return Fail("expected a string key but found " + Describe(pos_));
      std::string key;
      if (!ParseString(&key)) return false;
      SkipWhitespace();
      if (AtEnd() || Peek() != ':') return Fail("expected ':' but found " + Describe(pos_));
      ++pos_;
      SkipWhitespace();
      Value v;
      if (!ParseValue(&v, depth)) return false;
      obj.Set(std::move(key), std::move(v));
      SkipWhitespace();
      if (AtEnd()) return Fail("expected ',' or '}' but found end of input");
      if (Peek() == '}') break;
      if (Peek() != ',') return Fail("expected ',' or '}' but found " + Describe(pos_));
      ++pos_;
      SkipWhitespace();
    }
    ++pos_;
    // Checked once the keys no longer move (views into short strings would dangle): sorting
    // keeps a wide object from costing quadratic time.
    std::vector<std::string_view> keys;
    keys.reserve(obj.members().size());
    for (const Member& m : obj.members()) keys.push_back(m.key);
    std::sort(keys.begin(), keys.end());
    if (auto dup = std::adjacent_find(keys.begin(), keys.end()); dup != keys.end()) {
      std::string quoted;
      AppendQuoted(&quoted, *dup);
      return FailAt("duplicate key " + quoted + " in the object", start);
    }
    *out = std::move(obj);
    return true;
  }

  bool ParseString(std::string* out) {
    std::string message;
    size_t offset = 0;
    if (internal::ScanString(text_, &pos_, out, &message, &offset)) return true;
    return FailAt(std::move(message), offset);
  }

  size_t SkipDigits() {
    const size_t start = pos_;
    while (!AtEnd() && Peek() >= '0' && Peek() <= '9') ++pos_;
    return pos_ - start;
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  bool ParseNumber(Value* out) {
    const size_t start = pos_;
    const bool negative = Peek() == '-';
    if (negative) ++pos_;
    const size_t int_start = pos_;
    const size_t int_digits = SkipDigits();
    if (int_digits == 0) return Fail("expected a digit");
    if (int_digits > 1 && text_[int_start] == '0') return FailAt("leading zero in number", start);
    bool integer = true;
    if (!AtEnd() && Peek() == '.') {
      ++pos_;
      integer = false;
      if (SkipDigits() == 0) return Fail("expected a digit after the decimal point");
    }
    if (!AtEnd() && (Peek() == 'e' || Peek() == 'E')) {
      ++pos_;
      integer = false;
      if (!AtEnd() && (Peek() == '+' || Peek() == '-')) ++pos_;
      if (SkipDigits() == 0) return Fail("expected a digit in the exponent");
    }
    const char* first = text_.data() + start;
    const char* last = text_.data() + pos_;
    if (integer) {
      // Exact when it fits; otherwise it is still a valid number, kept as a double.
      if (negative) {
        int64_t i = 0;
        // "-0" stays a double: as the integer 0 it would lose its sign, and a -0.0 written
        // back as "-0" would not read back as itself.
        if (auto r = std::from_chars(first, last, i);
            r.ec == std::errc() && r.ptr == last && i != 0) {
          *out = Value::Int(i);
          return true;
        }
      } else {
        uint64_t u;
        if (auto r = std::from_chars(first, last, u); r.ec == std::errc() && r.ptr == last) {
          *out = Value::Uint(u);
          return true;
        }
      }
    }
    double d;
    auto r = std::from_chars(first, last, d);
    if (r.ec != std::errc() || r.ptr != last) return FailAt("number out of range", start);
    *out = Value::Number(d);
    return true;
  }

  std::string_view text_;
  ParseLimits limits_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace

std::optional<Value> Parse(std::string_view text, std::string* error, const ParseLimits& limits) {
  std::string ignored;
  if (error == nullptr) error = &ignored;
  if (text.size() > limits.max_bytes) {
    *error = "input of " + std::to_string(text.size()) + " bytes exceeds the limit of " +
             std::to_string(limits.max_bytes) + " at offset 0";
    return std::nullopt;
  }
  try {
    Parser parser(text, limits);
    std::optional<Value> v = parser.Document();
    if (!v) *error = parser.error();
    return v;
  } catch (const std::exception& e) {  // bad_alloc, length_error: resource limits, not input
    *error = std::string("cannot parse ") + std::to_string(text.size()) + " bytes: " + e.what() +
             " at offset 0";
    return std::nullopt;
  }
}

}  // namespace tracegap::json
