#include "options.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

#include "log.h"
#include "version.h"

namespace tracegap {
namespace {

ParsedOptions Parse(std::initializer_list<std::string> args) {
  std::vector<std::string> storage = {"tracegapd"};
  storage.insert(storage.end(), args);
  std::vector<const char*> argv;
  for (const std::string& a : storage) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  return ParseOptions(static_cast<int>(storage.size()), argv.data());
}

// Checks the contract for a rejected command line: exit code 2, no options, and exactly one line
// of output that names `option`.
void ExpectUsageError(const ParsedOptions& r, const std::string& option) {
  EXPECT_FALSE(r.options.has_value());
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_NE(r.output.find(option), std::string::npos)
      << "'" << r.output << "' does not name " << option;
  ASSERT_FALSE(r.output.empty());
  EXPECT_EQ(r.output.back(), '\n');
  EXPECT_EQ(r.output.find('\n'), r.output.size() - 1) << "not one line: '" << r.output << "'";
  EXPECT_EQ(r.output.rfind("tracegapd: ", 0), 0u) << r.output;
}

TEST(OptionsTest, Defaults) {
  const ParsedOptions r = Parse({});
  ASSERT_TRUE(r.options.has_value()) << r.output;
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, "");
  const Options& o = *r.options;
  EXPECT_EQ(o.config_path, "");
  EXPECT_EQ(o.listen, "127.0.0.1:9477");
  EXPECT_EQ(o.max_header_bytes, 4096u);
  EXPECT_EQ(o.ring_buffer_bytes, 8u << 20);
  EXPECT_EQ(o.max_connections, 65536u);
  EXPECT_EQ(o.poll_interval_ms, 100u);
  EXPECT_EQ(o.log_level, LogLevel::kInfo);
}

TEST(OptionsTest, EachOptionIsParsed) {
  const ParsedOptions r = Parse({"--listen", "0.0.0.0:9100", "--max-header-bytes", "8192",
                                 "--ring-buffer-bytes", "65536", "--max-connections", "16",
                                 "--poll-interval-ms", "1000", "--log-level", "debug"});
  ASSERT_TRUE(r.options.has_value()) << r.output;
  EXPECT_EQ(r.exit_code, 0);
  const Options& o = *r.options;
  EXPECT_EQ(o.listen, "0.0.0.0:9100");
  EXPECT_EQ(o.max_header_bytes, 8192u);
  EXPECT_EQ(o.ring_buffer_bytes, 65536u);
  EXPECT_EQ(o.max_connections, 16u);
  EXPECT_EQ(o.poll_interval_ms, 1000u);
  EXPECT_EQ(o.log_level, LogLevel::kDebug);
}

TEST(OptionsTest, EqualsFormAndUpperBounds) {
  const ParsedOptions r =
      Parse({"--listen=[::1]:9477", "--max-header-bytes=64", "--ring-buffer-bytes=1073741824",
             "--max-connections=4194304", "--poll-interval-ms=1", "--log-level=error"});
  ASSERT_TRUE(r.options.has_value()) << r.output;
  const Options& o = *r.options;
  EXPECT_EQ(o.listen, "[::1]:9477");
  EXPECT_EQ(o.max_header_bytes, 64u);
  EXPECT_EQ(o.ring_buffer_bytes, 1u << 30);
  EXPECT_EQ(o.max_connections, 4194304u);
  EXPECT_EQ(o.poll_interval_ms, 1u);
  EXPECT_EQ(o.log_level, LogLevel::kError);
}

TEST(OptionsTest, KernelReads) {
  EXPECT_EQ(Parse({}).options->kernel_reads, "auto");
  EXPECT_EQ(Parse({"--kernel-reads", "probe-read"}).options->kernel_reads, "probe-read");
  ExpectUsageError(Parse({"--kernel-reads", "direct"}), "--kernel-reads");
  ExpectUsageError(Parse({"--kernel-reads", ""}), "--kernel-reads");
}

TEST(OptionsTest, CaptureHooks) {
  EXPECT_EQ(Parse({}).options->capture, "auto");
  EXPECT_EQ(Parse({"--capture", "socket"}).options->capture, "socket");
  EXPECT_EQ(Parse({"--capture=syscall"}).options->capture, "syscall");
  ExpectUsageError(Parse({"--capture", "kprobe"}),
                   "--capture: 'kprobe' is not auto, socket or syscall");
  ExpectUsageError(Parse({"--capture", ""}), "--capture");
  EXPECT_EQ(Parse({}).options->tls, "auto");
  EXPECT_EQ(Parse({"--tls", "off"}).options->tls, "off");
  ExpectUsageError(Parse({"--tls", "on"}), "--tls: 'on' is not auto or off");
}

TEST(OptionsTest, LogLevels) {
  EXPECT_EQ(Parse({"--log-level", "info"}).options->log_level, LogLevel::kInfo);
  EXPECT_EQ(Parse({"--log-level", "warning"}).options->log_level, LogLevel::kWarning);
}

TEST(OptionsTest, Help) {
  for (const char* flag : {"--help", "-h"}) {
    const ParsedOptions r = Parse({flag});
    EXPECT_FALSE(r.options.has_value()) << flag;
    EXPECT_EQ(r.exit_code, 0) << flag;
    EXPECT_NE(r.output.find("Usage: tracegapd"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("--max-header-bytes"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("--config"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("Exit codes:"), std::string::npos) << r.output;
  }
}

TEST(OptionsTest, HelpWinsOverOtherValidOptions) {
  const ParsedOptions r = Parse({"--max-connections", "20", "--help"});
  EXPECT_FALSE(r.options.has_value());
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("Usage:"), std::string::npos);
}

TEST(OptionsTest, Version) {
  const ParsedOptions r = Parse({"--version"});
  EXPECT_FALSE(r.options.has_value());
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, std::string("tracegapd ") + kVersion + "\n");
  EXPECT_NE(std::string(kVersion), "");
}

TEST(OptionsTest, UnknownOption) {
  ExpectUsageError(Parse({"--bogus"}), "--bogus");
  ExpectUsageError(Parse({"--listen", "127.0.0.1:1", "--max-header"}), "--max-header");
}

TEST(OptionsTest, MissingValue) { ExpectUsageError(Parse({"--listen"}), "--listen"); }

TEST(OptionsTest, NonNumericValue) {
  ExpectUsageError(Parse({"--max-header-bytes", "abc"}), "--max-header-bytes");
  ExpectUsageError(Parse({"--ring-buffer-bytes", "1M"}), "--ring-buffer-bytes");
  ExpectUsageError(Parse({"--max-connections", "12.5"}), "--max-connections");
  ExpectUsageError(Parse({"--poll-interval-ms", ""}), "--poll-interval-ms");
}

TEST(OptionsTest, ValueTooLargeForItsType) {
  ExpectUsageError(Parse({"--max-connections", "99999999999"}), "--max-connections");
  ExpectUsageError(Parse({"--ring-buffer-bytes", "99999999999999999999999"}),
                   "--ring-buffer-bytes");
}

TEST(OptionsTest, MaxHeaderBytesOutOfRange) {
  ExpectUsageError(Parse({"--max-header-bytes", "63"}), "--max-header-bytes");
  ExpectUsageError(Parse({"--max-header-bytes", "8193"}), "--max-header-bytes");
  ExpectUsageError(Parse({"--max-header-bytes", "0"}), "--max-header-bytes");
}

TEST(OptionsTest, RingBufferBytesOutOfRange) {
  ExpectUsageError(Parse({"--ring-buffer-bytes", "32768"}), "--ring-buffer-bytes");
  ExpectUsageError(Parse({"--ring-buffer-bytes", "65537"}), "--ring-buffer-bytes");
  ExpectUsageError(Parse({"--ring-buffer-bytes", "100000"}), "--ring-buffer-bytes");
  ExpectUsageError(Parse({"--ring-buffer-bytes", "2147483648"}), "--ring-buffer-bytes");
  ExpectUsageError(Parse({"--ring-buffer-bytes", "0"}), "--ring-buffer-bytes");
}

TEST(OptionsTest, MaxConnectionsOutOfRange) {
  ExpectUsageError(Parse({"--max-connections", "15"}), "--max-connections");
  ExpectUsageError(Parse({"--max-connections", "4194305"}), "--max-connections");
}

TEST(OptionsTest, PollIntervalOutOfRange) {
  ExpectUsageError(Parse({"--poll-interval-ms", "0"}), "--poll-interval-ms");
  ExpectUsageError(Parse({"--poll-interval-ms", "1001"}), "--poll-interval-ms");
}

TEST(OptionsTest, ListenWithoutPort) {
  ExpectUsageError(Parse({"--listen", "localhost"}), "--listen");
}

TEST(OptionsTest, NegativeNumbersAreRejected) {
  ExpectUsageError(Parse({"--max-header-bytes=-1"}), "--max-header-bytes");
  ExpectUsageError(Parse({"--max-connections=-1"}), "--max-connections");
  ExpectUsageError(Parse({"--poll-interval-ms=-100"}), "--poll-interval-ms");
  // Would wrap to 16 (a valid value) if a minus sign were accepted for an unsigned option.
  ExpectUsageError(Parse({"--max-connections=-4294967280"}), "--max-connections");
}

TEST(OptionsTest, BadLogLevel) {
  ExpectUsageError(Parse({"--log-level", "verbose"}), "--log-level");
  ExpectUsageError(Parse({"--log-level", "INFO"}), "--log-level");
  ExpectUsageError(Parse({"--log-level", ""}), "--log-level");
}

// ---------------------------------------------------------------------------------------------
// --config

class OptionsConfigTest : public testing::Test {
 protected:
  void TearDown() override {
    for (const std::string& path : files_) unlink(path.c_str());
  }

  // Writes `text` to a new temporary file and returns its path.
  std::string WriteConfig(const std::string& text) {
    std::string path = testing::TempDir() + "tracegapd_conf_XXXXXX";
    const int fd = mkstemp(path.data());
    EXPECT_GE(fd, 0);
    if (fd >= 0) close(fd);
    files_.push_back(path);
    std::ofstream out(path, std::ios::trunc);
    out << text;
    EXPECT_TRUE(out.good());
    return path;
  }

  std::vector<std::string> files_;
};

TEST_F(OptionsConfigTest, ReadsNameValueLines) {
  const std::string path = WriteConfig(
      "# tracegapd.conf\n"
      "listen = 0.0.0.0:9999\n"
      "max-header-bytes = 1024\n"
      "ring-buffer-bytes = 131072\n"
      "max-connections = 1000\n"
      "poll-interval-ms = 50\n"
      "log-level = warning\n");
  const ParsedOptions r = Parse({"--config", path});
  ASSERT_TRUE(r.options.has_value()) << r.output;
  const Options& o = *r.options;
  EXPECT_EQ(o.config_path, path);
  EXPECT_EQ(o.listen, "0.0.0.0:9999");
  EXPECT_EQ(o.max_header_bytes, 1024u);
  EXPECT_EQ(o.ring_buffer_bytes, 131072u);
  EXPECT_EQ(o.max_connections, 1000u);
  EXPECT_EQ(o.poll_interval_ms, 50u);
  EXPECT_EQ(o.log_level, LogLevel::kWarning);
}

TEST_F(OptionsConfigTest, ShortFlag) {
  const std::string path = WriteConfig("max-connections = 77\n");
  const ParsedOptions r = Parse({"-c", path});
  ASSERT_TRUE(r.options.has_value()) << r.output;
  EXPECT_EQ(r.options->max_connections, 77u);
}

TEST_F(OptionsConfigTest, KeysNotInFileKeepDefaults) {
  const std::string path = WriteConfig("poll-interval-ms = 5\n");
  const ParsedOptions r = Parse({"--config", path});
  ASSERT_TRUE(r.options.has_value()) << r.output;
  EXPECT_EQ(r.options->poll_interval_ms, 5u);
  EXPECT_EQ(r.options->max_header_bytes, 4096u);
  EXPECT_EQ(r.options->listen, "127.0.0.1:9477");
}

TEST_F(OptionsConfigTest, CommandLineWins) {
  const std::string path = WriteConfig(
      "listen = 0.0.0.0:9999\n"
      "max-header-bytes = 1024\n"
      "log-level = warning\n");
  // Before and after --config alike.
  const ParsedOptions r =
      Parse({"--max-header-bytes", "2048", "--config", path, "--log-level", "debug"});
  ASSERT_TRUE(r.options.has_value()) << r.output;
  EXPECT_EQ(r.options->max_header_bytes, 2048u);
  EXPECT_EQ(r.options->log_level, LogLevel::kDebug);
  EXPECT_EQ(r.options->listen, "0.0.0.0:9999");  // only in the file
}

TEST_F(OptionsConfigTest, MissingFile) {
  const std::string path = testing::TempDir() + "tracegapd_no_such_config.conf";
  const ParsedOptions r = Parse({"--config", path});
  ExpectUsageError(r, "--config");
  EXPECT_NE(r.output.find(path), std::string::npos) << r.output;
}

TEST_F(OptionsConfigTest, UnknownKey) {
  ExpectUsageError(Parse({"--config", WriteConfig("bogus-key = 1\n")}), "bogus-key");
}

TEST_F(OptionsConfigTest, BadValue) {
  ExpectUsageError(Parse({"--config", WriteConfig("max-header-bytes = lots\n")}),
                   "max-header-bytes");
}

TEST_F(OptionsConfigTest, OutOfRangeValue) {
  ExpectUsageError(Parse({"--config", WriteConfig("poll-interval-ms = 5000\n")}),
                   "--poll-interval-ms");
  ExpectUsageError(Parse({"--config", WriteConfig("log-level = loud\n")}), "--log-level");
}

TEST_F(OptionsConfigTest, NegativeValue) {
  ExpectUsageError(Parse({"--config", WriteConfig("max-connections = -4294967280\n")}),
                   "max-connections");
}

TEST_F(OptionsConfigTest, CommandLineFixesBadFileValue) {
  // The command line value is used, so the file's out-of-range one never matters.
  const std::string path = WriteConfig("poll-interval-ms = 5000\n");
  const ParsedOptions r = Parse({"--config", path, "--poll-interval-ms", "10"});
  ASSERT_TRUE(r.options.has_value()) << r.output;
  EXPECT_EQ(r.options->poll_interval_ms, 10u);
}

}  // namespace
}  // namespace tracegap
