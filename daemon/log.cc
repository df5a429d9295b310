#include "log.h"

#include <unistd.h>

#include <atomic>
#include <string>

namespace tracegap {
namespace {
std::atomic<LogLevel> g_level{LogLevel::kInfo};
std::string g_program = "tracegapd";

std::string_view Name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "?";
}
}  // namespace

void SetLogLevel(LogLevel level) { g_level = level; }
LogLevel GetLogLevel() { return g_level; }
void SetLogProgramName(std::string_view name) { g_program = name; }

bool ParseLogLevel(std::string_view text, LogLevel* out) {
  for (LogLevel l : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarning, LogLevel::kError}) {
    if (text == Name(l)) {
      *out = l;
      return true;
    }
  }
  return false;
}

LogLine::~LogLine() {
  if (!Enabled()) return;
  std::string line = g_program + "[" + std::to_string(getpid()) + "]: ";
  line += Name(level_);
  line += ": ";
  line += stream_.str();
  line += '\n';
  // One write, so that lines from different threads never interleave.
  ssize_t ignored = write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace tracegap
