#include "cli/app.h"

#include <boost/program_options.hpp>
#include <charconv>
#include <optional>
#include <string_view>
#include <vector>

#include "cli/client.h"
#include "cli/exit_codes.h"
#include "cli/format.h"
#include "cli/model.h"
#include "cli/table.h"
#include "version.h"

namespace tracegap::cli {
namespace {

namespace po = boost::program_options;

constexpr const char* kDefaultSocket = "/run/tracegap/api.sock";

struct Invocation {
  std::string socket;
  std::string command;
  po::variables_map vm;  // the command's own options
};

int Report(std::ostream& err, const Failure& f) {
  err << "tracegap: " << SanitizeForTerminal(f.message) << "\n";
  return f.code;
}

int UsageError(std::ostream& err, const std::string& message) {
  return Report(err, Failure{kExitUsage, message + " (see tracegap --help)"});
}

po::options_description CommandOptions(const std::string& command) {
  po::options_description d;
  d.add_options()("help,h", "")("socket", po::value<std::string>(), "")("json", po::bool_switch(),
                                                                        "");
  if (command == "processes") {
    d.add_options()("sort", po::value<std::string>()->default_value("gaps"), "")(
        "all", po::bool_switch(), "");
  } else if (command == "process") {
    d.add_options()("pid", po::value<std::string>(), "");
  } else if (command == "edges") {
    d.add_options()("all", po::bool_switch(), "");
  }
  return d;
}

// Decodes a document into T, or fails as a malformed answer.
template <typename T, typename Decode>
std::optional<T> DecodeOrReport(const Document& doc, Decode decode, std::ostream& err, int* code) {
  T value{};
  std::string error;
  if (decode(doc, &value, &error)) return value;
  *code = Report(err, Failure{kExitMalformed, "malformed response from tracegapd: " + error});
  return std::nullopt;
}

int Processes(const Invocation& inv, std::ostream& out, std::ostream& err) {
  const std::optional<SortKey> key = ParseSortKey(inv.vm["sort"].as<std::string>());
  if (!key) {
    return UsageError(err, "invalid --sort '" + inv.vm["sort"].as<std::string>() +
                               "': expected gaps, gap-ratio or outbound");
  }
  QueryResult q = Query(inv.socket, "/v1/processes", false);
  if (!q.document) return Report(err, q.failure);
  int code = kExitOk;
  auto rows = DecodeOrReport<std::vector<ProcessRow>>(*q.document, DecodeProcessList, err, &code);
  if (!rows) return code;
  if (inv.vm["json"].as<bool>()) {
    out << PrintDocument(*q.document, 2) << "\n";
    return kExitOk;
  }
  const bool all = inv.vm["all"].as<bool>();
  std::vector<ProcessRow> selected = SelectRows(std::move(*rows), *key, all);
  if (selected.empty()) {
    out << (all ? "no processes seen yet\n"
                : "no process has made outbound HTTP requests yet (--all lists every process)\n");
  } else {
    out << FormatProcessTable(selected);
  }
  return kExitOk;
}

int Process(const Invocation& inv, std::ostream& out, std::ostream& err) {
  if (!inv.vm.count("pid")) return UsageError(err, "process: missing PID");
  const std::string& text = inv.vm["pid"].as<std::string>();
  uint32_t pid = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), pid);
  if (text.empty() || text[0] == '+' || ec != std::errc() || end != text.data() + text.size() ||
      pid == 0) {
    return UsageError(err, "invalid PID '" + text + "': expected a positive number");
  }
  QueryResult q = Query(inv.socket, "/v1/processes/" + std::to_string(pid), true);
  if (!q.document) return Report(err, q.failure);
  int code = kExitOk;
  auto detail = DecodeOrReport<ProcessDetail>(*q.document, DecodeProcessDetail, err, &code);
  if (!detail) return code;
  out << (inv.vm["json"].as<bool>() ? PrintDocument(*q.document, 2) + "\n"
                                    : FormatProcessDetail(*detail));
  return kExitOk;
}

int Edges(const Invocation& inv, std::ostream& out, std::ostream& err) {
  QueryResult q = Query(inv.socket, "/v1/edges", false);
  if (!q.document) return Report(err, q.failure);
  int code = kExitOk;
  auto list = DecodeOrReport<EdgeList>(*q.document, DecodeEdges, err, &code);
  if (!list) return code;
  if (inv.vm["json"].as<bool>()) {
    out << PrintDocument(*q.document, 2) << "\n";
    return kExitOk;
  }
  const bool all = inv.vm["all"].as<bool>();
  const std::vector<EdgeRow> selected = SelectEdges(std::move(list->edges), all);
  if (selected.empty()) {
    out << (all ? "no outbound requests seen yet\n"
                : "no edge has carried requests with context to pass on yet (--all lists every "
                  "edge)\n");
  } else {
    out << FormatEdgeTable(selected);
  }
  if (list->folded_requests > 0) {
    out << "note: " << list->edges_tracked << " of at most " << list->max_edges
        << " (client, server) pairs tracked; " << list->folded_requests
        << " requests on later pairs are counted under server _other (tracegapd --max-edges)\n";
  }
  return kExitOk;
}

int Status(const Invocation& inv, std::ostream& out, std::ostream& err) {
  QueryResult q = Query(inv.socket, "/v1/status", false);
  if (!q.document) return Report(err, q.failure);
  int code = kExitOk;
  auto status = DecodeOrReport<StatusInfo>(*q.document, DecodeStatus, err, &code);
  if (!status) return code;
  out << (inv.vm["json"].as<bool>() ? PrintDocument(*q.document, 2) + "\n" : FormatStatus(*status));
  return kExitOk;
}

// The index of the command word: the first argument that is neither an option nor the value
// of --socket. Global options may come before it, command options after it.
int FindCommand(int argc, const char* const* argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--socket") {
      ++i;
    } else if (a.empty() || a[0] != '-') {
      return i;
    }
  }
  return argc;
}

}  // namespace

std::string HelpText() {
  return std::string("tracegap ") + kVersion +
         " - asks tracegapd which processes break W3C trace context propagation\n"
         "\n"
         "Usage: tracegap [--socket PATH] COMMAND [OPTIONS]\n"
         "\n"
         "Commands:\n"
         "  processes [--sort gaps|gap-ratio|outbound] [--all] [--json]\n"
         "      Processes that made outbound requests, worst first (default --sort gaps: most\n"
         "      gaps, then highest gap ratio, then most outbound requests). --all includes\n"
         "      processes without outbound requests. --json prints the daemon's document\n"
         "      (every process, unsorted) instead of the table.\n"
         "  process PID [--json]\n"
         "      One process: identity, counts per outcome, and recent gap examples.\n"
         "  edges [--all] [--json]\n"
         "      Edges (client workload -> server the requests name), worst first (highest gap\n"
         "      ratio, then most gaps), each with its newest gap. Without --all, only edges\n"
         "      whose client had context to pass on.\n"
         "  status [--json]\n"
         "      The daemon's version, uptime, capture hooks (socket layer or syscalls) and\n"
         "      variant (degraded, and why, when the kernel refused a better one), and kernel\n"
         "      drop counters.\n"
         "\n"
         "Options:\n"
         "  --socket PATH   tracegapd's API socket. Precedence: --socket, then $TRACEGAP_SOCKET\n"
         "                  (if set and not empty), then /run/tracegap/api.sock.\n"
         "  --json          print JSON instead of text\n"
         "  -h, --help      print this help and exit\n"
         "  --version       print the version and exit\n"
         "\n"
         "Table columns: WORKLOAD = the process's Kubernetes namespace/pod, else its container,\n"
         "else its systemd unit, else its name; IN = inbound requests, IN-CTX% = share of them "
         "with a valid\n"
         "traceparent, OUT = outbound requests, PROPAGATED/PASSTHRU/DROPPED/RESTARTED/MANGLED =\n"
         "outbound outcomes, GAP% = (dropped+restarted+mangled) / outbound requests made with\n"
         "context to pass on. '-' means the denominator is 0.\n"
         "\n"
         "Exit codes:\n"
         "  0  success\n"
         "  1  tracegapd is not running (no socket, connection refused) or did not answer\n"
         "  2  usage error\n"
         "  3  permission denied (the API is for root and the daemon's user)\n"
         "  4  tracegapd knows no process with that PID\n"
         "  5  malformed or unexpected response from tracegapd\n";
}

int RunCli(int argc, const char* const* argv, std::ostream& out, std::ostream& err,
           const char* env_socket) {
  const int cmd = FindCommand(argc, argv);
  Invocation inv;
  po::variables_map global;
  std::string stage;  // names the command in errors about its options
  try {
    po::options_description desc;
    desc.add_options()("help,h", "")("version", "")("socket", po::value<std::string>(), "");
    po::store(
        po::command_line_parser(std::vector<std::string>(argv + 1, argv + cmd)).options(desc).run(),
        global);
    if (global.count("help")) {
      out << HelpText();
      return kExitOk;
    }
    if (global.count("version")) {
      out << "tracegap " << kVersion << "\n";
      return kExitOk;
    }
    if (cmd >= argc)
      return UsageError(err, "missing command (processes, process, edges or status)");
    inv.command = argv[cmd];
    if (inv.command != "processes" && inv.command != "process" && inv.command != "edges" &&
        inv.command != "status") {
      return UsageError(err, "unknown command '" + inv.command + "'");
    }
    stage = inv.command + ": ";
    po::positional_options_description positional;
    if (inv.command == "process") positional.add("pid", 1);
    po::store(po::command_line_parser(std::vector<std::string>(argv + cmd + 1, argv + argc))
                  .options(CommandOptions(inv.command))
                  .positional(positional)
                  .run(),
              inv.vm);
    po::notify(inv.vm);
  } catch (const po::error& e) {
    return UsageError(err, stage + e.what());
  }
  if (inv.vm.count("help")) {
    out << HelpText();
    return kExitOk;
  }
  if (inv.vm.count("socket")) {
    inv.socket = inv.vm["socket"].as<std::string>();
  } else if (global.count("socket")) {
    inv.socket = global["socket"].as<std::string>();
  } else if (env_socket != nullptr && *env_socket != '\0') {
    inv.socket = env_socket;
  } else {
    inv.socket = kDefaultSocket;
  }
  if (inv.command == "processes") return Processes(inv, out, err);
  if (inv.command == "process") return Process(inv, out, err);
  if (inv.command == "edges") return Edges(inv, out, err);
  return Status(inv, out, err);
}

}  // namespace tracegap::cli
