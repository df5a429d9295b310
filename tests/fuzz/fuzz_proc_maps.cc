// Fuzzes the /proc/PID/maps parser (daemon/capture/tls/maps.h): any text a process's maps could
// hold, or that a hostile process could make its paths say.
//
// Checks: every libssl found names an absolute path whose file name is exactly libssl.so.3 or
// libssl.so.1.1 with the kind that name says, no file (device, inode) twice, no inode 0, and the
// first file-backed mapping is absolute too.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "capture/tls/maps.h"

namespace {
void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_proc_maps: %s\n", what);
    std::abort();
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tracegap::tls;
  const ProcessMaps m = ParseMaps(std::string_view(reinterpret_cast<const char*>(data), size));
  for (size_t i = 0; i < m.libssl.size(); ++i) {
    const auto& [file, kind] = m.libssl[i];
    Check(!file.path.empty() && file.path.front() == '/', "libssl path not absolute");
    Check(file.inode != 0, "libssl with inode 0");
    const std::string_view base = std::string_view(file.path).substr(file.path.rfind('/') + 1);
    const auto named = LibsslKind(base);
    Check(named.has_value() && *named == kind, "libssl kind disagrees with its name");
    for (size_t j = 0; j < i; ++j) {
      const MappedFile& other = m.libssl[j].first;
      Check(!(other.inode == file.inode && other.dev_major == file.dev_major &&
              other.dev_minor == file.dev_minor),
            "the same file listed twice");
    }
  }
  if (m.first_file) Check(m.first_file->path.front() == '/', "first file not absolute");
  return 0;
}
