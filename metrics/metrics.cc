#include "metrics.h"

#include <map>

namespace tracegap {
namespace {

prometheus::Family<prometheus::Counter>& CounterFamily(prometheus::Registry& r, const char* name,
                                                       const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(r);
}

}  // namespace

Metrics::Metrics(std::string_view version, std::string_view attach,
                 std::span<const std::string_view> kernel_drop_reasons,
                 std::span<const std::string_view> hpack_error_reasons,
                 std::span<const std::string_view> http2_states, size_t max_identities)
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(CounterFamily(*registry_, "tracegap_requests_total",
                              "HTTP requests seen, by direction (inbound: received by the process; "
                              "outbound: sent by it) and trace context verdict")),
      malformed_(CounterFamily(*registry_, "tracegap_malformed_total",
                               "Requests with an invalid traceparent or tracestate, by reason")),
      legacy_(CounterFamily(*registry_, "tracegap_legacy_headers_total",
                            "Requests carrying a legacy (non-W3C) trace header, by format")),
      parse_errors_(
          CounterFamily(*registry_, "tracegap_parse_errors_total",
                        "Captured bytes that could not be parsed, by protocol and reason")),
      kernel_drops_(
          CounterFamily(*registry_, "tracegap_kernel_drops_total",
                        "Kernel-side capture failures, by reason: each may have lost an event")),
      outbound_(CounterFamily(*registry_, "tracegap_outbound_total",
                              "Outbound requests by propagation outcome (see docs/semantics.md); "
                              "gaps are dropped, restarted and mangled")),
      edges_(CounterFamily(
          *registry_, "tracegap_edge_requests_total",
          "Outbound requests by edge: client (the sending workload), server (the Host or "
          ":authority the request names, else the peer address; \"_other\" past --max-edges), "
          "protocol and propagation outcome")),
      connections_tracked_(prometheus::BuildGauge()
                               .Name("tracegap_connections_tracked")
                               .Help("TCP connections whose HTTP state the daemon holds")
                               .Register(*registry_)
                               .Add({})),
      hpack_errors_(
          CounterFamily(*registry_, "tracegap_hpack_errors_total",
                        "HTTP/2 frame and HPACK decoding errors, by reason; each marks the "
                        "connection direction broken or its header block undecodable")),
      upgrades_(CounterFamily(*registry_, "tracegap_connection_upgrades_total",
                              "Connections on which HTTP/1 ended, by what they became: h2c "
                              "(followed as HTTP/2), websocket, tunnel (a 2xx answer to CONNECT) "
                              "or other; nothing after that is parsed as HTTP/1")),
      tracestate_duplicates_(
          CounterFamily(*registry_, "tracegap_tracestate_duplicates_total",
                        "Requests and messages whose tracestate repeats a key: a sender's bug, "
                        "valid per W3C Trace Context Level 2 (not counted as malformed)")),
      tls_attach_failures_(CounterFamily(
          *registry_, "tracegap_tls_attach_failures_total",
          "TLS uprobes that could not be attached to a TLS library, by reason: no_symbol, "
          "permission, no_file, other (`tracegap status` names the library and the error)")),
      tls_unseen_(CounterFamily(
          *registry_, "tracegap_tls_unseen_connections_total",
          "TLS connections whose plaintext is not read, by why: go, static_openssl, boringssl, "
          "java, rustls, outside_probes, no_known_library, unreadable, exited (`tracegap "
          "status` lists the processes still running)")),
      tls_libraries_(prometheus::BuildGauge()
                         .Name("tracegap_tls_libraries")
                         .Help("TLS libraries found, by state: attached (their plaintext is "
                               "read) or failed")
                         .Register(*registry_)) {
  auto& h2 = prometheus::BuildGauge()
                 .Name("tracegap_http2_connections")
                 .Help(
                     "HTTP/2 connections tracked, by state: synced (decoded from their start), "
                     "unsynced (joined late: requests counted as unknown), broken (lost sync)")
                 .Register(*registry_);
  for (std::string_view state : http2_states)
    http2_connections_.push_back(&h2.Add({{"state", std::string(state)}}));
  for (std::string_view reason : hpack_error_reasons)
    Get(hpack_errors_, hpack_errors_cache_, {{"reason", reason}});
  // Both directions at 0: a rate() on them works from the first scrape.
  for (std::string_view direction : {"inbound", "outbound"})
    Get(tracestate_duplicates_, tracestate_duplicates_cache_, {{"direction", direction}});
  prometheus::BuildGauge()
      .Name("tracegap_build_info")
      .Help("Always 1; labels give the version and the capture mechanism")
      .Register(*registry_)
      .Add({{"version", std::string(version)}, {"attach", std::string(attach)}})
      .Set(1);
  for (std::string_view reason : kernel_drop_reasons) {
    kernel_drop_counters_.push_back(&kernel_drops_.Add({{"reason", std::string(reason)}}));
  }
  kernel_drop_seen_.assign(kernel_drop_counters_.size(), 0);
  max_identities_ = max_identities;
  requests_cache_.family = &requests_;
  malformed_cache_.family = &malformed_;
  legacy_cache_.family = &legacy_;
  outbound_cache_.family = &outbound_;
  edges_cache_.family = &edges_;
  auto& reclaimed = CounterFamily(
      *registry_, "tracegap_label_sets_reclaimed_total",
      "Label sets whose series were removed to make room for new ones, by kind: process (a "
      "process identity idle past the reclaim time while --max-metric-processes were tracked) or "
      "edge (a (client, server) pair idle while --max-edges were tracked)");
  reclaimed_processes_ = &reclaimed.Add({{"kind", "process"}});
  reclaimed_edges_ = &reclaimed.Add({{"kind", "edge"}});
  auto& edges = prometheus::BuildGauge()
                    .Name("tracegap_edges")
                    .Help(
                        "Distinct (client, server) pairs with series of their own (tracked), "
                        "and how many may have (limit: --max-edges)")
                    .Register(*registry_);
  edges_tracked_ = &edges.Add({{"state", "tracked"}});
  edges_limit_ = &edges.Add({{"state", "limit"}});
  edges_folded_ = &CounterFamily(*registry_, "tracegap_edge_requests_folded_total",
                                 "Outbound requests counted under server=\"_other\" because "
                                 "--max-edges pairs were tracked already")
                       .Add({});
}

void Metrics::SetCaptureInfo(std::string_view hooks, std::string_view build, bool http2,
                             bool degraded) {
  prometheus::BuildGauge()
      .Name("tracegap_capture_info")
      .Help(
          "Always 1; labels give the capture variant that runs: hooks (socket: the socket layer's "
          "tracepoints, Linux 6.3+; syscall: syscall tracepoints), build (direct-reads: plain "
          "kernel loads, Linux 6.2+; probe-reads: bpf_probe_read_kernel) and http2 (on: HTTP/2 "
          "frames followed; off: HTTP/1 only)")
      .Register(*registry_)
      .Add({{"hooks", std::string(hooks)},
            {"build", std::string(build)},
            {"http2", http2 ? "on" : "off"}})
      .Set(1);
  prometheus::BuildGauge()
      .Name("tracegap_capture_degraded")
      .Help(
          "1 when the kernel refused a better capture variant (tracegap status says which and "
          "why), else 0")
      .Register(*registry_)
      .Add({})
      .Set(degraded ? 1 : 0);
}

std::string Metrics::LabelValue(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  size_t i = 0;
  while (i < raw.size()) {
    const auto c = static_cast<unsigned char>(raw[i]);
    if (c < 0x80) {
      out.push_back(c < 0x20 || c == 0x7f ? '?' : static_cast<char>(c));
      ++i;
      continue;
    }
    // A multi-byte sequence: its length from the lead byte, then continuation bytes, no overlong
    // form, no surrogate, nothing above U+10FFFF.
    size_t len = c >= 0xc2 && c <= 0xdf   ? 2
                 : c >= 0xe0 && c <= 0xef ? 3
                 : c >= 0xf0 && c <= 0xf4 ? 4
                                          : 0;
    bool ok = len != 0 && i + len <= raw.size();
    for (size_t k = 1; ok && k < len; ++k)
      ok = (static_cast<unsigned char>(raw[i + k]) & 0xc0) == 0x80;
    if (ok && len >= 3) {
      const auto c1 = static_cast<unsigned char>(raw[i + 1]);
      if ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 >= 0xa0) || (c == 0xf0 && c1 < 0x90) ||
          (c == 0xf4 && c1 >= 0x90)) {
        ok = false;
      }
    }
    if (!ok) {
      out.push_back('?');
      ++i;
      continue;
    }
    out.append(raw.substr(i, len));
    i += len;
  }
  return out;
}

// Keys join label values with their lengths in front, so that no value (a comm may hold any
// byte) can make two label sets share a key.
static void AppendKeyPart(std::string& key, std::string_view value) {
  const auto len = static_cast<uint32_t>(value.size());
  key.append(reinterpret_cast<const char*>(&len), sizeof(len));
  key.append(value);
}

const std::string& Metrics::CacheKey(LabelList labels) {
  key_.clear();
  for (const auto& [name, value] : labels) AppendKeyPart(key_, value);
  return key_;
}

void Metrics::Hold(prometheus::Counter* counter) { ++holders_[counter]; }

void Metrics::Reclaim(LabelSet& set) {
  for (auto& [cache, key] : set.keys) {
    auto it = cache->map.find(key);
    if (it == cache->map.end()) continue;
    prometheus::Counter* counter = it->second.counter;
    cache->map.erase(it);
    auto held = holders_.find(counter);
    if (held != holders_.end() && --held->second == 0) {
      holders_.erase(held);
      cache->family->Remove(counter);
    }
  }
  set.keys.clear();
}

Metrics::LabelSet* Metrics::Admit(const ProcessLabels& who) {
  // Called for every outbound request (EdgeClient): the key is built in a reused buffer.
  std::string& id = id_;
  id.clear();
  for (std::string_view v : {who.comm, who.unit, who.workload, who.container, who.namespace_})
    AppendKeyPart(id, v);
  if (auto it = identities_.find(id); it != identities_.end()) {
    it->second.last_used_ms = now_ms_;
    return &it->second;
  }
  if (identities_.size() >= max_identities_) {
    // Full: the identity idle longest gives its place, if it has been idle long enough. The scan
    // runs at most once until the oldest one could be idle enough.
    if (reclaim_after_ms_ <= 0 || now_ms_ < no_idle_identity_before_ms_) return nullptr;
    auto oldest = identities_.begin();
    for (auto it = identities_.begin(); it != identities_.end(); ++it) {
      if (it->second.last_used_ms < oldest->second.last_used_ms) oldest = it;
    }
    if (oldest == identities_.end() || now_ms_ - oldest->second.last_used_ms < reclaim_after_ms_) {
      no_idle_identity_before_ms_ = oldest == identities_.end()
                                        ? now_ms_ + reclaim_after_ms_
                                        : oldest->second.last_used_ms + reclaim_after_ms_;
      return nullptr;
    }
    Reclaim(oldest->second);
    identities_.erase(oldest);
    reclaimed_processes_->Increment();
  }
  LabelSet& set = identities_[id];
  set.last_used_ms = now_ms_;
  return &set;
}

prometheus::Counter& Metrics::GetOwned(SeriesCache& cache, LabelSet* owner,
                                       const std::map<std::string, std::string>& labels) {
  prometheus::Counter* c = &cache.family->Add(labels);
  Hold(c);
  cache.map.emplace(key_, Series{c, owner});
  if (owner) owner->keys.emplace_back(&cache, key_);
  return *c;
}

prometheus::Counter& Metrics::GetForProcess(SeriesCache& cache, LabelList labels,
                                            const ProcessLabels& who) {
  static constexpr const char* kNames[] = {"comm", "unit", "workload", "container", "namespace"};
  const std::string_view values[] = {who.comm, who.unit, who.workload, who.container,
                                     who.namespace_};
  // Hot path: a label set seen before. Only admitted identities' keys are ever cached, so the
  // cache is bounded too.
  key_.clear();
  for (const auto& [name, value] : labels) AppendKeyPart(key_, value);
  for (std::string_view v : values) AppendKeyPart(key_, v);
  if (auto it = cache.map.find(key_); it != cache.map.end()) {
    if (it->second.owner) it->second.owner->last_used_ms = now_ms_;
    return *it->second.counter;
  }
  LabelSet* owner = Admit(who);
  key_.clear();
  for (const auto& [name, value] : labels) AppendKeyPart(key_, value);
  for (std::string_view v : values) AppendKeyPart(key_, owner ? v : kOther);
  if (auto it = cache.map.find(key_); it != cache.map.end()) return *it->second.counter;
  std::map<std::string, std::string> label_map;
  for (const auto& [name, value] : labels) label_map.emplace(name, std::string(value));
  for (size_t i = 0; i < std::size(values); ++i)
    label_map.emplace(kNames[i], owner ? LabelValue(values[i]) : std::string(kOther));
  return GetOwned(cache, owner, label_map);
}

prometheus::Counter& Metrics::Get(prometheus::Family<prometheus::Counter>& family, Counters& cache,
                                  LabelList labels) {
  // Family::Add hashes and locks; the cache keeps the hot path to one string build and lookup.
  auto it = cache.find(CacheKey(labels));
  if (it != cache.end()) return *it->second;
  std::map<std::string, std::string> label_map;
  for (const auto& [name, value] : labels) label_map.emplace(name, std::string(value));
  prometheus::Counter* c = &family.Add(label_map);
  cache.emplace(key_, c);
  return *c;
}

void Metrics::CountRequest(std::string_view direction, std::string_view protocol,
                           std::string_view context, const ProcessLabels& who, bool tls) {
  GetForProcess(requests_cache_,
                {{"direction", direction},
                 {"protocol", protocol},
                 {"context", context},
                 {"tls", tls ? "true" : "false"}},
                who)
      .Increment();
}

void Metrics::CountMalformed(std::string_view direction, std::string_view header,
                             std::string_view reason, const ProcessLabels& who) {
  GetForProcess(malformed_cache_,
                {{"direction", direction}, {"header", header}, {"reason", reason}}, who)
      .Increment();
}

void Metrics::CountLegacy(std::string_view direction, std::string_view format,
                          const ProcessLabels& who) {
  GetForProcess(legacy_cache_, {{"direction", direction}, {"format", format}}, who).Increment();
}

void Metrics::CountParseError(std::string_view protocol, std::string_view reason) {
  Get(parse_errors_, parse_errors_cache_, {{"protocol", protocol}, {"reason", reason}}).Increment();
}

void Metrics::CountOutbound(std::string_view outcome, std::string_view protocol,
                            const ProcessLabels& who, bool tls) {
  GetForProcess(outbound_cache_,
                {{"outcome", outcome}, {"protocol", protocol}, {"tls", tls ? "true" : "false"}},
                who)
      .Increment();
}

std::string_view Metrics::EdgeClient(const ProcessLabels& who) {
  return Admit(who) ? who.workload : std::string_view(kOther);
}

// The EdgeTable bounds and reclaims pairs; here each pair (but "_other" ones) owns its series so
// that RemoveEdge can take them out.
static std::string PairKey(std::string_view client, std::string_view server) {
  std::string key;
  AppendKeyPart(key, client);
  AppendKeyPart(key, server);
  return key;
}

void Metrics::CountEdge(std::string_view client, std::string_view server, std::string_view protocol,
                        std::string_view outcome) {
  if (auto it = edges_cache_.map.find(CacheKey(
          {{"client", client}, {"server", server}, {"protocol", protocol}, {"outcome", outcome}}));
      it != edges_cache_.map.end()) {
    it->second.counter->Increment();
    return;
  }
  LabelSet* owner = server == kOther ? nullptr : &edge_pairs_[PairKey(client, server)];
  CacheKey({{"client", client}, {"server", server}, {"protocol", protocol}, {"outcome", outcome}});
  GetOwned(edges_cache_, owner,
           {{"client", LabelValue(client)},
            {"server", LabelValue(server)},
            {"protocol", std::string(protocol)},
            {"outcome", std::string(outcome)}})
      .Increment();
}

void Metrics::RemoveEdge(std::string_view client, std::string_view server) {
  auto it = edge_pairs_.find(PairKey(client, server));
  if (it == edge_pairs_.end()) return;
  Reclaim(it->second);
  edge_pairs_.erase(it);
  reclaimed_edges_->Increment();
}

void Metrics::SetEdges(size_t tracked, size_t limit, uint64_t folded_total) {
  edges_tracked_->Set(static_cast<double>(tracked));
  edges_limit_->Set(static_cast<double>(limit));
  if (folded_total > edges_folded_seen_) {
    edges_folded_->Increment(static_cast<double>(folded_total - edges_folded_seen_));
    edges_folded_seen_ = folded_total;
  }
}

void Metrics::DeclareTls(std::span<const std::string_view> attach_failures,
                         std::span<const std::string_view> unseen) {
  for (std::string_view r : attach_failures)
    Get(tls_attach_failures_, tls_attach_failures_cache_, {{"reason", r}});
  for (std::string_view r : unseen) Get(tls_unseen_, tls_unseen_cache_, {{"reason", r}});
  for (const char* state : {"attached", "failed"})
    tls_library_gauges_.push_back(&tls_libraries_.Add({{"state", state}}));
}

void Metrics::CountTlsAttachFailure(std::string_view reason) {
  Get(tls_attach_failures_, tls_attach_failures_cache_, {{"reason", reason}}).Increment();
}

void Metrics::CountTlsUnseen(std::string_view reason) {
  Get(tls_unseen_, tls_unseen_cache_, {{"reason", reason}}).Increment();
}

void Metrics::SetTlsLibraries(size_t attached, size_t failed) {
  if (tls_library_gauges_.size() != 2) return;
  tls_library_gauges_[0]->Set(static_cast<double>(attached));
  tls_library_gauges_[1]->Set(static_cast<double>(failed));
}

void Metrics::SetKernelDrops(std::span<const uint64_t> totals) {
  for (size_t i = 0; i < totals.size() && i < kernel_drop_counters_.size(); ++i) {
    if (totals[i] > kernel_drop_seen_[i]) {
      kernel_drop_counters_[i]->Increment(static_cast<double>(totals[i] - kernel_drop_seen_[i]));
      kernel_drop_seen_[i] = totals[i];
    }
  }
}

void Metrics::SetConnectionsTracked(size_t n) { connections_tracked_.Set(static_cast<double>(n)); }

void Metrics::CountHpackError(std::string_view reason) {
  Get(hpack_errors_, hpack_errors_cache_, {{"reason", reason}}).Increment();
}

void Metrics::DeclareUpgrades(std::span<const std::string_view> kinds) {
  for (std::string_view to : kinds) Get(upgrades_, upgrades_cache_, {{"to", to}});
}

void Metrics::CountUpgrade(std::string_view to) {
  Get(upgrades_, upgrades_cache_, {{"to", to}}).Increment();
}

void Metrics::CountTracestateDuplicates(std::string_view direction) {
  Get(tracestate_duplicates_, tracestate_duplicates_cache_, {{"direction", direction}}).Increment();
}

void Metrics::SetHttp2Connections(std::span<const size_t> per_state) {
  for (size_t i = 0; i < per_state.size() && i < http2_connections_.size(); ++i) {
    http2_connections_[i]->Set(static_cast<double>(per_state[i]));
  }
}

}  // namespace tracegap
