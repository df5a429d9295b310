#include "export/api/render.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "json/json.h"

namespace tracegap::api {
namespace {

// Ratios are written with a fixed number of decimals so that the output is stable (tests, diffs)
// and no reader sees 0.30000000000000004.
constexpr int kRatioDecimals = 4;
constexpr int kSecondsDecimals = 3;

void WriteProcess(json::Writer& w, const ProcessSnapshot& p) {
  w.Key("pid").Uint(p.pid);
  w.Key("start_time").Uint(p.start_time);
  w.Key("comm").String(p.comm);
  w.Key("unit").String(p.unit);
  w.Key("exe").String(p.exe);
  w.Key("inbound").BeginObject();
  for (ContextVerdict v : kContextVerdicts) {
    w.Key(Label(v)).Uint(p.inbound[static_cast<size_t>(v)]);
  }
  w.EndObject();
  w.Key("outbound").BeginObject();
  for (Outcome o : kOutcomes) w.Key(Label(o)).Uint(p.outbound[static_cast<size_t>(o)]);
  w.EndObject();
  w.Key("gaps").Uint(p.gaps());
  w.Key("gap_ratio").Double(p.gap_ratio(), kRatioDecimals);
  w.Key("first_seen").String(FormatTimestamp(p.first_seen_unix_ms));
  w.Key("last_seen").String(FormatTimestamp(p.last_seen_unix_ms));
  w.Key("exited").Bool(p.exited);
}

void WriteExample(json::Writer& w, const GapExample& e) {
  w.BeginObject();
  w.Key("time").String(FormatTimestamp(e.time_unix_ms));
  w.Key("outcome").String(Label(e.outcome));
  w.Key("protocol").String(Label(e.protocol));
  w.Key("method").String(e.method);
  w.Key("authority").String(e.authority);
  w.Key("path").String(e.path);
  w.Key("peer").String(e.peer);
  w.Key("inbound_trace_ids").BeginArray();
  for (const std::string& id : e.inbound_trace_ids) w.String(id);
  w.EndArray();
  w.Key("outbound_traceparent").String(e.outbound_traceparent);
  w.EndObject();
}

}  // namespace

std::string RenderProcessList(const std::vector<ProcessSnapshot>& processes) {
  std::string out;
  out.reserve(64 + processes.size() * 512);
  json::Writer w(&out);
  w.BeginObject().Key("processes").BeginArray();
  for (const ProcessSnapshot& p : processes) {
    w.BeginObject();
    WriteProcess(w, p);
    w.EndObject();
  }
  w.EndArray().EndObject();
  return out;
}

std::string RenderProcessDetail(const ProcessSnapshot& process) {
  std::string out;
  json::Writer w(&out);
  w.BeginObject();
  WriteProcess(w, process);
  w.Key("gap_examples").BeginArray();
  for (const GapExample& e : process.gap_examples) WriteExample(w, e);
  w.EndArray();
  w.EndObject();
  return out;
}

std::string RenderStatus(const DaemonStatus& status) {
  std::string out;
  json::Writer w(&out);
  w.BeginObject();
  w.Key("version").String(status.version);
  w.Key("uptime_seconds").Double(status.uptime_seconds, kSecondsDecimals);
  w.Key("attach").String(status.attach);
  w.Key("capture").String(status.capture);
  w.Key("http2").Bool(status.http2);
  w.Key("degraded").Bool(!status.load_failures.empty());
  w.Key("load_failures").BeginArray();
  for (const std::string& f : status.load_failures) w.String(f);
  w.EndArray();
  w.Key("kernel_drops").BeginObject();
  for (const auto& [reason, count] : status.kernel_drops) w.Key(reason).Uint(count);
  w.EndObject();
  w.Key("connections_tracked").Uint(status.connections_tracked);
  w.Key("processes_tracked").Uint(status.processes_tracked);
  w.EndObject();
  return out;
}

std::string RenderError(std::string_view message) {
  std::string out;
  json::Writer(&out).BeginObject().Key("error").String(message).EndObject();
  return out;
}

std::string FormatTimestamp(int64_t unix_ms) {
  using namespace std::chrono;
  constexpr int64_t kMinMs = -62167219200000;  // 0000-01-01T00:00:00.000Z
  constexpr int64_t kMaxMs = 253402300799999;  // 9999-12-31T23:59:59.999Z
  const sys_time<milliseconds> t{milliseconds{std::clamp(unix_ms, kMinMs, kMaxMs)}};
  const sys_days day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss<milliseconds> hms{t - day};
  char buf[64];  // 25 needed; the compiler cannot see that the fields are range-checked
  std::snprintf(buf, sizeof(buf), "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()),
                static_cast<int>(hms.subseconds().count()));
  return buf;
}

}  // namespace tracegap::api
