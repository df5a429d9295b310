// tracegapd: watches every process's TCP traffic through eBPF and reports, in Prometheus metrics,
// whether HTTP requests carry W3C trace context.
//
// Lifecycle: options -> preflight checks -> open/configure/load/attach probes -> listen ->
// poll events until SIGINT/SIGTERM (EventLoop) -> detach. Each stage that fails exits with its own
// code.

#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <prometheus/exposer.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string_view>

#include "capture/kernel_drops.h"
#include "capture/preflight.h"
#include "capture/probes.h"
#include "capture/verifier_log.h"
#include "capture/verify_report.h"
#include "correlate/process_info.h"
#include "correlate/process_table.h"
#include "event_loop.h"
#include "export/api/server.h"
#include "export/metrics_listener.h"
#include "log.h"
#include "metrics.h"
#include "options.h"
#include "pipeline.h"
#include "protocols/http2/connection.h"
#include "protocols/http2/errors.h"
#include "version.h"

namespace tracegap {
namespace {

// PROC_PID_INIT_INO: the inode of the initial pid namespace, fixed by the kernel.
constexpr ino_t kHostPidNamespaceInode = 0xEFFFFFFCu;

std::atomic<bool> g_stop{false};
std::atomic<bool> g_reload{false};

int64_t WallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void OnSignal(int sig) {
  if (sig == SIGHUP) {
    g_reload = true;
  } else {
    g_stop = true;
  }
}

void InstallSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: the ring buffer poll must return EINTR
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

// SIGHUP: re-reads the command line and config file. Options that can change live are applied;
// the others are reported as needing a restart. A bad config keeps the running one.
void Reload(int argc, const char* const* argv, Options& live, Pipeline& pipeline,
            ProcessTable& table) {
  sd_notify(0, "RELOADING=1");
  ParsedOptions parsed = ParseOptions(argc, argv);
  if (!parsed.options) {
    std::string why = parsed.output;
    while (!why.empty() && why.back() == '\n') why.pop_back();
    TG_LOG(Error) << "reload failed, keeping the running configuration: " << why;
    sd_notify(0, "READY=1");
    return;
  }
  const Options& next = *parsed.options;
  for (const auto& [changed, name] : std::initializer_list<std::pair<bool, const char*>>{
           {next.listen != live.listen, "--listen"},
           {next.max_header_bytes != live.max_header_bytes, "--max-header-bytes"},
           {next.ring_buffer_bytes != live.ring_buffer_bytes, "--ring-buffer-bytes"},
           {next.max_connections != live.max_connections, "--max-connections"},
           {next.api_socket != live.api_socket, "--api-socket"},
           {next.max_metric_processes != live.max_metric_processes, "--max-metric-processes"},
           {next.max_edges != live.max_edges, "--max-edges"},
           {next.series_idle_seconds != live.series_idle_seconds, "--series-idle-seconds"},
           {next.kubelet_log_dir != live.kubelet_log_dir, "--kubelet-log-dir"},
           {next.kernel_reads != live.kernel_reads, "--kernel-reads"}}) {
    if (changed)
      TG_LOG(Warning) << "reload: " << name << " changed; it takes effect only after a restart";
  }
  live.log_level = next.log_level;
  live.poll_interval_ms = next.poll_interval_ms;
  live.linger_ms = next.linger_ms;
  live.max_processes = next.max_processes;
  live.retention_seconds = next.retention_seconds;
  SetLogLevel(live.log_level);
  pipeline.SetLinger(std::chrono::milliseconds(live.linger_ms));
  table.SetLimits(live.max_processes, std::chrono::seconds(live.retention_seconds));
  TG_LOG(Info) << "reloaded configuration";
  sd_notify(0, "READY=1");
}

// Metrics as the loop sees them (metrics/ knows nothing of the daemon's interfaces).
class MetricsForLoop final : public LoopMetrics {
 public:
  explicit MetricsForLoop(Metrics& metrics) : metrics_(metrics) {}
  void SetKernelDrops(std::span<const uint64_t> totals) override {
    metrics_.SetKernelDrops(totals);
  }
  void SetConnectionsTracked(size_t n) override { metrics_.SetConnectionsTracked(n); }
  void SetHttp2Connections(std::span<const size_t> per_state) override {
    metrics_.SetHttp2Connections(per_state);
  }

 private:
  Metrics& metrics_;
};

ProbeConfig MakeProbeConfig(const Options& opts) {
  ProbeConfig pc;
  pc.self_tgid = static_cast<uint32_t>(getpid());
  if (struct stat ns; stat("/proc/self/ns/pid", &ns) == 0 && ns.st_ino != kHostPidNamespaceInode) {
    // In a container with its own pid namespace the kernel reports host pids: recognise our own
    // traffic by namespace, and warn that /proc (this namespace's) cannot describe other processes.
    pc.self_pidns_dev = (static_cast<uint64_t>(major(ns.st_dev)) << 20) | minor(ns.st_dev);
    pc.self_pidns_ino = ns.st_ino;
    if (!opts.verify_only) {
      TG_LOG(Warning)
          << "running in a pid namespace of its own: processes are reported by host pid "
             "and their unit, start time and exe cannot be read; run tracegapd in the "
             "host pid namespace (systemd service, or hostPID: true on Kubernetes)";
    }
  }
  pc.max_header_bytes = opts.max_header_bytes;
  pc.ring_buffer_bytes = opts.ring_buffer_bytes;
  pc.max_connections = opts.max_connections;
  pc.wakeup_bytes = opts.ring_buffer_bytes / 4;
  pc.direct_kernel_reads = opts.kernel_reads == "auto";
  pc.socket_hooks = opts.capture != "syscall";
  pc.syscall_hooks = opts.capture != "socket";
  pc.tls = opts.tls == "auto";
  // Test-only: make the kernel refuse the HTTP/2 variants (complex: E2BIG; unsafe: EACCES).
  if (const char* refuse = std::getenv("TRACEGAP_TEST_REFUSE_HTTP2"); refuse != nullptr) {
    const std::string_view how(refuse);
    pc.test_refuse_http2 = how == "complex"  ? ProbeConfig::TestRefusal::kComplex
                           : how == "unsafe" ? ProbeConfig::TestRefusal::kUnsafe
                                             : ProbeConfig::TestRefusal::kNone;
    TG_LOG(Warning) << "TRACEGAP_TEST_REFUSE_HTTP2=" << how
                    << (pc.test_refuse_http2 == ProbeConfig::TestRefusal::kNone
                            ? ": not complex or unsafe, ignored"
                            : ": the HTTP/2 variants are made unloadable on purpose (a test of the "
                              "fallback)");
  }
  if (const char* refuse = std::getenv("TRACEGAP_TEST_REFUSE_TLS"); refuse != nullptr) {
    pc.test_refuse_tls = std::string_view(refuse) == "1";
    TG_LOG(Warning) << "TRACEGAP_TEST_REFUSE_TLS=" << refuse
                    << (pc.test_refuse_tls ? ": the TLS programs are made unloadable on purpose (a "
                                             "test of the fallback)"
                                           : ": not 1, ignored");
  }
  return pc;
}

// Whether TLS plaintext is read, in words (the start-up line).
std::string TlsDescription(Probes& probes, const std::string& mode) {
  if (mode == "off") return "off";
  if (probes.tls() == nullptr) return "NOT read (the kernel refused its programs)";
  size_t attached = 0;
  const tls::TlsStatus st = probes.tls()->Snapshot();
  for (const tls::LibraryStatus& l : st.libraries) attached += l.attached;
  return "read in " + std::to_string(attached) + " of " + std::to_string(st.libraries.size()) +
         " OpenSSL libraries found";
}

// Which hooks capture, and how they read the kernel, in words (start-up line, `tracegap status`).
std::string HooksDescription(const Probes& probes) {
  if (probes.hooks() == CaptureHooks::kSocket)
    return "socket-layer hooks: sock_send_length/sock_recv_length";
  return std::string("syscall hooks, ") + (probes.direct_kernel_reads()
                                               ? "direct kernel reads"
                                               : "kernel reads by bpf_probe_read_kernel");
}

int Run(int argc, const char* const* argv, Options opts) {
  // Files named by options are checked before anything is loaded: a mistake there is a config
  // error (exit 2), not a runtime one.
  if (!opts.metrics_basic_auth.empty()) {
    BasicAuthCredentials creds;
    std::string error;
    if (!LoadBasicAuth(opts.metrics_basic_auth, &creds, &error)) {
      TG_LOG(Error) << error;
      return kExitUsage;
    }
  }
  if (!opts.metrics_tls_cert.empty()) {
    if (access(opts.metrics_tls_cert.c_str(), R_OK) != 0) {
      TG_LOG(Error) << "--metrics-tls-cert: cannot read '" << opts.metrics_tls_cert << "'";
      return kExitUsage;
    }
    if (std::string problem = MetricsTlsProblem(); !problem.empty()) {
      TG_LOG(Error) << "--metrics-tls-cert: " << problem;
      return kExitUsage;
    }
  }
  PreflightResult pre = RunPreflight();
  if (pre.exit_code != 0) {
    TG_LOG(Error) << pre.message;
    return pre.exit_code;
  }
  if (!pre.notes.empty()) TG_LOG(Info) << pre.notes;
  if (opts.verify_only)
    return RunVerify(Probes::VerifyAll(MakeProbeConfig(opts)), opts.verify_json);

  Metrics metrics(kVersion, Probes::kAttachMechanism, KernelDropLabels(), http2::kErrorLabels,
                  Labels(http2::kStates), opts.max_metric_processes);
  const auto upgrade_labels = Labels(kAllUpgrades);
  metrics.DeclareUpgrades(upgrade_labels);
  ProcessInfoCache processes("/proc", 8192,
                             WorkloadResolver::Paths{.kubelet_log_dir = opts.kubelet_log_dir});
  ProcessTable table(opts.max_processes, std::chrono::seconds(opts.retention_seconds));
  EdgeTable edges(opts.max_edges, int64_t{opts.series_idle_seconds} * 1000);
  metrics.SetReclaimAfter(int64_t{opts.series_idle_seconds} * 1000);
  PipelineConfig config;
  config.max_connections = opts.max_connections;
  config.max_header_bytes = opts.max_header_bytes;
  config.correlator.linger = std::chrono::milliseconds(opts.linger_ms);
  config.correlator.message_window = std::chrono::milliseconds(opts.message_window_ms);
  Pipeline pipeline(config, metrics, processes, table, edges, WallClockMs);

  ProbeConfig pc = MakeProbeConfig(opts);
  ProbeError perr;
  std::unique_ptr<Probes> probes = Probes::Start(
      pc, [&pipeline](std::span<const uint8_t> rec) { pipeline.OnRecord(rec); }, &perr);
  if (!probes) {
    TG_LOG(Error) << perr.message;
    return perr.exit_code;
  }
  // TLS: uprobes on the libssl files found now; later ones as processes show TLS.
  {
    std::vector<std::string_view> failures, unseen;
    for (auto f : {tls::AttachFailure::kNoSymbol, tls::AttachFailure::kPermission,
                   tls::AttachFailure::kNoFile, tls::AttachFailure::kOther})
      failures.push_back(tls::Label(f));
    for (tls::Unseen u : tls::kAllUnseen) unseen.push_back(tls::Label(u));
    metrics.DeclareTls(failures, unseen);
  }
  auto count_tls_libraries = [&metrics, &probes] {
    if (tls::Attacher* t = probes->tls()) {
      size_t attached = 0, failed = 0;
      for (const tls::LibraryStatus& l : t->Snapshot().libraries)
        (l.attached ? attached : failed)++;
      metrics.SetTlsLibraries(attached, failed);
    }
  };
  probes->StartTls(
      {.attach_failed =
           [&metrics](tls::AttachFailure f) { metrics.CountTlsAttachFailure(Label(f)); },
       .unseen = [&metrics](tls::Unseen u) { metrics.CountTlsUnseen(tls::Label(u)); }});
  count_tls_libraries();
  if (!probes->tls_unavailable().empty())
    TG_LOG(Warning) << "TLS plaintext is not read: " << probes->tls_unavailable();
  pipeline.SetTlsUnseenHandler(
      [&probes, &count_tls_libraries](uint32_t pid, std::string_view comm) {
        if (tls::Attacher* t = probes->tls()) {
          t->NoteUnseen(pid, comm);
          count_tls_libraries();
        }
      });
  const std::string capture = VariantName(probes->variant());
  metrics.SetCaptureInfo(Label(probes->hooks()),
                         probes->direct_kernel_reads() ? "direct-reads" : "probe-reads",
                         probes->variant().http2, probes->degraded());
  std::vector<std::string> load_failures;
  for (const LoadAttempt& a : probes->attempts()) {
    if (a.result == LoadAttempt::Result::kFailed) load_failures.push_back(a.Describe());
  }
  if (probes->degraded()) {
    TG_LOG(Warning) << "degraded capture: running " << capture
                    << (probes->variant().http2 ? "" : " (HTTP/2 is not followed)")
                    << " because the kernel refused better variants (the reasons are above; "
                       "`tracegap status` repeats them)";
  }

  // Only now, with every probe attached, does the listener open: a successful scrape means
  // capture is live.
  std::string listen_error;
  std::unique_ptr<prometheus::Exposer> exposer =
      StartMetricsListener(opts, metrics.registry(), &listen_error);
  if (!exposer) {
    TG_LOG(Error) << listen_error;
    return kExitListen;
  }
  MetricsForLoop loop_metrics(metrics);
  EventLoop loop(*probes, pipeline, loop_metrics, SystemClocks(), opts.poll_interval_ms);
  // What GET /v1/status reports; the loop's counters are written by this thread, read by the API
  // thread.
  const auto started = std::chrono::steady_clock::now();
  auto status = [&]() {
    DaemonStatus s;
    s.version = kVersion;
    s.uptime_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    s.attach = HooksDescription(*probes);
    s.capture = capture;
    s.http2 = probes->variant().http2;
    s.load_failures = load_failures;
    const KernelDrops drops = loop.drop_totals();
    for (int i = 0; i < TG_DROP_REASON_COUNT; ++i) {
      s.kernel_drops.emplace_back(std::string(KernelDropLabel(i)), drops[i]);
    }
    s.connections_tracked = loop.connections_tracked();
    s.processes_tracked = table.size();
    s.tls_mode = opts.tls;
    s.tls_unavailable = probes->tls_unavailable();
    if (tls::Attacher* t = probes->tls()) {
      const tls::TlsStatus tls = t->Snapshot();
      for (const tls::LibraryStatus& l : tls.libraries) {
        s.tls_libraries.push_back(
            {l.path, std::string(tls::Label(l.kind)), l.attached, l.error, l.probes});
      }
      for (const tls::UnseenProcess& u : tls.unseen) {
        s.tls_unseen.push_back(
            {u.pid, u.comm, u.exe, std::string(tls::Label(u.reason)), u.detail, u.connections});
      }
    }
    return s;
  };
  std::string api_error;
  std::unique_ptr<api::ApiServer> api =
      api::ApiServer::Start(opts.api_socket, table, status, &api_error, &edges);
  if (!api) {
    TG_LOG(Error) << "cannot serve the local API: " << api_error;
    return kExitListen;
  }

  TG_LOG(Info) << "tracegapd " << kVersion << " capturing: " << probes->attached()
               << " tracepoints and " << (probes->tls() ? probes->tls()->probes() : 0)
               << " uprobes attached; capture variant " << capture << " ("
               << HooksDescription(*probes) << ", HTTP/2 "
               << (probes->variant().http2 ? "followed" : "NOT followed") << "; TLS "
               << TlsDescription(*probes, opts.tls) << "); metrics at http://" << opts.listen
               << "/metrics; API at " << opts.api_socket;

  sd_notify(0, "READY=1");
  const int code = loop.Run(g_stop, g_reload, [&] {
    Reload(argc, argv, opts, pipeline, table);
    loop.set_poll_interval(opts.poll_interval_ms);
  });
  if (code != 0) return code;
  sd_notify(0, "STOPPING=1");
  TG_LOG(Info) << "stopping: detaching probes";
  api.reset();
  probes.reset();
  // civetweb takes ~2 s to join its threads once it has served a request; nothing is lost by not
  // waiting: the process exits right after this (see main), and the kernel closes the socket.
  exposer->RemoveCollectable(metrics.registry());
  (void)exposer.release();
  TG_LOG(Info) << "stopped";
  return 0;
}

}  // namespace
}  // namespace tracegap

int main(int argc, char** argv) {
  using namespace tracegap;
  ParsedOptions parsed = ParseOptions(argc, argv);
  if (!parsed.options) {
    std::fputs(parsed.output.c_str(), parsed.exit_code == 0 ? stdout : stderr);
    return parsed.exit_code;
  }
  SetLogLevel(parsed.options->log_level);
  InstallSignalHandlers();
  const int code = Run(argc, argv, *parsed.options);
  // _Exit: the metrics listener's threads may still be running (see Run); no destructor of
  // static state must race with them. Logs are written unbuffered.
  std::fflush(nullptr);
  std::_Exit(code);
}
