// Tests ParseMaps and LibsslKind (daemon/capture/tls/maps.h): which TLS libraries a process maps.
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

#include "capture/tls/maps.h"
#include "support/tls_files.h"

namespace tracegap::tls {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;
using namespace tracegap::test;  // NOLINT: ScratchDir, ReadAll, WriteAll, kSystemLibssl

// ---------------------------------------------------------------------------------------------
// ParseMaps, LibsslKind

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
  EXPECT_EQ(m.libssl[1].first.dev_minor, 2u);
  EXPECT_EQ(m.libssl[1].second, LibraryKind::kOpenSsl11);
  ASSERT_TRUE(m.first_file.has_value());
  EXPECT_EQ(m.first_file->path, "/usr/sbin/nginx");
  EXPECT_EQ(m.first_file->inode, 1311u);
  EXPECT_FALSE(m.maps_libjvm);
}

// As the kernel pads them: the path starts at column 73 on a 64-bit host, after spaces.
TEST(TlsMapsTest, RealLayout) {
  const ProcessMaps m = ParseMaps(
      "5583a5a00000-5583a5a28000 r--p 00000000 103:02 1835106                   "
      "/usr/bin/python3.11\n"
      "5583a7b3c000-5583a7c5d000 rw-p 00000000 00:00 0                          [heap]\n"
      "7f4c3d200000-7f4c3d21b000 r--p 00000000 103:02 1840022                   "
      "/usr/lib/x86_64-linux-gnu/libssl.so.3\n"
      "7f4c3d21b000-7f4c3d277000 r-xp 0001b000 103:02 1840022                   "
      "/usr/lib/x86_64-linux-gnu/libssl.so.3\n"
      "7f4c3d2a0000-7f4c3d2a2000 rw-p 00000000 00:00 0 \n"
      "7ffe1b5f1000-7ffe1b5f5000 r--p 00000000 00:00 0                          [vvar]\n"
      "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]");
  ASSERT_EQ(m.libssl.size(), 1u);
  EXPECT_EQ(m.libssl[0].first.path, "/usr/lib/x86_64-linux-gnu/libssl.so.3");
  EXPECT_EQ(m.libssl[0].first.dev_major, 0x103u);
  EXPECT_EQ(m.libssl[0].first.dev_minor, 2u);
  EXPECT_EQ(m.libssl[0].first.inode, 1840022u);
  ASSERT_TRUE(m.first_file.has_value());
  EXPECT_EQ(m.first_file->path, "/usr/bin/python3.11");
}

// The same name on another device or inode is another file (a container's copy); the same
// device and inode under another name (a bind mount) is the same file.
TEST(TlsMapsTest, DistinctByDeviceAndInode) {
  const ProcessMaps m = ParseMaps(
      "1000-2000 r-xp 00000000 08:01 10 /usr/lib/libssl.so.3\n"
      "2000-3000 r-xp 00000000 08:02 10 /usr/lib/libssl.so.3\n"
      "3000-4000 r-xp 00000000 08:01 11 /usr/lib/libssl.so.3\n"
      "4000-5000 r-xp 00000000 08:01 10 /mnt/bind/libssl.so.3\n"
      "5000-6000 r-xp 00000000 08:01 12 /usr/lib/libssl.so.1.1\n"
      "6000-7000 r--p 00001000 08:01 12 /usr/lib/libssl.so.1.1\n");
  ASSERT_EQ(m.libssl.size(), 4u);
  EXPECT_EQ(m.libssl[0].first.dev_minor, 1u);
  EXPECT_EQ(m.libssl[1].first.dev_minor, 2u);
  EXPECT_EQ(m.libssl[2].first.inode, 11u);
  EXPECT_EQ(m.libssl[3].second, LibraryKind::kOpenSsl11);
}

// An executable replaced by an upgrade while it runs is still the process's executable (read
// through /proc/PID/exe); a deleted libssl cannot be probed; a deleted libjvm is still a JVM.
TEST(TlsMapsTest, DeletedFiles) {
  const ProcessMaps m = ParseMaps(
      "1000-2000 r-xp 00000000 08:01 5 /usr/bin/envoy (deleted)\n"
      "2000-3000 r-xp 00000000 08:01 6 /usr/lib/x86_64-linux-gnu/libssl.so.3 (deleted)\n"
      "3000-4000 r-xp 00000000 08:01 7 /usr/lib/jvm/lib/server/libjvm.so (deleted)\n");
  ASSERT_TRUE(m.first_file.has_value());
  EXPECT_EQ(m.first_file->path, "/usr/bin/envoy (deleted)");
  EXPECT_TRUE(m.libssl.empty());
  EXPECT_TRUE(m.maps_libjvm);
}

// Anonymous and pseudo mappings (inode 0) are not files; the first file may come later.
TEST(TlsMapsTest, FirstFileSkipsAnonymousMappings) {
  const ProcessMaps m = ParseMaps(
      "1000-2000 rw-p 00000000 00:00 0 \n"
      "2000-3000 rw-p 00000000 00:00 0    [heap]\n"
      "3000-4000 r-xp 00000000 00:05 0    /dev/zero\n"
      "4000-5000 r-xp 00000000 08:01 99   /srv/bin/app server\n");
  ASSERT_TRUE(m.first_file.has_value());
  EXPECT_EQ(m.first_file->path, "/srv/bin/app server");
  EXPECT_FALSE(ParseMaps("").first_file.has_value());
  EXPECT_FALSE(ParseMaps("1000-2000 rw-p 00000000 00:00 0    [heap]\n").first_file.has_value());
}

TEST(TlsMapsTest, JvmAndGarbage) {
  const ProcessMaps m = ParseMaps(
      "garbage\n\n"
      "1-2 r-xp\n"
      "1-2 r-xp 0 zz:01 5 /x/libssl.so.3\n"
      "1-2 r-xp 0 08:01 -5 /x/libssl.so.3\n"
      "1-2 r-xp 0 08:01 5 relative/libssl.so.3\n"
      "1-2 r-xp 0 0801 5 /x/libssl.so.3\n"
      "1-2 r-xp 0 08:01 5x /x/libssl.so.3\n"
      "12 r-xp 0 08:01 5 /x/libssl.so.3\n"
      "1-2 r-x 0 08:01 5 /x/libssl.so.3\n"
      "1-2 r-xp 0 08:01 99999999999999999999999 /x/libssl.so.3\n"
      "1-2 r-xp 0 08:01 5\n"
      "1-2 r-xp 0 08:01 5 \n"
      "\xff\xfe\0 r-xp\n"  // a NUL byte: the text goes on after it
      "7f-80 r-xp 00000000 08:01 12 /usr/lib/jvm/java-17/lib/server/libjvm.so\n"s);
  EXPECT_TRUE(m.libssl.empty());
  EXPECT_TRUE(m.maps_libjvm);
  ASSERT_TRUE(m.first_file.has_value());
  EXPECT_EQ(m.first_file->path, "/usr/lib/jvm/java-17/lib/server/libjvm.so");
}

TEST(TlsMapsTest, Labels) {
  EXPECT_EQ(Label(LibraryKind::kOpenSsl3), "openssl-3");
  EXPECT_EQ(Label(LibraryKind::kOpenSsl11), "openssl-1.1");
  EXPECT_EQ(LibsslKind("libssl.so.3"), LibraryKind::kOpenSsl3);
  EXPECT_EQ(LibsslKind("libssl.so.1.1"), LibraryKind::kOpenSsl11);
  for (const char* other : {"libssl.so", "libssl.so.3.1", "libssl.so.1.0.2", "libssl.so.1",
                            "libssl3.so", "libssl.so.3 (deleted)", "/usr/lib/libssl.so.3", ""}) {
    EXPECT_FALSE(LibsslKind(other).has_value()) << other;
  }
}

}  // namespace
}  // namespace tracegap::tls
