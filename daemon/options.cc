#include "options.h"

#include <boost/program_options.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tracegap.h"
#include "version.h"

namespace po = boost::program_options;

namespace tracegap {
namespace {

po::options_description Describe(Options& o, std::string& log_level) {
  po::options_description desc("Options (also accepted as `name = value` lines in --config)");
  desc.add_options()("help,h", "print this help and exit")("version", "print the version and exit")(
      "config,c", po::value(&o.config_path)->value_name("FILE"),
      "read options from FILE (command-line options win)")(
      "listen", po::value(&o.listen)->default_value(o.listen)->value_name("ADDR:PORT"),
      "serve Prometheus metrics at http://ADDR:PORT/metrics")(
      "max-header-bytes",
      po::value(&o.max_header_bytes)->default_value(o.max_header_bytes)->value_name("N"),
      "largest HTTP/1 header block captured, in bytes (64..8192); longer ones count as unknown")(
      "ring-buffer-bytes",
      po::value(&o.ring_buffer_bytes)->default_value(o.ring_buffer_bytes)->value_name("N"),
      "size of the kernel-to-daemon ring buffer (a power of two, at least 65536)")(
      "max-connections",
      po::value(&o.max_connections)->default_value(o.max_connections)->value_name("N"),
      "connections tracked at once, in the kernel and in the daemon (least recently used evicted)")(
      "poll-interval-ms",
      po::value(&o.poll_interval_ms)->default_value(o.poll_interval_ms)->value_name("MS"),
      "longest time an event waits in the ring buffer before the daemon reads it (1..1000)")(
      "log-level", po::value(&log_level)->default_value("info")->value_name("LEVEL"),
      "debug, info, warning or error")(
      "api-socket", po::value(&o.api_socket)->default_value(o.api_socket)->value_name("PATH"),
      "Unix socket of the local query API used by the tracegap CLI (mode 0600)")(
      "linger-ms", po::value(&o.linger_ms)->default_value(o.linger_ms)->value_name("MS"),
      "how long an answered inbound request still counts as being served (0..60000)")(
      "message-window-ms",
      po::value(&o.message_window_ms)->default_value(o.message_window_ms)->value_name("MS"),
      "how long a consumed message (AMQP) counts as being served, unless the next message on its "
      "channel ends it sooner (1..600000)")(
      "max-processes", po::value(&o.max_processes)->default_value(o.max_processes)->value_name("N"),
      "processes whose propagation state is kept (least recently active evicted first)")(
      "retention-seconds",
      po::value(&o.retention_seconds)->default_value(o.retention_seconds)->value_name("S"),
      "how long an exited process stays visible in the API")(
      "metrics-tls-cert", po::value(&o.metrics_tls_cert)->value_name("FILE"),
      "serve /metrics over HTTPS with this PEM file (certificate and private key); off by default")(
      "metrics-basic-auth", po::value(&o.metrics_basic_auth)->value_name("FILE"),
      "require HTTP basic auth on /metrics; FILE holds one user:password line and must not be "
      "readable by group or others; off by default")(
      "max-metric-processes",
      po::value(&o.max_metric_processes)->default_value(o.max_metric_processes)->value_name("N"),
      "distinct process label sets (comm, unit, workload, container, namespace) given metric "
      "series of their own (1..100000); requests of later ones are counted under \"_other\" in "
      "all five")(
      "max-edges", po::value(&o.max_edges)->default_value(o.max_edges)->value_name("N"),
      "distinct (client, server) pairs given tracegap_edge_requests_total series of their own "
      "(1..1000000); requests on later ones are counted under server=\"_other\"")(
      "series-idle-seconds",
      po::value(&o.series_idle_seconds)->default_value(o.series_idle_seconds)->value_name("S"),
      "when --max-metric-processes or --max-edges is reached, a process label set or edge that "
      "has counted nothing for S seconds gives its place (and its series) to a new one; 0: "
      "never (later ones are counted under \"_other\")")(
      "kubelet-log-dir",
      po::value(&o.kubelet_log_dir)->default_value(o.kubelet_log_dir)->value_name("DIR"),
      "where the kubelet keeps pods/<namespace>_<pod>_<uid>/ and containers/ (the workload "
      "label of a process in a Kubernetes pod is read there; the DaemonSet mounts the node's "
      "/var/log/pods and /var/log/containers)")(
      "kernel-reads", po::value(&o.kernel_reads)->default_value(o.kernel_reads)->value_name("MODE"),
      "how the BPF programs read kernel structures: auto (plain loads where the kernel allows, "
      "Linux 6.2+, else bpf_probe_read_kernel) or probe-read (always bpf_probe_read_kernel)")(
      "capture", po::value(&o.capture)->default_value(o.capture)->value_name("HOOKS"),
      "where the BPF programs capture: auto (the socket layer where the kernel has its "
      "tracepoints, Linux 6.3+, else syscall tracepoints), socket (the socket layer only: fail "
      "without it) or syscall (syscall tracepoints only)")(
      "tls", po::value(&o.tls)->default_value(o.tls)->value_name("MODE"),
      "TLS plaintext: auto (read it at OpenSSL's SSL_read/SSL_write in every libssl.so.3 and "
      "libssl.so.1.1 found, uprobes) or off (TLS connections are passed over unread)");
  return desc;
}

// Options of the command line only: one-shot checks, which make no sense in a config file.
po::options_description DescribeChecks(Options& o) {
  po::options_description desc("Checks (command line only)");
  desc.add_options()(
      "verify-only", po::bool_switch(&o.verify_only),
      "load every capture variant into the kernel without attaching it, print what the verifier "
      "accepted and at what cost (processed instructions per program, share of its 1M budget), "
      "and exit: 0 if a variant loads, 6 if none does")(
      "verify-json", po::value(&o.verify_json)->value_name("FILE"),
      "with --verify-only: also write the report as JSON to FILE");
  return desc;
}

// ADDR:PORT with PORT a decimal number that fits a port. The address is left to the listener.
bool HasPort(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return false;
  const std::string port = listen.substr(colon + 1);
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  return std::stoul(port) <= 65535;
}

std::string Validate(const Options& o) {
  std::ostringstream err;
  if (o.max_header_bytes < 64 || o.max_header_bytes > TG_MAX_COPY) {
    err << "--max-header-bytes: " << o.max_header_bytes << " is out of range (64.." << TG_MAX_COPY
        << ")";
  } else if (o.ring_buffer_bytes < 65536 ||
             (o.ring_buffer_bytes & (o.ring_buffer_bytes - 1)) != 0 ||
             o.ring_buffer_bytes > (1ull << 30)) {
    err << "--ring-buffer-bytes: " << o.ring_buffer_bytes
        << " must be a power of two from 65536 to 1073741824";
  } else if (o.max_connections < 16 || o.max_connections > (1u << 22)) {
    err << "--max-connections: " << o.max_connections << " is out of range (16..4194304)";
  } else if (o.poll_interval_ms < 1 || o.poll_interval_ms > 1000) {
    err << "--poll-interval-ms: " << o.poll_interval_ms << " is out of range (1..1000)";
  } else if (o.linger_ms > 60000) {
    err << "--linger-ms: " << o.linger_ms << " is out of range (0..60000)";
  } else if (o.message_window_ms < 1 || o.message_window_ms > 600000) {
    err << "--message-window-ms: " << o.message_window_ms << " is out of range (1..600000)";
  } else if (o.max_processes < 1 || o.max_processes > 1000000) {
    err << "--max-processes: " << o.max_processes << " is out of range (1..1000000)";
  } else if (o.api_socket.empty() || o.api_socket.size() > 107) {
    err << "--api-socket: '" << o.api_socket << "' must be a path of 1..107 bytes";
  } else if (o.max_metric_processes < 1 || o.max_metric_processes > 100000) {
    err << "--max-metric-processes: " << o.max_metric_processes << " is out of range (1..100000)";
  } else if (o.max_edges < 1 || o.max_edges > 1000000) {
    err << "--max-edges: " << o.max_edges << " is out of range (1..1000000)";
  } else if (o.kubelet_log_dir.empty() || o.kubelet_log_dir.front() != '/') {
    err << "--kubelet-log-dir: '" << o.kubelet_log_dir << "' is not an absolute path";
  } else if (o.kernel_reads != "auto" && o.kernel_reads != "probe-read") {
    err << "--kernel-reads: '" << o.kernel_reads << "' is not auto or probe-read";
  } else if (o.capture != "auto" && o.capture != "socket" && o.capture != "syscall") {
    err << "--capture: '" << o.capture << "' is not auto, socket or syscall";
  } else if (o.tls != "auto" && o.tls != "off") {
    err << "--tls: '" << o.tls << "' is not auto or off";
  } else if (!HasPort(o.listen)) {
    err << "--listen: '" << o.listen << "' is not ADDR:PORT (PORT a number from 0 to 65535)";
  }
  return err.str();
}

// boost::lexical_cast accepts "-N" for an unsigned type and wraps it modulo 2^bits, so that
// "--max-connections=-4294967280" would silently mean 16. No option takes a negative number:
// returns an error for a minus sign in the value of an unsigned option, else "".
std::string RejectNegative(const po::parsed_options& parsed) {
  for (const po::option& opt : parsed.options) {
    const po::option_description* d = parsed.description->find_nothrow(opt.string_key, false);
    if (d == nullptr) continue;
    const po::value_semantic* semantic = d->semantic().get();
    if (dynamic_cast<const po::typed_value<uint32_t>*>(semantic) == nullptr &&
        dynamic_cast<const po::typed_value<uint64_t>*>(semantic) == nullptr) {
      continue;
    }
    for (const std::string& value : opt.value) {
      if (value.find('-') != std::string::npos) {
        return "--" + opt.string_key + ": '" + value + "' is not a non-negative number";
      }
    }
  }
  return "";
}

ParsedOptions Fail(std::string message) {
  ParsedOptions r;
  r.exit_code = kExitUsage;
  r.output = "tracegapd: " + message + " (see tracegapd --help)\n";
  return r;
}

}  // namespace

ParsedOptions ParseOptions(int argc, const char* const* argv) {
  Options o;
  std::string log_level;
  po::options_description desc = Describe(o, log_level);
  po::options_description checks = DescribeChecks(o);
  po::options_description all;
  all.add(desc).add(checks);
  po::variables_map vm;
  try {
    const po::parsed_options command_line = po::command_line_parser(argc, argv).options(all).run();
    if (std::string err = RejectNegative(command_line); !err.empty()) return Fail(err);
    po::store(command_line, vm);
    if (vm.count("help")) {
      std::ostringstream out;
      out << "tracegapd " << kVersion
          << " - finds where distributed-trace context propagation breaks\n\n"
          << "Usage: tracegapd [options]\n\n"
          << desc << "\n"
          << checks << "\nExit codes: 0 stopped by SIGINT/SIGTERM, 2 bad option or config, "
          << "3 missing privileges, 4 no kernel BTF, 5 no tracefs, 6 BPF load failed, "
          << "7 attach failed, 8 cannot listen (metrics port or API socket), 1 other runtime "
             "error.\n";
      return ParsedOptions{std::nullopt, 0, out.str()};
    }
    if (vm.count("version"))
      return ParsedOptions{std::nullopt, 0, std::string("tracegapd ") + kVersion + "\n"};
    if (vm.count("config")) {
      const std::string path = vm["config"].as<std::string>();
      std::error_code ec;
      // A directory opens as a stream that reads nothing: it would silently mean "no options".
      if (std::filesystem::is_directory(path, ec))
        return Fail("--config: '" + path + "' is a directory");
      std::ifstream file(path);
      if (!file) return Fail("--config: cannot open '" + path + "'");
      try {
        const po::parsed_options config = po::parse_config_file(file, desc);
        if (std::string err = RejectNegative(config); !err.empty()) return Fail(err);
        po::store(config, vm);
      } catch (const po::error& e) {
        // Name the file: a message such as "invalid line" says neither which file nor option.
        return Fail("--config '" + path + "': " + e.what());
      }
    }
    po::notify(vm);
  } catch (const po::error& e) {
    return Fail(e.what());
  }
  if (!ParseLogLevel(log_level, &o.log_level)) {
    return Fail("--log-level: '" + log_level + "' is not one of debug, info, warning, error");
  }
  if (std::string err = Validate(o); !err.empty()) return Fail(err);
  if (!o.verify_json.empty() && !o.verify_only)
    return Fail("--verify-json goes with --verify-only");
  return ParsedOptions{o, 0, ""};
}

}  // namespace tracegap
