#include "capture/tls/maps.h"

#include <charconv>

namespace tracegap::tls {
namespace {

// The next space-separated field of `line` (leading spaces skipped); empty at the end.
std::string_view NextField(std::string_view& line) {
  const size_t start = line.find_first_not_of(' ');
  if (start == std::string_view::npos) {
    line = {};
    return {};
  }
  line.remove_prefix(start);
  const size_t end = line.find(' ');
  std::string_view field = line.substr(0, end);
  line.remove_prefix(end == std::string_view::npos ? line.size() : end);
  return field;
}

template <class T>
bool ParseNumber(std::string_view s, T* out, int base) {
  if (s.empty()) return false;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out, base);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

std::string_view Label(LibraryKind k) {
  switch (k) {
    case LibraryKind::kOpenSsl3:
      return "openssl-3";
    case LibraryKind::kOpenSsl11:
      return "openssl-1.1";
    case LibraryKind::kGoCryptoTls:
      return "go-crypto-tls";
  }
  return "openssl";
}

std::optional<LibraryKind> LibsslKind(std::string_view basename) {
  if (basename == "libssl.so.3") return LibraryKind::kOpenSsl3;
  if (basename == "libssl.so.1.1") return LibraryKind::kOpenSsl11;
  return std::nullopt;
}

ProcessMaps ParseMaps(std::string_view text) {
  ProcessMaps out;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    // address perms offset dev inode path
    std::string_view range = NextField(line), perms = NextField(line), offset = NextField(line),
                     dev = NextField(line), inode_text = NextField(line);
    if (range.find('-') == std::string_view::npos || perms.size() != 4 || offset.empty()) continue;
    const size_t colon = dev.find(':');
    MappedFile file;
    if (colon == std::string_view::npos ||
        !ParseNumber(dev.substr(0, colon), &file.dev_major, 16) ||
        !ParseNumber(dev.substr(colon + 1), &file.dev_minor, 16) ||
        !ParseNumber(inode_text, &file.inode, 10))
      continue;
    // The path is the rest of the line after the padding (it may contain spaces).
    const size_t p = line.find_first_not_of(' ');
    if (p == std::string_view::npos || file.inode == 0) continue;
    std::string_view path = line.substr(p);
    if (path.empty() || path.front() != '/') continue;
    file.path = std::string(path);
    // The executable even when deleted (replaced by an upgrade while it runs): it is still read
    // through /proc/PID/exe, and " (deleted)" stays in its name as evidence.
    if (!out.first_file) out.first_file = file;
    constexpr std::string_view kDeleted = " (deleted)";
    const bool deleted = path.ends_with(kDeleted);
    const std::string_view name = deleted ? path.substr(0, path.size() - kDeleted.size()) : path;
    const std::string_view base = name.substr(name.rfind('/') + 1);
    // A JVM whose libjvm.so was replaced while it runs is still a JVM.
    if (base.starts_with("libjvm.so")) out.maps_libjvm = true;
    // A deleted libssl cannot be probed (its path names another file, or none).
    if (deleted) continue;
    if (const auto kind = LibsslKind(base)) {
      bool known = false;
      for (const auto& [f, k] : out.libssl) {
        known |=
            f.inode == file.inode && f.dev_major == file.dev_major && f.dev_minor == file.dev_minor;
      }
      if (!known) out.libssl.emplace_back(std::move(file), *kind);
    }
  }
  return out;
}

}  // namespace tracegap::tls
