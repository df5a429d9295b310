#include "cli/document.h"

#include <cmath>
#include <exception>
#include <unordered_set>
#include <vector>

namespace tracegap::cli {
namespace {

// A first pass over the bytes that builds nothing: it enforces what nlohmann's DOM parser does
// not (depth, duplicate keys, finite numbers) before the second pass allocates the document.
class Checker final : public nlohmann::json_sax<Document> {
 public:
  explicit Checker(int max_depth) : max_depth_(max_depth) {}
  const std::string& error() const { return error_; }

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t v, const string_t& text) override {
    return std::isfinite(v) || Fail("number " + text.substr(0, 32) + " is out of range");
  }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return Fail("binary value"); }  // JSON text has none
  bool start_object(std::size_t) override { return Open(); }
  bool key(string_t& k) override {
    if (keys_.back().insert(k).second) return true;
    return Fail("duplicate key \"" + k.substr(0, 64) + "\" in an object");
  }
  bool end_object() override { return Close(); }
  bool start_array(std::size_t) override { return Open(); }
  bool end_array() override { return Close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    // what() is "[json.exception.parse_error.101] parse error at line 1, column 18: ..."
    std::string_view what = e.what();
    if (const size_t tag = what.find("] "); what.starts_with("[json.") && tag != what.npos) {
      what.remove_prefix(tag + 2);
    }
    return Fail(std::string(what));
  }

 private:
  bool Open() {
    if (static_cast<int>(keys_.size()) >= max_depth_) {
      return Fail("nesting deeper than " + std::to_string(max_depth_) + " levels");
    }
    keys_.emplace_back();  // arrays get an unused set: the top of the stack is the innermost
    return true;
  }
  bool Close() {
    keys_.pop_back();
    return true;
  }
  bool Fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
    return false;
  }

  const int max_depth_;
  std::vector<std::unordered_set<std::string>> keys_;
  std::string error_;
};

}  // namespace

std::optional<Document> ParseDocument(std::string_view text, std::string* error, int max_depth) {
  std::string ignored;
  if (error == nullptr) error = &ignored;
  try {
    Checker checker(max_depth);
    if (!Document::sax_parse(text.begin(), text.end(), &checker)) {
      *error = checker.error().empty() ? "invalid JSON" : checker.error();
      return std::nullopt;
    }
    Document doc = Document::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) {  // the checker accepted it, so this cannot happen; be total anyway
      *error = "invalid JSON";
      return std::nullopt;
    }
    return doc;
  } catch (const std::exception& e) {  // only allocation failures are left to throw
    *error = std::string("cannot parse the document: ") + e.what();
    return std::nullopt;
  }
}

std::string PrintDocument(const Document& doc, int indent) {
  // Parsed strings are valid UTF-8; `replace` keeps a built document with bad bytes printable.
  return doc.dump(indent, ' ', false, Document::error_handler_t::replace);
}

}  // namespace tracegap::cli
