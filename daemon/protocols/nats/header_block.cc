#include "protocols/nats/header_block.h"

#include <algorithm>

namespace tracegap::nats {
namespace {

constexpr std::string_view kCrlf = "\r\n";

constexpr bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// The version line without its "\r\n". `partial`: only its start was copied.
Error CheckVersionLine(std::string_view line, bool partial, uint16_t& status) {
  const std::size_t n = std::min(line.size(), kHeaderVersion.size());
  if (line.substr(0, n) != kHeaderVersion.substr(0, n)) return Error::kBadHeaderVersion;
  if (line.size() < kHeaderVersion.size()) return partial ? Error::kNone : Error::kBadHeaderVersion;
  std::string_view rest = line.substr(kHeaderVersion.size());
  if (rest.empty()) return Error::kNone;
  if (!IsOws(rest.front())) return Error::kBadHeaderVersion;  // e.g. "NATS/1.01"
  if (partial) return Error::kNone;
  rest = TrimOws(rest);
  if (rest.empty()) return Error::kNone;
  // A status is three digits, 100 to 999 (so 0 can mean none), then the end or a description.
  if (rest.size() < 3 || !IsDigit(rest[0]) || rest[0] == '0' || !IsDigit(rest[1]) ||
      !IsDigit(rest[2]) || (rest.size() > 3 && !IsOws(rest[3]))) {
    return Error::kBadHeaderVersion;
  }
  status = static_cast<uint16_t>((rest[0] - '0') * 100 + (rest[1] - '0') * 10 + (rest[2] - '0'));
  return Error::kNone;
}

// ADR-4 (after RFC 822): printable ASCII other than ':'.
bool IsNameByte(char c) { return c >= 33 && c <= 126 && c != ':'; }

}  // namespace

HeaderBlock ParseHeaderBlock(std::string_view bytes, bool whole, std::vector<HeaderField>& fields) {
  HeaderBlock out;
  std::size_t eol = bytes.find(kCrlf);
  if (eol == std::string_view::npos) {  // the version line is not whole
    std::string_view line = bytes;
    if (!whole && !line.empty() && line.back() == '\r') line.remove_suffix(1);  // cut in "\r\n"
    out.error = CheckVersionLine(line, !whole, out.status);
    if (out.error == Error::kNone) {
      out.error = whole ? Error::kBadHeaderEnd : Error::kTruncatedHeaders;
    }
    return out;
  }
  out.error = CheckVersionLine(bytes.substr(0, eol), false, out.status);
  if (out.error != Error::kNone) return out;
  std::size_t pos = eol + kCrlf.size();
  for (;;) {
    eol = bytes.find(kCrlf, pos);
    if (eol == std::string_view::npos) {  // the copy, or the block, ends inside a line
      out.error = whole ? Error::kBadHeaderEnd : Error::kTruncatedHeaders;
      return out;
    }
    const std::string_view line = bytes.substr(pos, eol - pos);
    pos = eol + kCrlf.size();
    if (line.empty()) break;  // the end of the block
    const std::size_t colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos ||
        !std::all_of(line.begin(), line.begin() + static_cast<std::ptrdiff_t>(colon), IsNameByte)) {
      out.error = Error::kBadHeaderLine;
      return out;
    }
    fields.push_back({line.substr(0, colon), TrimOws(line.substr(colon + 1))});
  }
  // The empty line must be the block's last bytes: anything after it, copied or not, is not a
  // header block any client would read the same way.
  if (!whole || pos != bytes.size()) out.error = Error::kBadHeaderEnd;
  return out;
}

}  // namespace tracegap::nats
