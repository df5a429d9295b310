#include "protocols/connection_tracker.h"

#include <string>
#include <vector>

#include "protocols/amqp/reporter.h"
#include "protocols/http2/reporter.h"
#include "protocols/kafka/reporter.h"
#include "protocols/nats/reporter.h"
#include "protocols/request_report.h"

namespace tracegap {
namespace {

// Adapts the reassembler's callbacks for one event (or one flush) to Observer reports.
class SinkForEvent final : public http1::MessageSink {
 public:
  SinkForEvent(Observer& observer, const Actor& actor, Direction direction, uint64_t conn_id,
               const tg_tuple* tuple, http1::UpgradeWatch* watch = nullptr,
               std::optional<Upgrade>* became = nullptr)
      : observer_(observer),
        actor_(actor),
        direction_(direction),
        conn_id_(conn_id),
        tuple_(tuple),
        watch_(watch),
        became_(became) {}

  void OnMessage(const http1::Message& m) override {
    Report(m);
    // After the response that ends HTTP/1, the rest of the bytes are another protocol's.
    if (watch_ && !*became_) {
      if (std::optional<Upgrade> to = watch_->OnMessage(m)) {
        *became_ = to;
        observer_.OnUpgrade(conn_id_, *to);
      }
    }
  }

  void OnError(http1::ParseError reason) override {
    if (became_ && *became_) return;  // bytes after the upgrade, in the same event
    observer_.OnParseError(Protocol::kHttp1, http1::ParseErrorLabel(reason));
  }

 private:
  void Report(const http1::Message& m) {
    if (became_ && *became_) return;  // a message-like start in the bytes after the upgrade
    const bool received = direction_ == Direction::kIngress;
    if (m.kind == http1::MessageKind::kRequest) {
      RequestSeen r;
      r.actor = actor_;
      r.inbound = received;
      r.protocol = Protocol::kHttp1;
      r.method = m.method;
      r.path = m.path;
      r.authority = m.authority;
      r.conn_id = conn_id_;
      r.tuple = tuple_;
      ReportRequest(observer_, r, m.headers,
                    m.complete ? HeadersRead::kComplete : HeadersRead::kPartly);
    } else {
      ResponseSeen r;
      r.actor = actor_;
      r.inbound = !received;  // a response the actor sent answers a request it received
      r.protocol = Protocol::kHttp1;
      r.status = m.status;
      r.complete = m.complete;
      r.conn_id = conn_id_;
      observer_.OnResponse(r);
    }
    if (!m.complete)
      observer_.OnParseError(Protocol::kHttp1, http1::ParseErrorLabel(m.incomplete_reason));
  }

  Observer& observer_;
  Actor actor_;
  Direction direction_;
  uint64_t conn_id_;
  const tg_tuple* tuple_;
  http1::UpgradeWatch* watch_;
  std::optional<Upgrade>* became_;
};

}  // namespace

ConnectionTracker::ConnectionTracker(size_t max_connections, size_t max_header_bytes,
                                     Observer& observer)
    : max_connections_(max_connections), max_header_bytes_(max_header_bytes), observer_(observer) {}

ConnectionTracker::~ConnectionTracker() = default;

ConnectionTracker::Connection& ConnectionTracker::Touch(uint64_t conn_id) {
  auto it = connections_.find(conn_id);
  if (it != connections_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return it->second;
  }
  if (connections_.size() >= max_connections_ && !lru_.empty()) {
    const uint64_t victim = lru_.back();
    auto v = connections_.find(victim);
    Flush(victim, v->second);
    connections_.erase(v);
    lru_.pop_back();
    observer_.OnConnectionClosed(victim);
  }
  lru_.push_front(conn_id);
  Connection& conn = connections_[conn_id];
  conn.lru = lru_.begin();
  return conn;
}

void ConnectionTracker::OnData(const DataEvent& event) {
  const uint64_t conn_id = event.header->conn_id;
  Connection& conn = Touch(conn_id);
  if (conn.comm != event.comm) conn.comm.assign(event.comm);
  conn.last_actor =
      Actor{event.header->tgid, event.header->tid, conn.comm, event.header->ts_ns, event.tls};
  Actor actor{event.header->tgid, event.header->tid, event.comm, event.header->ts_ns, event.tls};
  if (event.flags & TG_DATA_AMQP) {
    OnAmqp(conn, event, actor);
    return;
  }
  if (event.flags & TG_DATA_KAFKA) {
    OnKafka(conn, event, actor);
    return;
  }
  if (event.flags & TG_DATA_NATS) {
    OnNats(conn, event, actor);
    return;
  }
  if (event.flags & TG_DATA_HTTP2) {
    // HTTP/2 after a 101 only for an h2c upgrade asked for and agreed; the kernel's sign of
    // HTTP/2 after another upgrade (a SETTINGS-like first frame) is not trusted.
    if (conn.became && *conn.became != Upgrade::kH2c) {
      observer_.OnParseError(Protocol::kHttp1,
                             http1::ParseErrorLabel(http1::ParseError::kFramesAfterUpgrade));
      return;
    }
    if (!conn.h2) {
      conn.h2 = std::make_unique<http2::Connection>();
      if (conn.became) conn.h2->MarkUpgraded();
    }
    Http2Reporter reporter(observer_, actor, conn_id, event.tuple);
    conn.h2->Feed(event.direction, event.data, event.flags, reporter);
    return;
  }
  OnHttp1(conn, event, actor);
}

void ConnectionTracker::OnHttp1(Connection& conn, const DataEvent& event, const Actor& actor) {
  if (conn.became) {
    // The kernel stops copying at the end of the block that ended HTTP/1; bytes after it mean
    // the two disagree. Counted, never parsed.
    observer_.OnParseError(Protocol::kHttp1,
                           http1::ParseErrorLabel(http1::ParseError::kDataAfterUpgrade));
    return;
  }
  auto& reassembler = conn.dirs[static_cast<size_t>(event.direction)];
  if (!reassembler) reassembler = std::make_unique<http1::Reassembler>(max_header_bytes_);
  SinkForEvent sink(observer_, actor, event.direction, event.header->conn_id, event.tuple,
                    &conn.upgrade_watch, &conn.became);
  reassembler->Feed(event.data, event.flags, sink);
}

void ConnectionTracker::OnKafka(Connection& conn, const DataEvent& event, const Actor& actor) {
  if (!conn.kafka) conn.kafka = std::make_unique<kafka::Connection>(max_header_bytes_);
  const bool requests = (event.flags & TG_DATA_KAFKA_REQUESTS) != 0;
  conn.kafka_requests = requests                                ? event.direction
                        : event.direction == Direction::kEgress ? Direction::kIngress
                                                                : Direction::kEgress;
  KafkaReporter reporter(observer_, actor, conn.kafka_requests, event.header->conn_id, event.tuple);
  conn.kafka->Feed(requests, event.data, event.flags, reporter);
}

void ConnectionTracker::OnNats(Connection& conn, const DataEvent& event, const Actor& actor) {
  auto& decoder = conn.nats[static_cast<size_t>(event.direction)];
  if (!decoder) decoder = std::make_unique<nats::DirectionDecoder>(max_header_bytes_);
  NatsReporter reporter(observer_, actor, event.direction, event.header->conn_id, event.tuple);
  decoder->Feed(event.data, event.flags, reporter);
}

void ConnectionTracker::OnAmqp(Connection& conn, const DataEvent& event, const Actor& actor) {
  auto& decoder = conn.amqp[static_cast<size_t>(event.direction)];
  if (!decoder) decoder = std::make_unique<amqp::DirectionDecoder>(max_header_bytes_);
  AmqpReporter reporter(observer_, actor, event.direction, event.header->conn_id, event.tuple);
  decoder->Feed(event.data, event.flags, reporter);
}

std::array<size_t, 3> ConnectionTracker::Http2States() const {
  std::array<size_t, 3> counts{};
  for (const auto& [id, conn] : connections_) {
    if (conn.h2) counts[static_cast<size_t>(conn.h2->state())]++;
  }
  return counts;
}

void ConnectionTracker::Flush(uint64_t conn_id, Connection& conn) {
  if (conn.h2) {
    Http2Reporter reporter(observer_, conn.last_actor, conn_id, nullptr);
    conn.h2->Close(reporter);
  }
  for (size_t d = 0; d < conn.dirs.size(); ++d) {
    if (!conn.dirs[d] || conn.dirs[d]->pending_bytes() == 0) continue;
    SinkForEvent sink(observer_, conn.last_actor, static_cast<Direction>(d), conn_id, nullptr);
    conn.dirs[d]->Close(sink);
  }
  for (size_t d = 0; d < conn.amqp.size(); ++d) {
    if (!conn.amqp[d]) continue;
    AmqpReporter reporter(observer_, conn.last_actor, static_cast<Direction>(d), conn_id, nullptr);
    conn.amqp[d]->Close(reporter);
  }
  if (conn.kafka) {
    KafkaReporter reporter(observer_, conn.last_actor, conn.kafka_requests, conn_id, nullptr);
    conn.kafka->Close(reporter);
  }
  for (size_t d = 0; d < conn.nats.size(); ++d) {
    if (!conn.nats[d]) continue;
    NatsReporter reporter(observer_, conn.last_actor, static_cast<Direction>(d), conn_id, nullptr);
    conn.nats[d]->Close(reporter);
  }
}

size_t ConnectionTracker::CloseUntracked(const std::unordered_set<uint64_t>& live,
                                         uint64_t idle_before_ns) {
  std::vector<uint64_t> lost;
  for (const auto& [id, conn] : connections_) {
    if (!live.contains(id) && conn.last_actor.ts_ns < idle_before_ns) lost.push_back(id);
  }
  for (uint64_t id : lost) {
    CloseEvent close{};
    close.conn_id = id;
    OnClose(close);
  }
  return lost.size();
}

void ConnectionTracker::OnClose(const CloseEvent& event) {
  auto it = connections_.find(event.conn_id);
  if (it == connections_.end()) return;
  Flush(event.conn_id, it->second);
  lru_.erase(it->second.lru);
  connections_.erase(it);
  observer_.OnConnectionClosed(event.conn_id);
}

}  // namespace tracegap
