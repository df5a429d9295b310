#include "capture/verifier_log.h"

#include <errno.h>

#include <charconv>

#include "errno_text.h"

namespace tracegap {
namespace {

// The number right after `key` in `line`, if there is one.
std::optional<uint64_t> NumberAfter(std::string_view line, std::string_view key) {
  const size_t at = line.find(key);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = line.substr(at + key.size());
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), v);
  if (ec != std::errc() || end == rest.data()) return std::nullopt;
  return v;
}

bool IsStatsLine(std::string_view line) {
  return line.starts_with("verification time ") || line.starts_with("processed ") ||
         line.starts_with("stack depth ");
}

std::vector<std::string_view> Lines(std::string_view log) {
  std::vector<std::string_view> lines;
  while (!log.empty()) {
    const size_t nl = log.find('\n');
    std::string_view line = log.substr(0, nl);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\0')) {
      line.remove_suffix(1);
    }
    if (!line.empty()) lines.push_back(line);
    if (nl == std::string_view::npos) break;
    log.remove_prefix(nl + 1);
  }
  return lines;
}

}  // namespace

VerifierStats ParseVerifierStats(std::string_view log) {
  VerifierStats s;
  // The last occurrence wins: a log holds one program's verification.
  for (std::string_view line : Lines(log)) {
    if (line.starts_with("verification time ")) {
      s.verification_us = NumberAfter(line, "verification time ");
    } else if (line.starts_with("processed ")) {
      s.processed_insns = NumberAfter(line, "processed ");
      s.total_states = NumberAfter(line, "total_states ");
      s.peak_states = NumberAfter(line, "peak_states ");
    }
  }
  return s;
}

std::vector<std::string> VerifierReason(std::string_view log, size_t n) {
  std::vector<std::string_view> lines = Lines(log);
  std::vector<std::string> out;
  for (std::string_view line : lines) {
    if (!IsStatsLine(line)) out.emplace_back(line);
  }
  if (out.size() > n) out.erase(out.begin(), out.end() - static_cast<std::ptrdiff_t>(n));
  return out;
}

std::string LoadErrnoMeaning(int err) {
  if (err < 0) err = -err;
  switch (err) {
    case E2BIG:
      return "E2BIG: over the verifier's complexity budget (1,000,000 processed instructions, or "
             "too many pending branches)";
    case EACCES:
      return "EACCES: rejected by the verifier (it proved an access unsafe)";
    case EINVAL:
      return "EINVAL: rejected as invalid (a helper, kfunc, map type or attach point this kernel "
             "does not accept, or an ill-formed program)";
    case EPERM:
      return "EPERM: not permitted (needs CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN; or a "
             "security module refuses BPF)";
    case ENOSPC:
      return "ENOSPC: the verifier's log did not fit its buffer";
    case ENOMEM:
      return "ENOMEM: out of memory (locked-memory limit or kernel memory)";
    case ESRCH:
      return "ESRCH: a kernel symbol or BTF type the program needs was not found";
    case 524:  // ENOTSUPP, kernel-internal
      return "ENOTSUPP: a feature the program uses is not supported by this kernel";
    default:
      return ErrnoTextWithNumber(err);
  }
}

}  // namespace tracegap
