#pragma once
// The API's documents (see api/render.h) as the CLI reads them. Decoding is strict about the
// fields the CLI shows (missing or mistyped: the answer is malformed) and ignores fields it does
// not know, so a newer daemon can add some without breaking an older CLI.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cli/document.h"
#include "correlate/outcome.h"

namespace tracegap::cli {

// The inbound counters' keys, in the API's order (ContextVerdict's labels).
inline constexpr auto kInboundKeys = Labels(kAllContextVerdicts);

struct ProcessRow {
  uint32_t pid = 0;
  uint64_t start_time = 0;
  std::string comm;
  std::string unit;
  std::string exe;
  std::string workload;  // "" from a daemon older than workload labels
  std::string container;
  std::string namespace_;
  std::array<uint64_t, kInboundKeys.size()> inbound{};  // indexed like kInboundKeys
  OutcomeCounts outbound{};                             // indexed by Outcome
  uint64_t gaps = 0;
  double gap_ratio = 0;
  std::string first_seen;
  std::string last_seen;
  bool exited = false;

  uint64_t inbound_total() const;
  uint64_t inbound_valid() const { return inbound[0]; }
  uint64_t outbound_total() const;
  uint64_t count(Outcome o) const { return outbound[static_cast<size_t>(o)]; }
  // The gap ratio's denominator: outbound requests made with valid context to pass on.
  uint64_t with_context() const;
};

struct ExampleRow {
  std::string time;
  std::string outcome;
  std::string protocol;
  std::string method;
  std::string authority;
  std::string path;
  std::string peer;
  std::vector<std::string> inbound_trace_ids;
  std::string outbound_traceparent;
  bool tls = false;
};

struct ProcessDetail {
  ProcessRow process;
  std::vector<ExampleRow> examples;  // newest last
};

// GET /v1/edges: one row per (client, server, protocol), worst first.
struct EdgeRow {
  std::string client;
  std::string server;
  std::string protocol;
  OutcomeCounts outbound{};  // indexed by Outcome
  uint64_t requests = 0;
  uint64_t gaps = 0;
  double gap_ratio = 0;
  std::string first_seen;
  std::string last_seen;
  std::optional<ExampleRow> last_gap;

  uint64_t count(Outcome o) const { return outbound[static_cast<size_t>(o)]; }
  uint64_t with_context() const { return WithContext(outbound); }
};

struct EdgeList {
  uint64_t max_edges = 0;
  uint64_t edges_tracked = 0;
  uint64_t folded_requests = 0;
  std::vector<EdgeRow> edges;  // in the daemon's order (worst first)
};

struct StatusInfo {
  std::string version;
  double uptime_seconds = 0;
  std::string attach;
  std::string capture;
  bool http2 = false;
  bool degraded = false;
  std::vector<std::string> load_failures;
  std::vector<std::pair<std::string, uint64_t>> kernel_drops;
  uint64_t connections_tracked = 0;
  uint64_t processes_tracked = 0;
  struct TlsLibrary {
    std::string path, kind, error;
    bool attached = false;
    uint64_t probes = 0;
  };
  struct TlsUnseen {
    uint64_t pid = 0, connections = 0;
    std::string comm, exe, reason, detail;
  };
  std::string tls_mode;  // "" from a daemon that reports no TLS
  std::string tls_unavailable;
  std::vector<TlsLibrary> tls_libraries;
  std::vector<TlsUnseen> tls_unseen;
};

// Each returns false and sets *error (naming the offending field) on a document that does not
// match the API.
bool DecodeProcessList(const Document& doc, std::vector<ProcessRow>* out, std::string* error);
bool DecodeProcessDetail(const Document& doc, ProcessDetail* out, std::string* error);
bool DecodeStatus(const Document& doc, StatusInfo* out, std::string* error);
bool DecodeEdges(const Document& doc, EdgeList* out, std::string* error);

}  // namespace tracegap::cli
