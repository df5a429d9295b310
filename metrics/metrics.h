#pragma once
// tracegap's Prometheus metrics: names, help texts and label sets in one place.
//
// Every label value is bounded: directions, protocols, verdicts and reasons come from fixed enums;
// comm (15 chars) and unit are per process. No pid, trace id, path or header value is ever a label.
// Thread safety: the Count*/Set* methods must be called from one thread (the pipeline's); scrapes
// run concurrently on the exposer's threads, which prometheus-cpp makes safe.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tracegap {

class Metrics {
 public:
  // `kernel_drop_reasons` are declared at 0 so that alerts on them work from the first scrape.
  // `*_reasons` and `http2_states` are declared at 0 so that alerts on them work from the first
  // scrape.
  Metrics(std::string_view version, std::string_view attach,
          std::span<const std::string_view> kernel_drop_reasons,
          std::span<const std::string_view> hpack_error_reasons,
          std::span<const std::string_view> http2_states);

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  void CountRequest(std::string_view direction, std::string_view protocol, std::string_view context,
                    std::string_view comm, std::string_view unit);
  void CountMalformed(std::string_view direction, std::string_view header, std::string_view reason,
                      std::string_view comm, std::string_view unit);
  void CountLegacy(std::string_view direction, std::string_view format, std::string_view comm,
                   std::string_view unit);
  void CountParseError(std::string_view protocol, std::string_view reason);
  void CountOutbound(std::string_view outcome, std::string_view protocol, std::string_view comm,
                     std::string_view unit);
  // Totals as read from the kernel (monotonic): the counter follows them.
  void SetKernelDrops(std::span<const uint64_t> totals);
  void SetConnectionsTracked(size_t n);
  void CountHpackError(std::string_view reason);
  // HTTP/2 connections per state, in the order of `http2_states` given at construction.
  void SetHttp2Connections(std::span<const size_t> per_state);

 private:
  using Counters = std::unordered_map<std::string, prometheus::Counter*>;
  prometheus::Counter& Get(prometheus::Family<prometheus::Counter>& family, Counters& cache,
                           std::initializer_list<std::pair<const char*, std::string_view>> labels);

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Counter>& malformed_;
  prometheus::Family<prometheus::Counter>& legacy_;
  prometheus::Family<prometheus::Counter>& parse_errors_;
  prometheus::Family<prometheus::Counter>& kernel_drops_;
  prometheus::Family<prometheus::Counter>& outbound_;
  prometheus::Gauge& connections_tracked_;
  prometheus::Family<prometheus::Counter>& hpack_errors_;
  std::vector<prometheus::Gauge*> http2_connections_;
  Counters hpack_errors_cache_;
  Counters requests_cache_, malformed_cache_, legacy_cache_, parse_errors_cache_, outbound_cache_;
  std::vector<prometheus::Counter*> kernel_drop_counters_;
  std::vector<uint64_t> kernel_drop_seen_;
  std::string key_;  // scratch for cache keys
};

}  // namespace tracegap
