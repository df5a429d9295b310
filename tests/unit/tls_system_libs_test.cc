// Tests FindSystemLibssl (daemon/capture/tls/system_libs.h): the linker directories' libssl
// files, ld.so.conf and its includes, this machine's ELF class only.
#include <elf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "capture/tls/elf_tls.h"
#include "capture/tls/system_libs.h"
#include "support/tls_files.h"

namespace tracegap::tls {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;
using namespace tracegap::test;  // NOLINT: ScratchDir, ReadAll, WriteAll, kSystemLibssl

// ---------------------------------------------------------------------------------------------
// FindSystemLibssl

// The first 64 bytes of this test's own executable: an ELF header of this machine.
std::string NativeElfHeader() {
  std::string h(64, '\0');
  std::ifstream("/proc/self/exe", std::ios::binary).read(h.data(), 64);
  return h;
}

// The same header, for the 32-bit flavour of this machine (a biarch library).
std::string Elf32Header() {
  std::string h = NativeElfHeader();
  h[EI_CLASS] = ELFCLASS32;
  return h;
}

TEST(TlsSystemLibsTest, LinkerDirectoriesAndIncludes) {
  ScratchDir dir;
  const fs::path& root = dir.path();
  fs::create_directories(root / "usr/lib/x86_64-linux-gnu");
  fs::create_directories(root / "opt/ssl/lib");
  fs::create_directories(root / "etc/ld.so.conf.d");
  WriteAll(root / "usr/lib/x86_64-linux-gnu/libssl.so.3", NativeElfHeader());
  // The same file under a second name is one library.
  fs::create_directory_symlink(root / "usr/lib/x86_64-linux-gnu", root / "usr/lib64");
  WriteAll(root / "opt/ssl/lib/libssl.so.1.1", NativeElfHeader());
  WriteAll(root / "etc/ld.so.conf", "# comment\ninclude /etc/ld.so.conf.d/*.conf\n");
  WriteAll(root / "etc/ld.so.conf.d/ssl.conf", "  /opt/ssl/lib  \n");
  const auto libs = FindSystemLibssl(root.string());
  ASSERT_EQ(libs.size(), 2u);
  EXPECT_EQ(libs[0].first, fs::canonical(root / "usr/lib/x86_64-linux-gnu/libssl.so.3").string());
  EXPECT_EQ(libs[0].second, LibraryKind::kOpenSsl3);
  EXPECT_EQ(libs[1].first, fs::canonical(root / "opt/ssl/lib/libssl.so.1.1").string());
  EXPECT_EQ(libs[1].second, LibraryKind::kOpenSsl11);
}

// ldconfig's rules: relative include patterns from the including file's directory, several
// patterns on a line, trailing slashes, comments; loops and empty includes are harmless.
TEST(TlsSystemLibsTest, LdConfRules) {
  ScratchDir dir;
  const fs::path& root = dir.path();
  for (const char* d : {"etc/ld.so.conf.d", "etc/more", "opt/a", "opt/b", "opt/c/lib", "opt/real",
                        "usr/lib32", "usr/local/lib", "usr/lib/libssl.so.3"})
    fs::create_directories(root / d);
  WriteAll(root / "etc/ld.so.conf",
           "include ld.so.conf.d/*.conf\t# relative: from /etc\n"
           "include\n"
           "include   \n"
           "includes /opt/nothing\n"
           "hwcap 0 nosegneg\n");
  WriteAll(root / "etc/ld.so.conf.d/a.conf", "/opt/a/ # trailing slash\n");
  WriteAll(root / "etc/ld.so.conf.d/b.conf",
           "include /etc/more/one.conf ../ld.so.conf /etc/none/*.conf\n/opt/b\n");
  WriteAll(root / "etc/more/one.conf", "/opt/c/lib\r\n/usr/lib32\ninclude /etc/ld.so.conf\n");
  WriteAll(root / "opt/a/libssl.so.3", NativeElfHeader());
  WriteAll(root / "opt/b/libssl.so.1.1", NativeElfHeader());
  // A relative symlink to the real file: named by its real path.
  WriteAll(root / "opt/real/libssl.so.3", NativeElfHeader());
  fs::create_symlink("../../real/libssl.so.3", root / "opt/c/lib/libssl.so.3");
  // Not libraries to attach: 32-bit, not ELF, a directory.
  WriteAll(root / "usr/lib32/libssl.so.3", Elf32Header());
  WriteAll(root / "usr/local/lib/libssl.so.3", "INPUT(-lssl)\n");
  const auto libs = FindSystemLibssl(root.string());
  std::set<std::pair<std::string, LibraryKind>> got(libs.begin(), libs.end());
  EXPECT_EQ(got.size(), libs.size());  // none twice
  const std::set<std::pair<std::string, LibraryKind>> want = {
      {(root / "opt/a/libssl.so.3").string(), LibraryKind::kOpenSsl3},
      {(root / "opt/b/libssl.so.1.1").string(), LibraryKind::kOpenSsl11},
      {(root / "opt/real/libssl.so.3").string(), LibraryKind::kOpenSsl3},
  };
  EXPECT_EQ(got, want);
}

TEST(TlsSystemLibsTest, NothingUnderAnEmptyRoot) {
  ScratchDir dir;
  EXPECT_TRUE(FindSystemLibssl(dir.path().string()).empty());
  EXPECT_TRUE(FindSystemLibssl((dir.path() / "missing").string()).empty());
}

// On this host: the system's libssl.so.3 once, though /lib and /usr/lib both lead to it on a
// merged-/usr system, and every file found defines the OpenSSL API.
TEST(TlsSystemLibsTest, ThisHost) {
  if (access(kSystemLibssl, R_OK) != 0) GTEST_SKIP() << kSystemLibssl << " is not installed";
  const auto libs = FindSystemLibssl();
  const std::string real = fs::canonical(kSystemLibssl).string();
  EXPECT_EQ(std::count_if(libs.begin(), libs.end(), [&](const auto& l) { return l.first == real; }),
            1);
  for (const auto& [path, kind] : libs) {
    const auto r = InspectElf(path);
    ASSERT_TRUE(std::holds_alternative<ElfTls>(r)) << std::get<std::string>(r);
    EXPECT_TRUE(std::get<ElfTls>(r).openssl_api) << path;
  }
}

}  // namespace
}  // namespace tracegap::tls
