#include "correlate/correlator.h"

#include <algorithm>

#include "correlate/edge.h"

namespace tracegap {
namespace {

uint64_t Ns(std::chrono::milliseconds ms) { return static_cast<uint64_t>(ms.count()) * 1000000ull; }

// A traceparent as sent may be any bytes (mangled); keep it short and printable.
std::string Printable(std::string_view v) {
  std::string out;
  for (char c : v.substr(0, 128)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  return out;
}

}  // namespace

Correlator::Correlator(const CorrelatorConfig& config, ProcessTable& table, IdentityLookup identity,
                       WallClock wall)
    : config_(config), table_(table), identity_(std::move(identity)), wall_(std::move(wall)) {}

bool Correlator::Expired(const Inbound& in, uint64_t now_ns) const {
  if (in.end_ns != 0) return in.end_ns + Ns(config_.linger) < now_ns;
  return in.start_ns + Ns(in.message ? config_.message_window : config_.max_request_age) < now_ns;
}

// Called for every request the process sends or receives, so it must not scan the whole list:
// it drops expired requests from the front only (the list is in arrival order, and requests
// mostly expire in that order). Expired ones further in are skipped by Decide, and removed in one
// pass when the list is at its cap (before the oldest request is evicted for room), at most once
// per half a cap of arrivals so that a list full of live requests is not scanned on every one.
void Correlator::Prune(Proc& p, uint64_t now_ns) const {
  while (!p.inbound.empty() && Expired(p.inbound.front(), now_ns)) p.inbound.pop_front();
  if (p.inbound.size() >= config_.max_active_per_process &&
      p.arrivals_since_compaction >= config_.max_active_per_process / 2) {
    std::erase_if(p.inbound, [&](const Inbound& in) { return Expired(in, now_ns); });
    p.arrivals_since_compaction = 0;
  }
}

void Correlator::OnInbound(const RequestSeen& r) {
  ProcessIdentity who = identity_(r.actor.tgid, r.actor.comm);
  table_.CountInbound(who.key, who.identity, r.verdict, wall_());
  Proc& p = procs_[r.actor.tgid];
  if (p.key != who.key) {  // a reused pid: the old process's requests are not this one's
    p.inbound.clear();
    p.key = who.key;
  }
  Prune(p, r.actor.ts_ns);
  const bool message = IsMessaging(r.protocol);
  if (message) {
    // The consumer has moved on to this message: the ones delivered before it on the same
    // channel are done (messages delivered by the same read arrive together and stay active
    // together: which of them the consumer is working on cannot be told).
    for (Inbound& in : p.inbound) {
      if (in.message && in.end_ns == 0 && in.conn_id == r.conn_id && in.stream_id == r.stream_id &&
          in.start_ns < r.actor.ts_ns) {
        in.end_ns = r.actor.ts_ns;
      }
    }
  }
  if (p.inbound.size() >= config_.max_active_per_process) p.inbound.pop_front();
  ++p.arrivals_since_compaction;
  p.inbound.push_back(Inbound{r.conn_id, r.stream_id, r.actor.tid, r.verdict, r.context.trace_id,
                              r.context.parent_id, r.actor.ts_ns, 0, message});
  conn_owner_[r.conn_id] = r.actor.tgid;
}

void Correlator::OnResponse(const ResponseSeen& r) {
  if (!r.inbound) return;  // a response the process received ends nothing of its own
  // 1xx are interim: the request is still being served (101 hands the connection to another
  // protocol, so it does end the HTTP/1 request).
  if (r.status >= 100 && r.status < 200 && r.status != 101) return;
  auto it = procs_.find(r.actor.tgid);
  if (it == procs_.end()) return;
  // The response ends the oldest active request on its connection (HTTP/1 answers in pipeline
  // order) or its stream (HTTP/2). Searched from the newest end: on an HTTP/1 connection the
  // search stops at that connection's last answered request, which is near; an HTTP/2 stream has
  // one request.
  auto& inbound = it->second.inbound;
  Inbound* oldest_active = nullptr;
  for (auto in = inbound.rbegin(); in != inbound.rend(); ++in) {
    if (in->conn_id != r.conn_id || in->stream_id != r.stream_id) continue;
    if (in->end_ns != 0) break;
    oldest_active = &*in;
    if (r.stream_id != 0) break;
  }
  if (oldest_active) oldest_active->end_ns = std::max(r.actor.ts_ns, oldest_active->start_ns);
}

void Correlator::OnConnectionClosed(uint64_t conn_id, uint64_t ts_ns) {
  auto owner = conn_owner_.find(conn_id);
  if (owner == conn_owner_.end()) return;
  auto it = procs_.find(owner->second);
  conn_owner_.erase(owner);
  if (it == procs_.end()) return;
  for (Inbound& in : it->second.inbound) {
    if (in.end_ns == 0 && in.conn_id == conn_id) in.end_ns = std::max(ts_ns, in.start_ns);
  }
}

void Correlator::OnEventsLost(uint64_t ts_ns) {
  loss_until_ns_ = std::max<uint64_t>(loss_until_ns_, ts_ns + Ns(config_.linger) + 1000000000ull);
}

void Correlator::ForgetProcess(uint32_t tgid) {
  auto it = procs_.find(tgid);
  if (it == procs_.end()) return;
  for (const Inbound& in : it->second.inbound) conn_owner_.erase(in.conn_id);
  procs_.erase(it);
}

Outcome Correlator::Decide(const RequestSeen& out, const Proc* p,
                           std::vector<const Inbound*>& deciders) const {
  if (out.verdict == ContextVerdict::kUnknown) return Outcome::kUnknown;
  deciders.clear();
  if (p) {
    // The sending thread's own active request decides alone when it has exactly one
    // (thread-per-request servers). With several (an event loop receives every request on one
    // thread) or none (a worker pool), every active or lingering request of the process decides.
    const uint64_t now = out.actor.ts_ns;
    const Inbound* own = nullptr;
    int own_count = 0;
    for (const Inbound& in : p->inbound) {
      if (in.end_ns == 0 && in.tid == out.actor.tid && !Expired(in, now)) {
        own = &in;
        ++own_count;
      }
    }
    // Not for a consumed message: a consumer often receives the next message while it still
    // works on the one before (a push-based subscription, a prefetch), so the thread's newest
    // message is not necessarily the one its call serves; all recent messages decide.
    if (own_count == 1 && !own->message) {
      deciders.push_back(own);
    } else {
      for (const Inbound& in : p->inbound) {
        if (!Expired(in, now)) deciders.push_back(&in);
      }
    }
  }
  if (deciders.empty()) {
    return out.actor.ts_ns <= loss_until_ns_ ? Outcome::kUnknown : Outcome::kOrigin;
  }
  bool any_valid = false, any_unknown = false, trace_match = false, exact_match = false;
  for (const Inbound* in : deciders) {
    if (in->verdict == ContextVerdict::kUnknown) any_unknown = true;
    if (in->verdict != ContextVerdict::kValid) continue;
    any_valid = true;
    if (out.verdict == ContextVerdict::kValid && in->trace_id == out.context.trace_id) {
      trace_match = true;
      if (in->parent_id == out.context.parent_id) exact_match = true;
    }
  }
  if (!any_valid) return any_unknown ? Outcome::kUnknown : Outcome::kUntracedUpstream;
  switch (out.verdict) {
    case ContextVerdict::kMissing:
      return Outcome::kDropped;
    case ContextVerdict::kMalformed:
      return Outcome::kMangled;
    case ContextVerdict::kValid:
      if (exact_match) return Outcome::kPassthrough;
      if (trace_match) return Outcome::kPropagated;
      // The trace may be that of an inbound request whose headers were not fully read.
      return any_unknown ? Outcome::kUnknown : Outcome::kRestarted;
    case ContextVerdict::kUnknown:
      break;
  }
  return Outcome::kUnknown;
}

GapExample Correlator::Example(const RequestSeen& out, Outcome outcome,
                               const std::vector<const Inbound*>& deciders) const {
  GapExample ex;
  ex.time_unix_ms = wall_();
  ex.outcome = outcome;
  ex.protocol = out.protocol;
  ex.method = Printable(out.method);
  ex.authority = Printable(out.authority);
  ex.path = Printable(out.path);
  ex.peer = PeerAddress(out.tuple);
  ex.tls = out.actor.tls;
  for (const Inbound* in : deciders) {
    if (in->verdict == ContextVerdict::kValid && ex.inbound_trace_ids.size() < 8) {
      ex.inbound_trace_ids.push_back(in->trace_id.ToHex());
    }
  }
  ex.outbound_traceparent = Printable(out.traceparent);
  return ex;
}

Outcome Correlator::OnOutbound(const RequestSeen& r, GapExample* example) {
  ProcessIdentity who = identity_(r.actor.tgid, r.actor.comm);
  Proc* p = nullptr;
  if (auto it = procs_.find(r.actor.tgid); it != procs_.end() && it->second.key == who.key) {
    p = &it->second;
    Prune(*p, r.actor.ts_ns);
  }
  std::vector<const Inbound*> deciders;
  const Outcome outcome = Decide(r, p, deciders);
  if (IsGap(outcome)) {
    GapExample ex = Example(r, outcome, deciders);
    if (example) *example = ex;
    table_.CountOutbound(who.key, who.identity, outcome, wall_(), &ex);
  } else {
    table_.CountOutbound(who.key, who.identity, outcome, wall_(), nullptr);
  }
  return outcome;
}

}  // namespace tracegap
