#include "capture/libbpf_log.h"

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <deque>
#include <sstream>

#include "log.h"

namespace tracegap {
namespace {

std::deque<std::string>& LibbpfLines() {
  static std::deque<std::string> lines;
  return lines;
}

int LibbpfPrint(enum libbpf_print_level level, const char* fmt, va_list args) {
  // Whole messages, however long (libbpf prints a refused program's verifier log as one).
  va_list again;
  va_copy(again, args);
  const int len = vsnprintf(nullptr, 0, fmt, args);
  std::string text(len > 0 ? static_cast<size_t>(len) : 0, '\0');
  if (len > 0) vsnprintf(text.data(), text.size() + 1, fmt, again);
  va_end(again);
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    auto& lines = LibbpfLines();
    lines.push_back(line);
    if (lines.size() > 200) lines.pop_front();
  }
  if (level == LIBBPF_WARN) {
    while (!text.empty() && text.back() == '\n') text.pop_back();
    TG_LOG(Debug) << "libbpf: " << text;
  }
  return 0;
}

}  // namespace

void InstallLibbpfLog() { libbpf_set_print(LibbpfPrint); }

void ClearLibbpfLines() { LibbpfLines().clear(); }

std::string LastLibbpfLines(size_t n) {
  const auto& lines = LibbpfLines();
  std::string out;
  size_t start = lines.size() > n ? lines.size() - n : 0;
  for (size_t i = start; i < lines.size(); ++i) out += "\n    " + lines[i];
  return out;
}

}  // namespace tracegap
