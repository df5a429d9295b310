#pragma once
// Leveled logging to stderr, one line per message:
//   tracegapd[1234]: warning: ring buffer poll failed: Interrupted system call
// Thread-safe: each line is written with a single write(2).

#include <sstream>
#include <string_view>

namespace tracegap {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
// Parses "debug", "info", "warning", "error"; returns false on anything else.
bool ParseLogLevel(std::string_view text, LogLevel* out);
void SetLogProgramName(std::string_view name);

class LogLine {
 public:
  explicit LogLine(LogLevel level) : level_(level) {}
  ~LogLine();
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;

  template <typename T>
  LogLine& operator<<(const T& value) {
    if (Enabled()) stream_ << value;
    return *this;
  }

 private:
  bool Enabled() const { return level_ >= GetLogLevel(); }
  LogLevel level_;
  std::ostringstream stream_;
};

// Turns `LogLine << ...` into a void expression for TG_LOG's conditional.
struct LogVoidify {
  void operator&(const LogLine&) const {}
};

}  // namespace tracegap

// The level is checked before anything is built, so a disabled TG_LOG(Debug) on a hot path costs
// one comparison. The ?: form (not if/else) keeps the macro safe inside an unbraced if.
#define TG_LOG(level)                                          \
  (::tracegap::LogLevel::k##level < ::tracegap::GetLogLevel()) \
      ? (void)0                                                \
      : ::tracegap::LogVoidify() & ::tracegap::LogLine(::tracegap::LogLevel::k##level)
