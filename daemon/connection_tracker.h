#pragma once
// Per-connection HTTP/1 state: one reassembler per direction, fed by data events, reporting
// requests and responses to an Observer. Bounded: at most `max_connections` connections, the
// least recently active evicted first (its pending bytes are flushed as incomplete).
// Not thread-safe: one owner thread.

#include <array>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>

#include "event_decoder.h"
#include "http1/reassembler.h"
#include "observation.h"

namespace tracegap {

class ConnectionTracker {
 public:
  ConnectionTracker(size_t max_connections, size_t max_header_bytes, Observer& observer);
  ~ConnectionTracker();

  void OnData(const DataEvent& event);
  void OnClose(const CloseEvent& event);
  size_t size() const { return connections_.size(); }

 private:
  struct Connection {
    std::array<std::unique_ptr<http1::Reassembler>, 2> dirs;  // by Direction; created on first use
    std::list<uint64_t>::iterator lru;
    Actor last_actor;  // for messages flushed at close or eviction; its comm views `comm`
    std::string comm;  // at most 15 chars: kept inline, no allocation
  };
  Connection& Touch(uint64_t conn_id);
  void Flush(uint64_t conn_id, Connection& conn);

  size_t max_connections_;
  size_t max_header_bytes_;
  Observer& observer_;
  std::unordered_map<uint64_t, Connection> connections_;
  std::list<uint64_t> lru_;  // most recently active first
};

}  // namespace tracegap
