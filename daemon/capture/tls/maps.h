#pragma once
// Which TLS libraries a process maps, from the text of /proc/PID/maps. A pure parser over text
// (fuzzed: tests/fuzz/fuzz_proc_maps.cc).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tracegap::tls {

// libssl.so.3, libssl.so.1.1; and a Go binary's own crypto/tls (capture/tls/go_probes.h).
enum class LibraryKind : uint8_t { kOpenSsl3, kOpenSsl11, kGoCryptoTls };
std::string_view Label(LibraryKind k);  // "openssl-3", "openssl-1.1", "go-crypto-tls"

struct MappedFile {
  std::string path;  // as the process sees it (its mount namespace)
  uint64_t inode = 0;
  uint32_t dev_major = 0, dev_minor = 0;
};

struct ProcessMaps {
  // The distinct libssl files mapped (by device and inode), in order of first mapping.
  std::vector<std::pair<MappedFile, LibraryKind>> libssl;
  bool maps_libjvm = false;  // a JVM: JSSE does TLS in Java code
  // The first file-backed mapping (the executable, normally), " (deleted)" suffix included.
  std::optional<MappedFile> first_file;
};

// Parses /proc/PID/maps text; malformed lines are skipped, never trusted.
ProcessMaps ParseMaps(std::string_view text);

// The kind of a libssl by its file name (exactly libssl.so.3 or libssl.so.1.1), else nullopt.
std::optional<LibraryKind> LibsslKind(std::string_view basename);

}  // namespace tracegap::tls
