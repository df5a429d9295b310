#pragma once
// The local query API's JSON documents, as pure functions of the data model (no I/O, clocks or
// globals; safe to call from any thread). The field names are the API's contract with the
// tracegap CLI and with scripts: add fields, never rename or remove one.
//
//   GET /v1/processes      {"processes": [<process>, ...]}
//   GET /v1/processes/PID  <process> plus "gap_examples": [<example>, ...] (newest last)
//   GET /v1/edges          {max_edges, edges_tracked, folded_requests, edges: [<edge>, ...]}
//                          (worst first: correlate/edge_table.h SortWorstFirst)
//   GET /v1/status         {version, uptime_seconds, attach, kernel_drops: {reason: count},
//                           connections_tracked, processes_tracked, tls: {mode, unavailable,
//                           libraries: [{path, kind, attached, error, probes}], unseen: [{pid,
//                           comm, exe, reason, detail, connections}]}}
//   errors                 {"error": "<message>"}
//
// <process>: pid, start_time, comm, unit, exe, workload, container, namespace, inbound {valid,
// missing, malformed, unknown}, outbound {origin, untraced_upstream, propagated, passthrough,
// dropped, restarted, mangled, unknown}, gaps, gap_ratio, first_seen, last_seen, exited. <edge>:
// client, server, protocol, outbound {<outcome>: count, ...}, requests, gaps, gap_ratio,
// first_seen, last_seen, last_gap (<example> or null).
// <example>: time, outcome, protocol, method, authority, path, peer, inbound_trace_ids [...],
// outbound_traceparent, tls.
// Times are RFC 3339 UTC with milliseconds ("2026-11-24T19:55:00.123Z").

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "correlate/edge_table.h"
#include "correlate/process_table.h"

namespace tracegap::api {

std::string RenderProcessList(const std::vector<ProcessSnapshot>& processes);
std::string RenderProcessDetail(const ProcessSnapshot& process);
std::string RenderStatus(const DaemonStatus& status);
// `edges` in the order given (the router sorts them worst first).
std::string RenderEdges(const std::vector<EdgeSnapshot>& edges, const EdgeTable::Totals& totals);
std::string RenderError(std::string_view message);

// RFC 3339 UTC with milliseconds. Clamped to years 0000..9999, the range RFC 3339 can express.
std::string FormatTimestamp(int64_t unix_ms);

}  // namespace tracegap::api
