#include "capture/tls/system_libs.h"

#include <glob.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <utility>

namespace tracegap::tls {
namespace {

std::string Join(std::string_view root, std::string_view path) {
  std::string r(root);
  while (!r.empty() && r.back() == '/') r.pop_back();
  return r + std::string(path);
}

// Directories listed in an ld.so.conf file, following `include` lines (depth-bounded).
void ReadLdConf(std::string_view root, const std::string& file, int depth,
                std::vector<std::string>* dirs) {
  if (depth > 4) return;
  std::ifstream in(Join(root, file));
  std::string line;
  while (std::getline(in, line)) {
    if (const size_t hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    const size_t b = line.find_first_not_of(" \t");
    if (b == std::string::npos) continue;
    line = line.substr(b, line.find_last_not_of(" \t\r") - b + 1);
    if (line.starts_with("include")) {
      std::string pattern = line.substr(7);
      pattern = pattern.substr(pattern.find_first_not_of(" \t"));
      if (pattern.front() != '/') pattern = "/etc/" + pattern;
      glob_t g{};
      if (glob(Join(root, pattern).c_str(), 0, nullptr, &g) == 0) {
        const std::string prefix = Join(root, "");
        for (size_t i = 0; i < g.gl_pathc; ++i) {
          std::string found = g.gl_pathv[i];
          ReadLdConf(root, found.substr(prefix.size()), depth + 1, dirs);
        }
      }
      globfree(&g);
    } else if (line.front() == '/') {
      dirs->push_back(line);
    }
  }
}

}  // namespace

std::vector<std::pair<std::string, LibraryKind>> FindSystemLibssl(std::string_view root) {
  std::vector<std::string> dirs;
  for (const char* base : {"/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib"}) {
    dirs.emplace_back(base);
    for (const char* arch : {"x86_64-linux-gnu", "aarch64-linux-gnu"})
      dirs.push_back(std::string(base) + "/" + arch);
  }
  ReadLdConf(root, "/etc/ld.so.conf", 0, &dirs);
  std::vector<std::pair<std::string, LibraryKind>> out;
  std::set<std::pair<dev_t, ino_t>> seen;
  for (const std::string& dir : dirs) {
    for (const char* name : {"libssl.so.3", "libssl.so.1.1"}) {
      const std::string path = Join(root, dir + "/" + name);
      struct stat st {};
      if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      if (!seen.insert({st.st_dev, st.st_ino}).second) continue;
      char* real = realpath(path.c_str(), nullptr);
      out.emplace_back(real != nullptr ? std::string(real) : path, *LibsslKind(name));
      std::free(real);
    }
  }
  return out;
}

}  // namespace tracegap::tls
