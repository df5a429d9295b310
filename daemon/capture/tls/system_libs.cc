#include "capture/tls/system_libs.h"

#include <elf.h>
#include <glob.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <utility>

namespace tracegap::tls {
namespace {

// Configuration files read at most (ld.so.conf and what its `include` lines name): bounded work
// whatever the files say, loops included.
constexpr size_t kMaxConfFiles = 256;

#if defined(__x86_64__)
constexpr uint16_t kNativeMachine = EM_X86_64;
#elif defined(__aarch64__)
constexpr uint16_t kNativeMachine = EM_AARCH64;
#else
constexpr uint16_t kNativeMachine = EM_NONE;  // not checked: class and byte order only
#endif

std::string Join(std::string_view root, std::string_view path) {
  std::string r(root);
  while (!r.empty() && r.back() == '/') r.pop_back();
  return r + std::string(path);
}

// `s` with glob(3)'s special characters escaped: the root is a directory, not a pattern.
std::string GlobEscape(std::string_view s) {
  std::string out;
  for (const char c : s) {
    if (std::strchr("*?[]\\", c) != nullptr) out += '\\';
    out += c;
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

// Whether the file at `path` is an ELF object of this machine (class, byte order, e_machine).
// The uprobes read arguments as this architecture passes them: a biarch or foreign library
// (/usr/lib32 and /usr/lib/i386-linux-gnu are in ld.so.conf.d on multiarch hosts) is not one
// to attach to.
bool IsNativeElf(const std::string& path) {
  // e_ident, e_type and e_machine: the same 20 bytes in 32- and 64-bit headers.
  unsigned char h[EI_NIDENT + 4];
  std::ifstream in(path, std::ios::binary);
  if (!in.read(reinterpret_cast<char*>(h), sizeof h)) return false;
  if (std::memcmp(h, ELFMAG, SELFMAG) != 0) return false;
  if (h[EI_CLASS] != (sizeof(void*) == 8 ? ELFCLASS64 : ELFCLASS32)) return false;
  const bool little = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;
  if (h[EI_DATA] != (little ? ELFDATA2LSB : ELFDATA2MSB)) return false;
  uint16_t machine = 0;
  std::memcpy(&machine, h + EI_NIDENT + 2, sizeof machine);  // in the host's byte order
  return kNativeMachine == EM_NONE || machine == kNativeMachine;
}

// The directories an ld.so.conf file lists, following its `include` lines as ldconfig does
// (several patterns on a line, globs, relative ones from the including file's directory).
// `read`: the files read so far (device, inode), each read once whatever names lead to it.
void ReadLdConf(std::string_view root, const std::string& file,
                std::set<std::pair<dev_t, ino_t>>* read, std::vector<std::string>* dirs) {
  struct stat st {};
  const std::string path = Join(root, file);
  if (read->size() >= kMaxConfFiles || stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
      !read->insert({st.st_dev, st.st_ino}).second)
    return;
  std::ifstream in(path);
  std::string raw;
  while (std::getline(in, raw)) {
    std::string_view line = raw;
    line = Trim(line.substr(0, line.find('#')));
    if (line.empty()) continue;
    if (line.starts_with("include") && line.size() > 7 && (line[7] == ' ' || line[7] == '\t')) {
      std::string_view patterns = line.substr(8);
      while (!(patterns = Trim(patterns)).empty()) {
        const size_t end = std::min(patterns.find_first_of(" \t"), patterns.size());
        std::string pattern(patterns.substr(0, end));
        patterns.remove_prefix(end);
        if (pattern.front() != '/') pattern = file.substr(0, file.rfind('/') + 1) + pattern;
        const std::string prefix = Join(root, "");
        glob_t g{};
        if (glob((GlobEscape(prefix) + pattern).c_str(), 0, nullptr, &g) == 0) {
          for (size_t i = 0; i < g.gl_pathc; ++i) {
            const std::string_view found = g.gl_pathv[i];
            if (found.starts_with(prefix))
              ReadLdConf(root, std::string(found.substr(prefix.size())), read, dirs);
          }
        }
        globfree(&g);
      }
    } else if (line.front() == '/') {
      while (line.size() > 1 && line.back() == '/') line.remove_suffix(1);
      dirs->emplace_back(line);
    }
  }
}

}  // namespace

bool IsNativeLibrary(const std::string& path) { return IsNativeElf(path); }

std::vector<std::pair<std::string, LibraryKind>> FindSystemLibssl(std::string_view root) {
  std::vector<std::string> dirs;
  for (const char* base : {"/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib"}) {
    dirs.emplace_back(base);
    for (const char* arch : {"x86_64-linux-gnu", "aarch64-linux-gnu"})
      dirs.push_back(std::string(base) + "/" + arch);
  }
  std::set<std::pair<dev_t, ino_t>> read;
  ReadLdConf(root, "/etc/ld.so.conf", &read, &dirs);
  std::vector<std::pair<std::string, LibraryKind>> out;
  // One per file: /lib is /usr/lib on a merged-/usr system, and a directory may be listed twice.
  std::set<std::pair<dev_t, ino_t>> seen;
  for (const std::string& dir : dirs) {
    for (const char* name : {"libssl.so.3", "libssl.so.1.1"}) {
      const std::string path = Join(root, (dir == "/" ? "" : dir) + "/" + name);
      struct stat st {};
      if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      if (!seen.insert({st.st_dev, st.st_ino}).second || !IsNativeElf(path)) continue;
      char* real = realpath(path.c_str(), nullptr);
      out.emplace_back(real != nullptr ? std::string(real) : path, *LibsslKind(name));
      std::free(real);
    }
  }
  return out;
}

}  // namespace tracegap::tls
