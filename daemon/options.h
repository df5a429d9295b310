#pragma once
// tracegapd's command line and config file (the same options in both; the command line wins).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "log.h"

namespace tracegap {

struct Options {
  std::string config_path;                // --config; empty: none
  std::string listen = "127.0.0.1:9477";  // --listen: the /metrics endpoint
  uint32_t max_header_bytes = 4096;       // --max-header-bytes: per header block, 64..8192
  uint64_t ring_buffer_bytes = 8u << 20;  // --ring-buffer-bytes: power of two, >= 64 KiB
  uint32_t max_connections = 65536;  // --max-connections: tracked connections (kernel and daemon)
  uint32_t poll_interval_ms = 100;   // --poll-interval-ms: longest an event waits in the ring
  LogLevel log_level = LogLevel::kInfo;               // --log-level
  std::string api_socket = "/run/tracegap/api.sock";  // --api-socket: the local query API
  uint32_t linger_ms = 250;                           // --linger-ms: an inbound request's afterglow
  uint32_t message_window_ms = 1000;  // --message-window-ms: a consumed message counts as served
  uint32_t max_processes = 4096;      // --max-processes: per-process state kept
  uint32_t retention_seconds = 600;   // --retention-seconds: exited processes kept
  std::string metrics_tls_cert;    // --metrics-tls-cert: PEM (certificate + key); "" = plain HTTP
  std::string metrics_basic_auth;  // --metrics-basic-auth: file with one user:password line
  uint32_t max_metric_processes =
      1000;                   // --max-metric-processes: process label sets with series of their own
  uint32_t max_edges = 2000;  // --max-edges: (client, server) pairs with series of their own
  // --series-idle-seconds: at a bound, a label set idle this long gives its place (0: never)
  uint32_t series_idle_seconds = 600;
  // --kubelet-log-dir: the kubelet's pods/ and containers/ log directories (workload names)
  std::string kubelet_log_dir = "/var/log";
  std::string kernel_reads =
      "auto";  // --kernel-reads: auto (direct where the kernel allows) | probe-read
  std::string capture =
      "auto";                // --capture: auto (socket where the kernel has it) | socket | syscall
  std::string tls = "auto";  // --tls: auto (OpenSSL uprobes) | off
  // Command line only (not in --config): a check that loads the BPF programs and exits.
  bool verify_only = false;  // --verify-only: load every capture variant, print the verifier's cost
  std::string verify_json;   // --verify-json: also write that report as JSON to this file
};

// What ParseOptions decided: run with `options`, or exit with `exit_code` after printing `output`
// (to stdout for --help/--version, to stderr for errors).
struct ParsedOptions {
  std::optional<Options> options;
  int exit_code = 0;
  std::string output;
};

inline constexpr int kExitUsage = 2;

ParsedOptions ParseOptions(int argc, const char* const* argv);

}  // namespace tracegap
