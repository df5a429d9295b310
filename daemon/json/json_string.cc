// JSON string coding: UTF-8 validation, escaping (writer) and unescaping (parser).

#include <cstdint>

#include "json/json.h"
#include "json/json_internal.h"

namespace tracegap::json {

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

namespace internal {
namespace {

class StringScanner {
 public:
  StringScanner(std::string_view text, size_t pos, std::string* out)
      : text_(text), pos_(pos), out_(out) {}

  bool Scan() {
    const size_t start = pos_;
    ++pos_;  // the opening quote
    while (true) {
      if (pos_ >= text_.size()) return Fail("unterminated string", start);
      const unsigned char c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20) return Fail("unescaped control character in string", pos_);
      if (c >= 0x80) {
        const size_t len = Utf8SequenceLength(text_, pos_);
        if (len == 0) return Fail("invalid UTF-8 in string", pos_);
        out_->append(text_.substr(pos_, len));
        pos_ += len;
        continue;
      }
      ++pos_;
      if (c != '\\') {
        out_->push_back(static_cast<char>(c));
      } else if (!Escape(start)) {
        return false;
      }
    }
  }

  size_t pos() const { return pos_; }
  const std::string& error() const { return error_; }
  size_t error_offset() const { return error_offset_; }

 private:
  bool Fail(const char* message, size_t offset) {
    error_ = message;
    error_offset_ = offset;
    return false;
  }

  // After a backslash.
  bool Escape(size_t string_start) {
    if (pos_ >= text_.size()) return Fail("unterminated string", string_start);
    const char e = text_[pos_++];
    switch (e) {
      case '"': out_->push_back('"'); return true;
      case '\\': out_->push_back('\\'); return true;
      case '/': out_->push_back('/'); return true;
      case 'b': out_->push_back('\b'); return true;
      case 'f': out_->push_back('\f'); return true;
      case 'n': out_->push_back('\n'); return true;
      case 'r': out_->push_back('\r'); return true;
      case 't': out_->push_back('\t'); return true;
      case 'u': return UnicodeEscape();
    }
    return Fail("invalid escape sequence", pos_ - 2);
  }

  bool Hex4(uint32_t* out) {
    if (text_.size() - pos_ < 4) return Fail("truncated \\u escape", pos_);
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) {
      const char c = text_[pos_ + i];
      uint32_t d = 0;
      if (c >= '0' && c <= '9') {
        d = static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        d = static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        d = static_cast<uint32_t>(c - 'A' + 10);
      } else {
        return Fail("invalid hex digit in \\u escape", pos_ + i);
      }
      v = v << 4 | d;
    }
    pos_ += 4;
    *out = v;
    return true;
  }

  // After backslash-u: one code point, or a surrogate pair written as two escapes.
  bool UnicodeEscape() {
    const size_t start = pos_ - 2;
    uint32_t cp = 0;
    if (!Hex4(&cp)) return false;
    if (cp >= 0xdc00 && cp <= 0xdfff) return Fail("unpaired low surrogate", start);
    if (cp >= 0xd800 && cp <= 0xdbff) {
      uint32_t low = 0;
      if (text_.substr(pos_, 2) != "\\u") return Fail("unpaired high surrogate", start);
      pos_ += 2;
      if (!Hex4(&low)) return false;
      if (low < 0xdc00 || low > 0xdfff) return Fail("unpaired high surrogate", start);
      cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
    }
    AppendUtf8(cp);
    return true;
  }

  void AppendUtf8(uint32_t cp) {
    auto put = [this](uint32_t byte) { out_->push_back(static_cast<char>(byte)); };
    if (cp < 0x80) {
      put(cp);
    } else if (cp < 0x800) {
      put(0xc0 | cp >> 6);
      put(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      put(0xe0 | cp >> 12);
      put(0x80 | (cp >> 6 & 0x3f));
      put(0x80 | (cp & 0x3f));
    } else {
      put(0xf0 | cp >> 18);
      put(0x80 | (cp >> 12 & 0x3f));
      put(0x80 | (cp >> 6 & 0x3f));
      put(0x80 | (cp & 0x3f));
    }
  }

  std::string_view text_;
  size_t pos_;
  std::string* out_;
  std::string error_;
  size_t error_offset_ = 0;
};

}  // namespace

bool ScanString(std::string_view text, size_t* pos, std::string* out, std::string* error,
                size_t* error_offset) {
  StringScanner scanner(text, *pos, out);
  if (!scanner.Scan()) {
    *error = scanner.error();
    *error_offset = scanner.error_offset();
    return false;
  }
  *pos = scanner.pos();
  return true;
}

}  // namespace internal
}  // namespace tracegap::json
