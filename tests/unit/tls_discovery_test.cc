// Finding TLS libraries: /proc/PID/maps parsing, ELF inspection, the reason a process's TLS is
// not seen, and the system's libssl files (daemon/capture/tls).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "capture/tls/elf_tls.h"
#include "capture/tls/maps.h"
#include "capture/tls/reason.h"
#include "capture/tls/system_libs.h"

namespace tracegap::tls {
namespace {

namespace fs = std::filesystem;
constexpr const char* kSystemLibssl = "/usr/lib/x86_64-linux-gnu/libssl.so.3";

TEST(TlsMapsTest, FindsLibsslOncePerFile) {
  const ProcessMaps m = ParseMaps(
      "55d0c8a00000-55d0c8a20000 r--p 00000000 08:01 1311 /usr/sbin/nginx\n"
      "7f10c0000000-7f10c0021000 rw-p 00000000 00:00 0 \n"
      "7f10c1000000-7f10c1020000 r--p 00000000 08:01 4242 /usr/lib/x86_64-linux-gnu/libssl.so.3\n"
      "7f10c1020000-7f10c1090000 r-xp 00020000 08:01 4242 /usr/lib/x86_64-linux-gnu/libssl.so.3\n"
      "7f10c2000000-7f10c2010000 r-xp 00000000 fd:02 99 /opt/app dir/lib/libssl.so.1.1\n"
      "7f10c3000000-7f10c3010000 r-xp 00000000 08:01 77 /usr/lib/libssl.so.3 (deleted)\n"
      "7f10c4000000-7f10c4010000 r-xp 00000000 08:01 78 /usr/lib/libssl.so.3.0.1\n"
      "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]\n");
  ASSERT_EQ(m.libssl.size(), 2u);
  EXPECT_EQ(m.libssl[0].first.path, "/usr/lib/x86_64-linux-gnu/libssl.so.3");
  EXPECT_EQ(m.libssl[0].first.inode, 4242u);
  EXPECT_EQ(m.libssl[0].first.dev_major, 8u);
  EXPECT_EQ(m.libssl[0].second, LibraryKind::kOpenSsl3);
  EXPECT_EQ(m.libssl[1].first.path, "/opt/app dir/lib/libssl.so.1.1");  // spaces kept
  EXPECT_EQ(m.libssl[1].first.dev_major, 0xfdu);
  EXPECT_EQ(m.libssl[1].second, LibraryKind::kOpenSsl11);
  ASSERT_TRUE(m.first_file.has_value());
  EXPECT_EQ(m.first_file->path, "/usr/sbin/nginx");
  EXPECT_FALSE(m.maps_libjvm);
}

TEST(TlsMapsTest, JvmAndGarbage) {
  const ProcessMaps m = ParseMaps(
      "garbage\n\n"
      "1-2 r-xp\n"
      "1-2 r-xp 0 zz:01 5 /x/libssl.so.3\n"
      "1-2 r-xp 0 08:01 -5 /x/libssl.so.3\n"
      "1-2 r-xp 0 08:01 5 relative/libssl.so.3\n"
      "7f-80 r-xp 00000000 08:01 12 /usr/lib/jvm/java-17/lib/server/libjvm.so\n");
  EXPECT_TRUE(m.libssl.empty());
  EXPECT_TRUE(m.maps_libjvm);
}

TEST(TlsMapsTest, Labels) {
  EXPECT_EQ(Label(LibraryKind::kOpenSsl3), "openssl-3");
  EXPECT_EQ(Label(LibraryKind::kOpenSsl11), "openssl-1.1");
  EXPECT_FALSE(LibsslKind("libssl.so").has_value());
  EXPECT_FALSE(LibsslKind("libssl.so.3.1").has_value());
}

TEST(TlsElfTest, SystemLibsslDefinesTheApi) {
  if (access(kSystemLibssl, R_OK) != 0) GTEST_SKIP() << kSystemLibssl << " is not installed";
  const auto r = InspectElf(kSystemLibssl);
  ASSERT_TRUE(std::holds_alternative<ElfTls>(r)) << std::get<std::string>(r);
  const ElfTls& t = std::get<ElfTls>(r);
  EXPECT_TRUE(t.openssl_api);
  EXPECT_TRUE(t.openssl_ex);
  EXPECT_FALSE(t.go);
  EXPECT_FALSE(t.boringssl);
}

TEST(TlsElfTest, AProgramThatImportsNothingOfTls) {
  const auto r = InspectElf("/bin/ls");
  ASSERT_TRUE(std::holds_alternative<ElfTls>(r));
  const ElfTls& t = std::get<ElfTls>(r);
  EXPECT_FALSE(t.openssl_api);
  EXPECT_FALSE(t.go);
  EXPECT_FALSE(t.rustls);
}

TEST(TlsElfTest, BadFilesAreErrorsNotCrashes) {
  const fs::path dir = fs::temp_directory_path() / ("tg-elf-" + std::to_string(getpid()));
  fs::create_directories(dir);
  { std::ofstream(dir / "text") << "not an ELF file at all\n"; }
  auto r = InspectElf((dir / "text").string());
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_NE(std::get<std::string>(r).find("not an ELF file"), std::string::npos);
  r = InspectElf((dir / "missing").string());
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_NE(std::get<std::string>(r).find("No such file"), std::string::npos);
  if (access(kSystemLibssl, R_OK) == 0) {
    // Truncated at several points: an error or a partial answer, never a crash.
    std::ifstream in(kSystemLibssl, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    for (size_t cut : {size_t{16}, size_t{64}, size_t{4096}, bytes.size() / 2}) {
      std::ofstream(dir / "cut", std::ios::binary).write(bytes.data(), static_cast<long>(cut));
      (void)InspectElf((dir / "cut").string());
    }
  }
  fs::remove_all(dir);
}

TEST(TlsReasonTest, Order) {
  ProcessMaps maps;
  maps.first_file = MappedFile{"/srv/app", 1, 8, 1};
  ElfTls go;
  go.go = true;
  go.go_crypto_tls = true;
  EXPECT_EQ(Diagnose(maps, go).reason, Unseen::kGo);
  EXPECT_NE(Diagnose(maps, go).detail.find("/srv/app"), std::string::npos);
  ElfTls boring;
  boring.boringssl = true;
  boring.openssl_api = true;
  EXPECT_EQ(Diagnose(maps, boring).reason, Unseen::kBoringSsl);
  ElfTls statically;
  statically.openssl_api = true;
  EXPECT_EQ(Diagnose(maps, statically).reason, Unseen::kStaticOpenSsl);
  ElfTls rust;
  rust.rustls = true;
  EXPECT_EQ(Diagnose(maps, rust).reason, Unseen::kRustls);
  EXPECT_EQ(Diagnose(maps, ElfTls{}).reason, Unseen::kNoKnownLibrary);
  const auto unreadable = Diagnose(maps, std::string("open /proc/1/exe: Permission denied"));
  EXPECT_EQ(unreadable.reason, Unseen::kUnreadable);
  EXPECT_NE(unreadable.detail.find("Permission denied"), std::string::npos);
  maps.maps_libjvm = true;  // a JVM wins over what its launcher links
  EXPECT_EQ(Diagnose(maps, statically).reason, Unseen::kJava);
  for (Unseen u : kAllUnseen) EXPECT_FALSE(Label(u).empty());
}

TEST(TlsSystemLibsTest, LinkerDirectoriesAndIncludes) {
  const fs::path root = fs::temp_directory_path() / ("tg-root-" + std::to_string(getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "usr/lib/x86_64-linux-gnu");
  fs::create_directories(root / "opt/ssl/lib");
  fs::create_directories(root / "etc/ld.so.conf.d");
  std::ofstream(root / "usr/lib/x86_64-linux-gnu/libssl.so.3") << "x";
  // The same file under a second name is one library.
  fs::create_directory_symlink(root / "usr/lib/x86_64-linux-gnu", root / "usr/lib64");
  std::ofstream(root / "opt/ssl/lib/libssl.so.1.1") << "y";
  std::ofstream(root / "etc/ld.so.conf") << "# comment\ninclude /etc/ld.so.conf.d/*.conf\n";
  std::ofstream(root / "etc/ld.so.conf.d/ssl.conf") << "  /opt/ssl/lib  \n";
  const auto libs = FindSystemLibssl(root.string());
  ASSERT_EQ(libs.size(), 2u);
  EXPECT_EQ(libs[0].first, fs::canonical(root / "usr/lib/x86_64-linux-gnu/libssl.so.3").string());
  EXPECT_EQ(libs[0].second, LibraryKind::kOpenSsl3);
  EXPECT_EQ(libs[1].first, fs::canonical(root / "opt/ssl/lib/libssl.so.1.1").string());
  EXPECT_EQ(libs[1].second, LibraryKind::kOpenSsl11);
  fs::remove_all(root);
}

}  // namespace
}  // namespace tracegap::tls
