#include "pipeline.h"

#include <unordered_set>

#include "correlate/edge.h"
#include "log.h"

namespace tracegap {

Pipeline::Pipeline(const PipelineConfig& config, Metrics& metrics, ProcessInfoCache& processes,
                   ProcessTable& table, EdgeTable& edges, WallClock wall)
    : metrics_(metrics),
      processes_(processes),
      table_(table),
      edges_(edges),
      wall_(wall),
      correlator_(
          config.correlator, table,
          [this](uint32_t tgid, std::string_view comm) { return Identify(tgid, comm); }, wall),
      tracker_(config.max_connections, config.max_header_bytes, *this) {
  metrics_.Tick(wall_());
}

ProcessIdentity Pipeline::Identify(uint32_t tgid, std::string_view comm) {
  const ProcessInfo& info = processes_.Get(tgid);
  ProcessIdentity who;
  who.key = ProcessKey{tgid, info.start_time};
  who.identity.comm = std::string(comm);
  who.identity.unit = info.unit;
  who.identity.exe = info.exe;
  const ProcessLabels labels = LabelsOf(Actor{.tgid = tgid, .comm = comm});
  who.identity.workload = labels.workload;
  who.identity.container = labels.container;
  who.identity.namespace_ = labels.namespace_;
  return who;
}

ProcessLabels Pipeline::LabelsOf(const Actor& actor) {
  const ProcessInfo& info = processes_.Get(actor.tgid);
  const Workload& w = info.workload;
  // The comm fallback is the event's, like the comm label (the cache read /proc/PID/comm once).
  const std::string_view workload =
      w.kind == Workload::Kind::kComm || w.workload.empty() ? actor.comm : w.workload;
  return ProcessLabels{actor.comm, info.unit, workload, w.container, w.namespace_};
}

void Pipeline::OnRecord(std::span<const uint8_t> record) {
  const DecodedEvent ev = DecodeEvent(record);
  if (ev.error != DecodeError::kNone) {
    metrics_.CountParseError("ringbuf", Label(ev.error));
    TG_LOG(Debug) << "dropped ring buffer record of " << record.size()
                  << " bytes: " << Label(ev.error);
    return;
  }
  if (ev.kind == TG_EVENT_CLOSE) {
    last_event_ns_ = std::max<uint64_t>(last_event_ns_, ev.close.ts_ns);
    tracker_.OnClose(ev.close);
  } else if (ev.kind == TG_EVENT_TLS_UNSEEN) {
    TG_LOG(Debug) << "TLS not seen: conn=" << ev.data.header->conn_id
                  << " pid=" << ev.data.header->tgid << " comm=" << ev.data.comm;
    if (tls_unseen_) tls_unseen_(ev.data.header->tgid, ev.data.comm);
  } else {
    last_event_ns_ = std::max<uint64_t>(last_event_ns_, ev.data.header->ts_ns);
    TG_LOG(Debug) << "data conn=" << ev.data.header->conn_id << " pid=" << ev.data.header->tgid
                  << " comm=" << ev.data.comm << " " << Label(ev.data.direction)
                  << " syscall_bytes=" << ev.data.syscall_bytes << " copied=" << ev.data.data.size()
                  << " flags=0x" << std::hex << ev.data.flags;
    tracker_.OnData(ev.data);
  }
}

void Pipeline::OnRequest(const RequestSeen& r) {
  const std::string_view direction = r.inbound ? "inbound" : "outbound";
  const std::string_view protocol = Label(r.protocol);
  const ProcessLabels who = LabelsOf(r.actor);
  metrics_.CountRequest(direction, protocol, Label(r.verdict), who, r.actor.tls);
  if (r.verdict == ContextVerdict::kMalformed) {
    metrics_.CountMalformed(direction, "traceparent", Label(r.context.traceparent_error), who);
  }
  if (r.verdict != ContextVerdict::kUnknown &&
      r.context.tracestate_error != TracestateError::kNone) {
    metrics_.CountMalformed(direction, "tracestate", Label(r.context.tracestate_error), who);
  }
  if (r.verdict != ContextVerdict::kUnknown && r.context.tracestate_has_duplicates) {
    metrics_.CountTracestateDuplicates(direction);
  }
  for (LegacyFormat f : ListLegacyFormats(r.context.legacy)) {
    metrics_.CountLegacy(direction, Label(f), who);
  }
  // A broker's messages are the publishers', not its own work: counted above, not correlated.
  if (r.relayed) return;
  if (r.inbound) {
    correlator_.OnInbound(r);
  } else {
    GapExample example;
    const Outcome outcome = correlator_.OnOutbound(r, &example);
    metrics_.CountOutbound(Label(outcome), protocol, who, r.actor.tls);
    CountEdge(r, who, outcome, IsGap(outcome) ? &example : nullptr);
  }
}

// The edge of an outbound request: its sender's workload to the server it names (for a message,
// the broker it went to: an exchange, topic or subject is not a server).
void Pipeline::CountEdge(const RequestSeen& r, const ProcessLabels& who, Outcome outcome,
                         const GapExample* example) {
  const std::string_view client = metrics_.EdgeClient(who);
  const std::string server = EdgeServer(IsMessaging(r.protocol) ? std::string_view() : r.authority,
                                        r.actor.tls, PeerAddress(r.tuple));
  const EdgeTable::Counted counted =
      edges_.Count(client, server, r.protocol, outcome, wall_(), example);
  if (counted.evicted) metrics_.RemoveEdge(counted.evicted->first, counted.evicted->second);
  metrics_.CountEdge(client, counted.server, Label(r.protocol), Label(outcome));
}

void Pipeline::OnResponse(const ResponseSeen& r) { correlator_.OnResponse(r); }

void Pipeline::OnUpgrade(uint64_t, Upgrade to) { metrics_.CountUpgrade(Label(to)); }

void Pipeline::OnParseError(Protocol protocol, std::string_view reason) {
  if (protocol == Protocol::kHttp1 || IsMessaging(protocol)) {
    metrics_.CountParseError(Label(protocol), reason);
  } else {
    metrics_.CountHpackError(reason);
  }
}

void Pipeline::OnConnectionClosed(uint64_t conn_id) {
  correlator_.OnConnectionClosed(conn_id, last_event_ns_);
}

void Pipeline::ReapProcesses() {
  const int64_t now = wall_();
  metrics_.Tick(now);
  std::unordered_set<uint32_t> live;
  for (const ProcessKey& key : table_.LiveKeys()) {
    if (processes_.CurrentStartTime(key.pid) == key.start_time) {
      live.insert(key.pid);
      continue;
    }
    table_.MarkExited(key, now);
    correlator_.ForgetProcess(key.pid);
    processes_.Forget(key.pid);
  }
  // A process evicted from the table (--max-processes) is not checked above: its cached /proc
  // data (start time, unit, exe) would otherwise outlive it and be given to the next process
  // that gets its pid. Only processes in the table are cached past this point; the others are
  // read again from /proc when they are next seen.
  processes_.ForgetIf([&live](uint32_t pid) { return !live.contains(pid); });
  table_.Expire(now);
  const EdgeTable::Totals edges = edges_.totals();
  metrics_.SetEdges(edges.pairs, edges.max_pairs, edges.folded);
}

}  // namespace tracegap
