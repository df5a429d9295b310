// Tests FindGoTlsProbes (daemon/capture/tls/go_probes.h) on files that are not Go programs; the
// end-to-end tier probes real Go programs (tests/e2e/test_tls.py).
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

#include "capture/tls/go_probes.h"
#include "support/tls_files.h"

namespace tracegap::tls {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;
using namespace tracegap::test;  // NOLINT: ScratchDir, ReadAll, WriteAll, kSystemLibssl

TEST(TlsGoProbesTest, NotAGoProgramIsAnErrorWithItsCause) {
  auto r = FindGoTlsProbes("/nonexistent/tg-go");
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_NE(std::get<std::string>(r).find("No such file"), std::string::npos);
  // /bin/ls: stripped, or without Go's symbols: either way, said.
  r = FindGoTlsProbes("/bin/ls");
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  const std::string& why = std::get<std::string>(r);
  EXPECT_TRUE(why.find("stripped") != std::string::npos ||
              why.find("crypto/tls.(*Conn).Write") != std::string::npos)
      << why;
  // This test binary has a .symtab (RelWithDebInfo) but no Go.
  r = FindGoTlsProbes("/proc/self/exe");
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
}

}  // namespace
}  // namespace tracegap::tls
