// Tests Diagnose (daemon/capture/tls/reason.h): why a process's TLS is not seen.
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
#include "capture/tls/maps.h"
#include "capture/tls/reason.h"
#include "support/tls_files.h"

namespace tracegap::tls {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;
using namespace tracegap::test;  // NOLINT: ScratchDir, ReadAll, WriteAll, kSystemLibssl

// ---------------------------------------------------------------------------------------------
// Diagnose

TEST(TlsReasonTest, Order) {
  ProcessMaps maps;
  maps.first_file = MappedFile{"/srv/app", 1, 8, 1};
  ElfTls go;
  go.go = true;
  go.go_crypto_tls = true;
  go.boringssl = true;  // Go wins over what it may also carry (BoringCrypto builds)
  EXPECT_EQ(Diagnose(maps, go).reason, Unseen::kGo);
  EXPECT_NE(Diagnose(maps, go).detail.find("/srv/app"), std::string::npos);
  ElfTls boring;
  boring.boringssl = true;
  boring.openssl_api = true;  // BoringSSL defines OpenSSL's API too
  boring.rustls = true;
  EXPECT_EQ(Diagnose(maps, boring).reason, Unseen::kBoringSsl);
  ElfTls statically;
  statically.openssl_api = true;
  statically.rustls = true;
  EXPECT_EQ(Diagnose(maps, statically).reason, Unseen::kStaticOpenSsl);
  EXPECT_NE(Diagnose(maps, statically).detail.find("SSL_write"), std::string::npos);
  ElfTls rust;
  rust.rustls = true;
  EXPECT_EQ(Diagnose(maps, rust).reason, Unseen::kRustls);
  EXPECT_EQ(Diagnose(maps, ElfTls{}).reason, Unseen::kNoKnownLibrary);
  const auto unreadable = Diagnose(maps, std::string("open /proc/1/exe: Permission denied"));
  EXPECT_EQ(unreadable.reason, Unseen::kUnreadable);
  EXPECT_NE(unreadable.detail.find("Permission denied"), std::string::npos);
  maps.maps_libjvm = true;  // a JVM wins over what its launcher links
  EXPECT_EQ(Diagnose(maps, statically).reason, Unseen::kJava);
  EXPECT_EQ(Diagnose(maps, go).reason, Unseen::kJava);
  // ... but not over an executable that cannot be read.
  EXPECT_EQ(Diagnose(maps, std::string("x")).reason, Unseen::kUnreadable);
}

TEST(TlsReasonTest, WithoutAFileMapping) {
  ElfTls statically;
  statically.openssl_api = true;
  const Diagnosis d = Diagnose(ProcessMaps{}, statically);
  EXPECT_EQ(d.reason, Unseen::kStaticOpenSsl);
  EXPECT_FALSE(d.detail.empty());
}

TEST(TlsReasonTest, Labels) {
  EXPECT_EQ(Label(Unseen::kGo), "go");
  EXPECT_EQ(Label(Unseen::kStaticOpenSsl), "static_openssl");
  EXPECT_EQ(Label(Unseen::kBoringSsl), "boringssl");
  EXPECT_EQ(Label(Unseen::kJava), "java");
  EXPECT_EQ(Label(Unseen::kRustls), "rustls");
  EXPECT_EQ(Label(Unseen::kNoKnownLibrary), "no_known_library");
  EXPECT_EQ(Label(Unseen::kUnreadable), "unreadable");
  std::set<std::string_view> labels;
  for (Unseen u : kAllUnseen) {
    EXPECT_FALSE(Label(u).empty());
    EXPECT_TRUE(labels.insert(Label(u)).second) << Label(u);
  }
}

}  // namespace
}  // namespace tracegap::tls
