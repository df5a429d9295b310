// json::Value: building and reading parsed documents.

#include <limits>
#include <utility>

#include "json/json.h"

namespace tracegap::json {

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

}  // namespace tracegap::json
