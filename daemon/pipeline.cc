#include "pipeline.h"

#include <unordered_set>

#include "log.h"

namespace tracegap {

Pipeline::Pipeline(const PipelineConfig& config, Metrics& metrics, ProcessInfoCache& processes,
                   ProcessTable& table, WallClock wall)
    : metrics_(metrics),
      processes_(processes),
      table_(table),
      wall_(wall),
      correlator_(
          config.correlator, table,
          [this](uint32_t tgid, std::string_view comm) { return Identify(tgid, comm); }, wall),
      tracker_(config.max_connections, config.max_header_bytes, *this) {}

ProcessIdentity Pipeline::Identify(uint32_t tgid, std::string_view comm) {
  const ProcessInfo& info = processes_.Get(tgid);
  ProcessIdentity who;
  who.key = ProcessKey{tgid, info.start_time};
  who.identity.comm = std::string(comm);
  who.identity.unit = info.unit;
  who.identity.exe = info.exe;
  return who;
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
  const std::string& unit = processes_.Get(r.actor.tgid).unit;
  metrics_.CountRequest(direction, protocol, Label(r.verdict), r.actor.comm, unit, r.actor.tls);
  if (r.verdict == ContextVerdict::kMalformed) {
    metrics_.CountMalformed(direction, "traceparent", Label(r.context.traceparent_error),
                            r.actor.comm, unit);
  }
  if (r.verdict != ContextVerdict::kUnknown &&
      r.context.tracestate_error != TracestateError::kNone) {
    metrics_.CountMalformed(direction, "tracestate", Label(r.context.tracestate_error),
                            r.actor.comm, unit);
  }
  if (r.verdict != ContextVerdict::kUnknown && r.context.tracestate_has_duplicates) {
    metrics_.CountTracestateDuplicates(direction);
  }
  for (LegacyFormat f : ListLegacyFormats(r.context.legacy)) {
    metrics_.CountLegacy(direction, Label(f), r.actor.comm, unit);
  }
  // A broker's messages are the publishers', not its own work: counted above, not correlated.
  if (r.relayed) return;
  if (r.inbound) {
    correlator_.OnInbound(r);
  } else {
    const Outcome outcome = correlator_.OnOutbound(r);
    metrics_.CountOutbound(Label(outcome), protocol, r.actor.comm, unit, r.actor.tls);
  }
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
}

}  // namespace tracegap
