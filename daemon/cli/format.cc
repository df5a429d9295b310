#include "cli/format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string_view>
#include <utility>
#include <vector>

#include "cli/table.h"

namespace tracegap::cli {
namespace {

using Lines = std::vector<std::pair<std::string, std::string>>;

// "  key   value" lines with the values aligned.
void AppendAligned(std::string& out, const Lines& lines, std::string_view indent = "  ") {
  size_t width = 0;
  for (const auto& [key, value] : lines) width = std::max(width, key.size());
  for (const auto& [key, value] : lines) {
    out += indent;
    out += key;
    out.append(width - key.size() + 2, ' ');
    out += value;
    out += '\n';
  }
}

std::string OrNone(const std::string& s) { return s.empty() ? "(none)" : SanitizeForTerminal(s); }

void AppendExample(std::string& out, const ExampleRow& e) {
  out += "  " + SanitizeForTerminal(e.time) + "  " + SanitizeForTerminal(e.outcome) + "  " +
         SanitizeForTerminal(e.protocol) + (e.tls ? " over TLS" : "") + "\n";
  out += "    " + SanitizeForTerminal(e.method) + " " + SanitizeForTerminal(e.authority) +
         SanitizeForTerminal(e.path) + " -> " + OrNone(e.peer) + "\n";
  std::string ids;
  for (const std::string& id : e.inbound_trace_ids) {
    if (!ids.empty()) ids += ", ";
    ids += SanitizeForTerminal(id);
  }
  out += "    inbound trace ids: " + (ids.empty() ? std::string("(none)") : ids) + "\n";
  out += "    outbound traceparent: " + OrNone(e.outbound_traceparent) + "\n";
}

}  // namespace

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) seconds = 0;
  const auto total = static_cast<uint64_t>(std::min(seconds, 1e15));
  const uint64_t d = total / 86400, h = total / 3600 % 24, m = total / 60 % 60, s = total % 60;
  char buf[64];
  if (d > 0) {
    std::snprintf(buf, sizeof(buf), "%llud %02lluh %02llum %02llus",
                  static_cast<unsigned long long>(d), static_cast<unsigned long long>(h),
                  static_cast<unsigned long long>(m), static_cast<unsigned long long>(s));
  } else if (h > 0) {
    std::snprintf(buf, sizeof(buf), "%lluh %02llum %02llus", static_cast<unsigned long long>(h),
                  static_cast<unsigned long long>(m), static_cast<unsigned long long>(s));
  } else if (m > 0) {
    std::snprintf(buf, sizeof(buf), "%llum %02llus", static_cast<unsigned long long>(m),
                  static_cast<unsigned long long>(s));
  } else {
    std::snprintf(buf, sizeof(buf), "%llus", static_cast<unsigned long long>(s));
  }
  return buf;
}

std::string FormatProcessDetail(const ProcessDetail& detail) {
  const ProcessRow& p = detail.process;
  std::string out = SanitizeForTerminal(p.comm) + " (pid " + std::to_string(p.pid) + ")" +
                    (p.exited ? ", exited" : "") + "\n";
  AppendAligned(out,
                {
                    {"workload", p.workload.empty() ? "-" : SanitizeForTerminal(p.workload)},
                    {"container", p.container.empty() ? "-" : SanitizeForTerminal(p.container)},
                    {"namespace", p.namespace_.empty() ? "-" : SanitizeForTerminal(p.namespace_)},
                    {"unit", p.unit.empty() ? "-" : SanitizeForTerminal(p.unit)},
                    {"exe", p.exe.empty() ? "-" : SanitizeForTerminal(p.exe)},
                    {"start time", std::to_string(p.start_time) + " (clock ticks after boot)"},
                    {"first seen", SanitizeForTerminal(p.first_seen)},
                    {"last seen", SanitizeForTerminal(p.last_seen)},
                });

  out += "\ninbound requests: " + std::to_string(p.inbound_total()) + "\n";
  Lines in;
  for (size_t i = 0; i < kInboundKeys.size(); ++i) {
    in.emplace_back(std::string(kInboundKeys[i]), std::to_string(p.inbound[i]));
  }
  in.front().second += "  (" + Percent(p.inbound_valid(), p.inbound_total()) + "%)";
  AppendAligned(out, in);

  out += "\noutbound requests: " + std::to_string(p.outbound_total()) + "\n";
  Lines outcomes;
  for (Outcome o : kAllOutcomes) {
    outcomes.emplace_back(std::string(Label(o)),
                          std::to_string(p.count(o)) + (IsGap(o) ? "  gap" : ""));
  }
  AppendAligned(out, outcomes);
  out += "gaps: " + std::to_string(p.gaps) + " of " + std::to_string(p.with_context()) +
         " requests with context to pass on (" +
         (p.with_context() == 0 ? std::string("-") : PercentOfRatio(p.gap_ratio) + "%") + ")\n";

  out += "\ngap examples";
  if (detail.examples.empty()) {
    out += ": none\n";
    return out;
  }
  out += " (" + std::to_string(detail.examples.size()) + ", newest last):\n";
  for (const ExampleRow& e : detail.examples) AppendExample(out, e);
  return out;
}

std::string FormatStatus(const StatusInfo& status) {
  std::string out = "tracegapd " + SanitizeForTerminal(status.version) + "\n";
  AppendAligned(
      out,
      {
          {"uptime", FormatDuration(status.uptime_seconds)},
          {"attach", SanitizeForTerminal(status.attach)},
          {"capture", SanitizeForTerminal(status.capture) +
                          (status.degraded ? " (degraded: better variants failed to load)" : "")},
          {"connections tracked", std::to_string(status.connections_tracked)},
          {"processes tracked", std::to_string(status.processes_tracked)},
      });
  if (!status.load_failures.empty()) {
    out += "load failures (the kernel refused these variants; the verifier's words follow):\n";
    for (const std::string& f : status.load_failures) {
      // One failure spans lines (the verifier's, indented): each is sanitised on its own.
      std::string_view rest = f;
      while (true) {
        const size_t nl = rest.find('\n');
        out += "  " + SanitizeForTerminal(rest.substr(0, nl)) + "\n";
        if (nl == std::string_view::npos) break;
        rest.remove_prefix(nl + 1);
      }
    }
  }
  uint64_t total = 0;
  for (const auto& [reason, n] : status.kernel_drops) total += n;
  out += "kernel drops: " + std::to_string(total) + "\n";
  Lines drops;
  for (const auto& [reason, n] : status.kernel_drops) {
    drops.emplace_back(SanitizeForTerminal(reason), std::to_string(n));
  }
  AppendAligned(out, drops);
  if (status.tls_mode.empty()) return out;
  if (status.tls_mode == "off") {
    out += "TLS: off (--tls off): TLS connections are passed over unread\n";
    return out;
  }
  if (!status.tls_unavailable.empty()) {
    out += "TLS: NOT read: " + SanitizeForTerminal(status.tls_unavailable) + "\n";
    return out;
  }
  size_t attached = 0;
  for (const auto& l : status.tls_libraries) attached += l.attached;
  out += "TLS libraries: " + std::to_string(attached) + " of " +
         std::to_string(status.tls_libraries.size()) + " attached\n";
  for (const auto& l : status.tls_libraries) {
    out += "  " + SanitizeForTerminal(l.path) + " (" + SanitizeForTerminal(l.kind) + "): " +
           (l.attached ? std::to_string(l.probes) + " probes" : std::string("NOT attached")) +
           (l.error.empty() ? "" : ": " + SanitizeForTerminal(l.error)) + "\n";
  }
  if (status.tls_unseen.empty()) {
    out += "TLS not seen: no process\n";
    return out;
  }
  out += "TLS not seen (processes whose TLS plaintext is not read, and why):\n";
  for (const auto& u : status.tls_unseen) {
    out += "  pid " + std::to_string(u.pid) + " " + SanitizeForTerminal(u.comm) + " (" +
           SanitizeForTerminal(u.exe) + "): " + SanitizeForTerminal(u.reason) + ", " +
           std::to_string(u.connections) + " connection(s)\n    " + SanitizeForTerminal(u.detail) +
           "\n";
  }
  return out;
}

}  // namespace tracegap::cli
