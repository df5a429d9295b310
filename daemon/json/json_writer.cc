// json::Writer and Serialize().

#include <cassert>
#include <charconv>
#include <cmath>

#include "json/json.h"

namespace tracegap::json {

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
