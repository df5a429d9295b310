#pragma once
// A small JSON codec for the local query API: the daemon writes its answers with Writer, the
// tracegap CLI reads them with Parse(). No third-party library: the daemon's dependency surface
// stays small and the parser's limits are ours to set.
//
// Parse() takes untrusted bytes (it is fuzzed): it is strict RFC 8259 (no comments, trailing
// commas, NaN, duplicate keys or invalid UTF-8), bounded in input size and nesting depth, and
// total: every input yields a Value or an error message with a byte offset, never an exception
// or UB.
//
// Thread safety: none of the types here are shared; distinct objects may be used concurrently.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tracegap::json {

// ---------------------------------------------------------------------------------------------
// Values

struct Member;

class Value {
 public:
  enum class Type : uint8_t { kNull, kBool, kNumber, kString, kArray, kObject };
  using Array = std::vector<Value>;
  using Object = std::vector<Member>;  // in document order; keys are unique

  Value() = default;  // null
  static Value Bool(bool b);
  static Value Number(double d);
  static Value Uint(uint64_t u);
  static Value Int(int64_t i);
  static Value String(std::string s);
  static Value EmptyArray();
  static Value EmptyObject();

  Type type() const;
  bool is_null() const { return type() == Type::kNull; }
  bool is_bool() const { return type() == Type::kBool; }
  bool is_number() const { return type() == Type::kNumber; }
  bool is_string() const { return type() == Type::kString; }
  bool is_array() const { return type() == Type::kArray; }
  bool is_object() const { return type() == Type::kObject; }

  // Accessors return a neutral value (false, 0, "", empty) when the type does not match, so that
  // callers check the type once instead of guarding every access.
  bool bool_value() const;
  double number() const;
  // The number as an exact integer, if it is one: written without fraction or exponent (or made
  // by Uint()/Int()) and within the type's range.
  std::optional<uint64_t> as_uint() const;
  std::optional<int64_t> as_int() const;
  const std::string& string() const;
  const Array& items() const;
  const Object& members() const;

  // The value of `key` in an object; nullptr if absent or this is not an object.
  const Value* Find(std::string_view key) const;

  // Building. Push() turns a null into an array, Set() a null into an object; on any other type
  // they do nothing. Set() does not check for an existing key: building documents is the
  // caller's responsibility, only the parser sees untrusted keys.
  void Push(Value v);
  void Set(std::string key, Value v);

 private:
  // A number keeps its exact integer value when it has one: counters are uint64 and a double
  // loses them above 2^53.
  struct Num {
    double d = 0;
    enum class Exact : uint8_t { kNone, kUint, kInt } exact = Exact::kNone;
    uint64_t bits = 0;  // the integer (an int64 stored two's complement when kInt)
  };
  std::variant<std::monostate, bool, Num, std::string, Array, Object> v_;
};

struct Member {
  std::string key;
  Value value;
};

// ---------------------------------------------------------------------------------------------
// Writing

// Streams one JSON document into a string. Commas, colons and (when indenting) newlines are
// inserted automatically. Calls must form a well-formed document (a Key() before each value in
// an object, matched Begin/End); that is the caller's contract, checked by assert in debug
// builds, because every caller writes a fixed schema.
class Writer {
 public:
  // Appends to *out, which must outlive the writer. indent 0 writes compact JSON; otherwise
  // each member and element goes on its own line, indented by `indent` spaces per level.
  explicit Writer(std::string* out, int indent = 0);

  Writer& BeginObject();
  Writer& EndObject();
  Writer& BeginArray();
  Writer& EndArray();
  Writer& Key(std::string_view key);

  // Strings are arbitrary bytes: quotes, backslashes and control characters are escaped, and
  // each byte that is not part of valid UTF-8 becomes U+FFFD, so the output is always valid.
  Writer& String(std::string_view s);
  Writer& Uint(uint64_t v);
  Writer& Int(int64_t v);
  // Fixed notation with `decimals` (0..17) digits after the point, e.g. Double(0.25, 4) writes
  // 0.2500. JSON has no NaN or infinity: those are written as null.
  Writer& Double(double v, int decimals);
  // The shortest text that parses back to exactly `v` (null for NaN or infinity).
  Writer& Number(double v);
  Writer& Bool(bool v);
  Writer& Null();
  Writer& Write(const Value& v);  // a whole parsed or built value

  // True once one complete top-level value has been written.
  bool done() const { return stack_.empty() && wrote_top_; }

 private:
  struct Frame {
    bool object = false;
    bool has_items = false;
  };
  void BeforeValue();
  void Open(char c, bool object);
  void Close(char c, bool object);
  void NewlineIndent(size_t depth);

  std::string* out_;
  int indent_;
  std::vector<Frame> stack_;
  bool after_key_ = false;
  bool wrote_top_ = false;
};

// Appends `s` as a quoted, escaped JSON string (the same escaping as Writer::String).
void AppendQuoted(std::string* out, std::string_view s);

// The whole value as JSON text (see Writer for `indent`).
std::string Serialize(const Value& v, int indent = 0);

// ---------------------------------------------------------------------------------------------
// Parsing

struct ParseLimits {
  size_t max_bytes = 8u << 20;  // longer input is rejected before it is read
  int max_depth = 64;           // arrays and objects nested deeper are rejected
};

// Parses exactly one JSON value (surrounded by optional whitespace). On failure returns nullopt
// and, if `error` is not null, sets it to e.g. "expected ',' or ']' at offset 17". Never throws,
// even when memory runs out.
std::optional<Value> Parse(std::string_view text, std::string* error,
                           const ParseLimits& limits = {});

// The length of the well-formed UTF-8 sequence (RFC 3629: no overlongs, surrogates or values
// above U+10FFFF) that starts at s[pos], or 0 if none does. pos must be < s.size().
size_t Utf8SequenceLength(std::string_view s, size_t pos);

}  // namespace tracegap::json
