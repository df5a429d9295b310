#pragma once
// Per-connection protocol state, fed by data events, reporting requests, responses and messages to
// an Observer: for HTTP/1 one reassembler per direction, and what ends HTTP/1 on the connection
// (http1/upgrade.h: after it, HTTP/1 bytes are no longer parsed); for HTTP/2 (events flagged
// TG_DATA_HTTP2) one frame/HPACK decoder for the connection; for AMQP (TG_DATA_AMQP) one frame
// decoder per direction; for Kafka (TG_DATA_KAFKA) one decoder of requests and responses; for NATS
// (TG_DATA_NATS) one line decoder per direction. Bounded: at most `max_connections` connections,
// the least recently active evicted first (its pending bytes are flushed as incomplete). Not
// thread-safe: one owner thread.

#include <array>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "capture/event_decoder.h"
#include "protocols/amqp/direction_decoder.h"
#include "protocols/http1/reassembler.h"
#include "protocols/http1/upgrade.h"
#include "protocols/http2/connection.h"
#include "protocols/kafka/connection.h"
#include "protocols/nats/direction_decoder.h"
#include "protocols/observation.h"

namespace tracegap {

class ConnectionTracker {
 public:
  ConnectionTracker(size_t max_connections, size_t max_header_bytes, Observer& observer);
  ~ConnectionTracker();

  void OnData(const DataEvent& event);
  void OnClose(const CloseEvent& event);
  // Closes (as OnClose would) every connection that is not in `live` (the kernel no longer tracks
  // it) and has had no event since `idle_before_ns`: its close event was lost. Returns how many.
  size_t CloseUntracked(const std::unordered_set<uint64_t>& live, uint64_t idle_before_ns);
  size_t size() const { return connections_.size(); }
  // HTTP/2 connections by state (indexed by http2::State), for the connections gauge.
  std::array<size_t, 3> Http2States() const;

 private:
  struct Connection {
    std::array<std::unique_ptr<http1::Reassembler>, 2> dirs;  // by Direction; created on first use
    http1::UpgradeWatch upgrade_watch;
    std::optional<Upgrade> became;          // set when HTTP/1 ended on the connection
    std::unique_ptr<http2::Connection> h2;  // created on the first HTTP/2 event
    std::array<std::unique_ptr<amqp::DirectionDecoder>, 2> amqp;  // by Direction
    std::unique_ptr<kafka::Connection> kafka;
    Direction kafka_requests = Direction::kEgress;  // which direction carries Kafka requests
    std::array<std::unique_ptr<nats::DirectionDecoder>, 2> nats;  // by Direction
    std::list<uint64_t>::iterator lru;
    Actor last_actor;  // for messages flushed at close or eviction; its comm views `comm`
    std::string comm;  // at most 15 chars: kept inline, no allocation
  };
  Connection& Touch(uint64_t conn_id);
  void OnHttp1(Connection& conn, const DataEvent& event, const Actor& actor);
  void OnAmqp(Connection& conn, const DataEvent& event, const Actor& actor);
  void OnKafka(Connection& conn, const DataEvent& event, const Actor& actor);
  void OnNats(Connection& conn, const DataEvent& event, const Actor& actor);
  void Flush(uint64_t conn_id, Connection& conn);

  size_t max_connections_;
  size_t max_header_bytes_;
  Observer& observer_;
  std::unordered_map<uint64_t, Connection> connections_;
  std::list<uint64_t> lru_;  // most recently active first
};

}  // namespace tracegap
