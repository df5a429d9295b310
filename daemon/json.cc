// Value and Writer; the parser is in json_parse.cc.

#include "json.h"

#include <cassert>
#include <charconv>
#include <cmath>
#include <limits>
#include <utility>

namespace tracegap::json {

// ---------------------------------------------------------------------------------------------
// Value

Value Value::Bool(bool b) {
  Value v;
  v.v_ = b;
  return v;
}

Value Value::Number(double d) {
  Value v;
  v.v_ = Num{d, Num::Exact::kNone, 0};
  return v;
}

Value Value::Uint(uint64_t u) {
  Value v;
  v.v_ = Num{static_cast<double>(u), Num::Exact::kUint, u};
  return v;
}

Value Value::Int(int64_t i) {
  if (i >= 0) return Uint(static_cast<uint64_t>(i));
  Value v;
  v.v_ = Num{static_cast<double>(i), Num::Exact::kInt, static_cast<uint64_t>(i)};
  return v;
}

Value Value::String(std::string s) {
  Value v;
  v.v_ = std::move(s);
  return v;
}

Value Value::EmptyArray() {
  Value v;
  v.v_ = Array{};
  return v;
}

Value Value::EmptyObject() {
  Value v;
  v.v_ = Object{};
  return v;
}

Value::Type Value::type() const { return static_cast<Type>(v_.index()); }

bool Value::bool_value() const {
  const bool* b = std::get_if<bool>(&v_);
  return b != nullptr && *b;
}

double Value::number() const {
  const Num* n = std::get_if<Num>(&v_);
  return n ? n->d : 0;
}

std::optional<uint64_t> Value::as_uint() const {
  const Num* n = std::get_if<Num>(&v_);
  if (n == nullptr || n->exact != Num::Exact::kUint) return std::nullopt;
  return n->bits;
}

std::optional<int64_t> Value::as_int() const {
  const Num* n = std::get_if<Num>(&v_);
  if (n == nullptr) return std::nullopt;
  if (n->exact == Num::Exact::kInt) return static_cast<int64_t>(n->bits);
  if (n->exact == Num::Exact::kUint && n->bits <= std::numeric_limits<int64_t>::max()) {
    return static_cast<int64_t>(n->bits);
  }
  return std::nullopt;
}

const std::string& Value::string() const {
  static const std::string kEmpty;
  const std::string* s = std::get_if<std::string>(&v_);
  return s ? *s : kEmpty;
}

const Value::Array& Value::items() const {
  static const Array kEmpty;
  const Array* a = std::get_if<Array>(&v_);
  return a ? *a : kEmpty;
}

const Value::Object& Value::members() const {
  static const Object kEmpty;
  const Object* o = std::get_if<Object>(&v_);
  return o ? *o : kEmpty;
}

const Value* Value::Find(std::string_view key) const {
  for (const Member& m : members()) {
    if (m.key == key) return &m.value;
  }
  return nullptr;
}

void Value::Push(Value v) {
  if (is_null()) v_ = Array{};
  if (Array* a = std::get_if<Array>(&v_)) a->push_back(std::move(v));
}

void Value::Set(std::string key, Value v) {
  if (is_null()) v_ = Object{};
  if (Object* o = std::get_if<Object>(&v_)) o->push_back(Member{std::move(key), std::move(v)});
}

// ---------------------------------------------------------------------------------------------
// Strings

size_t Utf8SequenceLength(std::string_view s, size_t pos) {
  auto at = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = at(pos);
  if (c < 0x80) return 1;
  size_t len = 0;
  unsigned char lo = 0x80, hi = 0xbf;  // the range of the second byte
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    if (c == 0xe0) lo = 0xa0;  // overlong
    if (c == 0xed) hi = 0x9f;  // UTF-16 surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    if (c == 0xf0) lo = 0x90;  // overlong
    if (c == 0xf4) hi = 0x8f;  // above U+10FFFF
  } else {
    return 0;  // a continuation byte, an overlong lead (c0, c1) or f5..ff
  }
  if (s.size() - pos < len) return 0;
  if (at(pos + 1) < lo || at(pos + 1) > hi) return 0;
  for (size_t i = 2; i < len; ++i) {
    if (at(pos + i) < 0x80 || at(pos + i) > 0xbf) return 0;
  }
  return len;
}

void AppendQuoted(std::string* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->reserve(out->size() + s.size() + 2);
  out->push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t len = Utf8SequenceLength(s, i);
      if (len == 0) {
        out->append("\\ufffd");  // one replacement per invalid byte
        ++i;
      } else {
        out->append(s.substr(i, len));
        i += len;
      }
      continue;
    }
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20 || c == 0x7f) {  // DEL too: the text may end up on a terminal
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xf]);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out->push_back('"');
}

// ---------------------------------------------------------------------------------------------
// Writer

Writer::Writer(std::string* out, int indent) : out_(out), indent_(indent < 0 ? 0 : indent) {}

void Writer::NewlineIndent(size_t depth) {
  if (indent_ == 0) return;
  out_->push_back('\n');
  out_->append(depth * static_cast<size_t>(indent_), ' ');
}

void Writer::BeforeValue() {
  if (stack_.empty()) {
    assert(!wrote_top_ && "a JSON document holds one top-level value");
    wrote_top_ = true;
    return;
  }
  Frame& f = stack_.back();
  if (f.object) {
    assert(after_key_ && "a value in an object needs a Key() first");
    after_key_ = false;
    return;
  }
  if (f.has_items) out_->push_back(',');
  f.has_items = true;
  NewlineIndent(stack_.size());
}

Writer& Writer::Key(std::string_view key) {
  assert(!stack_.empty() && stack_.back().object && !after_key_);
  Frame& f = stack_.back();
  if (f.has_items) out_->push_back(',');
  f.has_items = true;
  NewlineIndent(stack_.size());
  AppendQuoted(out_, key);
  out_->push_back(':');
  if (indent_ > 0) out_->push_back(' ');
  after_key_ = true;
  return *this;
}

void Writer::Open(char c, bool object) {
  BeforeValue();
  out_->push_back(c);
  stack_.push_back(Frame{object, false});
}

void Writer::Close(char c, bool object) {
  assert(!stack_.empty() && stack_.back().object == object && !after_key_);
  (void)object;
  const bool had_items = stack_.back().has_items;
  stack_.pop_back();
  if (had_items) NewlineIndent(stack_.size());
  out_->push_back(c);
}

Writer& Writer::BeginObject() {
  Open('{', true);
  return *this;
}

Writer& Writer::EndObject() {
  Close('}', true);
  return *this;
}

Writer& Writer::BeginArray() {
  Open('[', false);
  return *this;
}

Writer& Writer::EndArray() {
  Close(']', false);
  return *this;
}

Writer& Writer::String(std::string_view s) {
  BeforeValue();
  AppendQuoted(out_, s);
  return *this;
}

Writer& Writer::Uint(uint64_t v) {
  BeforeValue();
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out_->append(buf, end);
  return *this;
}

Writer& Writer::Int(int64_t v) {
  BeforeValue();
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out_->append(buf, end);
  return *this;
}

// std::to_chars, unlike printf, ignores the locale: a decimal comma would break the document.
Writer& Writer::Double(double v, int decimals) {
  if (!std::isfinite(v)) return Null();
  BeforeValue();
  decimals = decimals < 0 ? 0 : (decimals > 17 ? 17 : decimals);
  char buf[400];  // fixed notation of DBL_MAX is 309 digits, plus sign, point and decimals
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed, decimals);
  out_->append(buf, ec == std::errc() ? end : buf);
  return *this;
}

Writer& Writer::Number(double v) {
  if (!std::isfinite(v)) return Null();
  BeforeValue();
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out_->append(buf, ec == std::errc() ? end : buf);
  return *this;
}

Writer& Writer::Bool(bool v) {
  BeforeValue();
  out_->append(v ? "true" : "false");
  return *this;
}

Writer& Writer::Null() {
  BeforeValue();
  out_->append("null");
  return *this;
}

Writer& Writer::Write(const Value& v) {
  switch (v.type()) {
    case Value::Type::kNull: return Null();
    case Value::Type::kBool: return Bool(v.bool_value());
    case Value::Type::kNumber:
      if (auto u = v.as_uint()) return Uint(*u);
      if (auto i = v.as_int()) return Int(*i);
      return Number(v.number());
    case Value::Type::kString: return String(v.string());
    case Value::Type::kArray:
      BeginArray();
      for (const Value& item : v.items()) Write(item);
      return EndArray();
    case Value::Type::kObject:
      BeginObject();
      for (const Member& m : v.members()) Key(m.key).Write(m.value);
      return EndObject();
  }
  return *this;
}

std::string Serialize(const Value& v, int indent) {
  std::string out;
  Writer(&out, indent).Write(v);
  return out;
}

}  // namespace tracegap::json
