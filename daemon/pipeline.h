#pragma once
// The daemon's event path, top to bottom:
//   ring buffer record -> DecodeEvent -> ConnectionTracker (HTTP/1 reassembly and parsing)
//   -> Observer reports (requests, responses, parse errors) -> Metrics.
// Not thread-safe: the main thread feeds records; metrics are read by scrapes concurrently,
// which prometheus-cpp makes safe.

#include <cstdint>
#include <span>

#include "connection_tracker.h"
#include "metrics.h"
#include "observation.h"
#include "process_info.h"

namespace tracegap {

struct PipelineConfig {
  size_t max_connections = 65536;
  size_t max_header_bytes = 4096;
};

class Pipeline final : public Observer {
 public:
  Pipeline(const PipelineConfig& config, Metrics& metrics, ProcessInfoCache& processes);

  // One raw ring buffer record (8-byte aligned).
  void OnRecord(std::span<const uint8_t> record);
  size_t connections() const { return tracker_.size(); }

  void OnRequest(const RequestSeen& request) override;
  void OnResponse(const ResponseSeen& response) override;
  void OnParseError(Protocol protocol, std::string_view reason) override;
  void OnConnectionClosed(uint64_t conn_id) override;

 private:
  Metrics& metrics_;
  ProcessInfoCache& processes_;
  ConnectionTracker tracker_;
};

}  // namespace tracegap
