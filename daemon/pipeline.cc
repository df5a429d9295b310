#include "pipeline.h"

#include "log.h"

namespace tracegap {

Pipeline::Pipeline(const PipelineConfig& config, Metrics& metrics, ProcessInfoCache& processes)
    : metrics_(metrics),
      processes_(processes),
      tracker_(config.max_connections, config.max_header_bytes, *this) {}

void Pipeline::OnRecord(std::span<const uint8_t> record) {
  const DecodedEvent ev = DecodeEvent(record);
  if (ev.error != DecodeError::kNone) {
    metrics_.CountParseError("ringbuf", Label(ev.error));
    TG_LOG(Debug) << "dropped ring buffer record of " << record.size() << " bytes: " << Label(ev.error);
    return;
  }
  if (ev.kind == TG_EVENT_CLOSE) {
    tracker_.OnClose(ev.close);
  } else {
    tracker_.OnData(ev.data);
  }
}

void Pipeline::OnRequest(const RequestSeen& r) {
  const std::string_view direction = r.inbound ? "inbound" : "outbound";
  const std::string_view protocol = Label(r.protocol);
  const std::string& unit = processes_.Get(r.actor.tgid).unit;
  metrics_.CountRequest(direction, protocol, Label(r.verdict), r.actor.comm, unit);
  if (r.verdict == ContextVerdict::kMalformed) {
    metrics_.CountMalformed(direction, "traceparent", Label(r.context.traceparent_error), r.actor.comm, unit);
  }
  if (r.verdict != ContextVerdict::kUnknown && r.context.tracestate_error != TracestateError::kNone) {
    metrics_.CountMalformed(direction, "tracestate", Label(r.context.tracestate_error), r.actor.comm, unit);
  }
  for (LegacyFormat f : ListLegacyFormats(r.context.legacy)) {
    metrics_.CountLegacy(direction, Label(f), r.actor.comm, unit);
  }
}

void Pipeline::OnResponse(const ResponseSeen&) {
  // Responses bound the active time of inbound requests; the correlator uses them.
}

void Pipeline::OnParseError(Protocol protocol, std::string_view reason) {
  metrics_.CountParseError(Label(protocol), reason);
}

void Pipeline::OnConnectionClosed(uint64_t) {}

}  // namespace tracegap
