#include "protocols/connection_tracker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "capture/event_decoder.h"
#include "protocols/observation.h"
#include "protocols/trace_context/trace_context.h"
#include "tracegap.h"

namespace tracegap {
namespace {

constexpr std::string_view kTraceId = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr std::string_view kParentId = "00f067aa0ba902b7";
const std::string kTraceparent =
    "00-" + std::string(kTraceId) + "-" + std::string(kParentId) + "-01";

// Copies of what the tracker reported: the views in the reports die with the callback.
struct Request {
  uint32_t tgid = 0;
  uint32_t tid = 0;
  std::string comm;
  uint64_t ts_ns = 0;
  bool inbound = false;
  Protocol protocol = Protocol::kHttp2;
  ContextVerdict verdict = ContextVerdict::kValid;
  ContextResult context;
  std::string method;
  std::string path;
  std::string authority;
  uint64_t conn_id = 0;
  const tg_tuple* tuple = nullptr;
};

struct Response {
  std::string comm;
  bool inbound = false;
  uint16_t status = 0;
  bool complete = false;
  uint64_t conn_id = 0;
};

class RecordingObserver final : public Observer {
 public:
  void OnRequest(const RequestSeen& r) override {
    calls.push_back("request");
    requests.push_back(Request{r.actor.tgid, r.actor.tid, std::string(r.actor.comm), r.actor.ts_ns,
                               r.inbound, r.protocol, r.verdict, r.context, std::string(r.method),
                               std::string(r.path), std::string(r.authority), r.conn_id, r.tuple});
  }
  void OnResponse(const ResponseSeen& r) override {
    calls.push_back("response");
    responses.push_back(
        Response{std::string(r.actor.comm), r.inbound, r.status, r.complete, r.conn_id});
  }
  void OnParseError(Protocol protocol, std::string_view reason) override {
    calls.push_back("error:" + std::string(Label(protocol)) + ":" + std::string(reason));
  }
  void OnUpgrade(uint64_t conn_id, Upgrade to) override {
    calls.push_back("upgrade:" + std::to_string(conn_id) + ":" + std::string(Label(to)));
  }
  void OnConnectionClosed(uint64_t conn_id) override {
    calls.push_back("closed:" + std::to_string(conn_id));
  }

  std::vector<std::string> calls;  // every callback, in order
  std::vector<Request> requests;
  std::vector<Response> responses;
};

// One connection as the kernel would describe it: owns the header and tuple that DataEvents
// point to, as a ring buffer record would.
class FakeConnection {
 public:
  FakeConnection(uint64_t conn_id, uint32_t tgid, std::string comm) : comm_(std::move(comm)) {
    header_.kind = TG_EVENT_DATA;
    header_.tgid = tgid;
    header_.tid = tgid + 1;
    header_.conn_id = conn_id;
    std::memcpy(header_.comm, comm_.data(), std::min<size_t>(comm_.size(), TG_COMM_LEN));
    tuple_.family = 2;
    tuple_.local_port = 8080;
    tuple_.remote_port = 40000;
  }

  DataEvent Data(Direction direction, std::string_view bytes, uint16_t flags = 0) {
    header_.direction = static_cast<uint8_t>(direction);
    header_.flags = flags;
    header_.ts_ns += 1000;
    DataEvent event;
    event.header = &header_;
    event.tuple = &tuple_;
    event.direction = direction;
    event.flags = flags;
    event.syscall_bytes = static_cast<uint32_t>(bytes.size());
    event.data = bytes;
    event.comm = comm_;
    return event;
  }
  DataEvent Ingress(std::string_view bytes, uint16_t flags = 0) {
    return Data(Direction::kIngress, bytes, flags);
  }
  DataEvent Egress(std::string_view bytes, uint16_t flags = 0) {
    return Data(Direction::kEgress, bytes, flags);
  }
  CloseEvent Close() const { return CloseEvent{header_.conn_id, header_.ts_ns + 1}; }

  // Changes the process name the next events carry (the old one's bytes are overwritten).
  void Rename(std::string comm) { comm_.assign(comm); }

  uint64_t conn_id() const { return header_.conn_id; }
  uint64_t ts_ns() const { return header_.ts_ns; }
  const tg_tuple* tuple() const { return &tuple_; }

 private:
  tg_event_header header_{};
  tg_tuple tuple_{};
  std::string comm_;
};

std::string RequestWith(std::string_view extra_headers) {
  return "GET /api/items?token=secret HTTP/1.1\r\nHost: shop.example\r\n" +
         std::string(extra_headers) + "\r\n";
}

const std::string kTracedRequest = RequestWith("traceparent: " + kTraceparent + "\r\n");

class ConnectionTrackerTest : public testing::Test {
 protected:
  RecordingObserver observer_;
  ConnectionTracker tracker_{16, 4096, observer_};
};

TEST_F(ConnectionTrackerTest, InboundRequest) {
  FakeConnection conn(7, 1000, "nginx");
  tracker_.OnData(conn.Ingress(kTracedRequest));

  EXPECT_EQ(observer_.calls, std::vector<std::string>{"request"});
  ASSERT_EQ(observer_.requests.size(), 1u);
  const Request& r = observer_.requests[0];
  EXPECT_TRUE(r.inbound);
  EXPECT_EQ(r.protocol, Protocol::kHttp1);
  EXPECT_EQ(r.verdict, ContextVerdict::kValid);
  EXPECT_EQ(r.context.verdict, ContextVerdict::kValid);
  EXPECT_EQ(r.context.trace_id.ToHex(), kTraceId);
  EXPECT_EQ(r.context.parent_id.ToHex(), kParentId);
  EXPECT_EQ(r.context.flags, 1);
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.path, "/api/items");
  EXPECT_EQ(r.authority, "shop.example");
  EXPECT_EQ(r.tgid, 1000u);
  EXPECT_EQ(r.tid, 1001u);
  EXPECT_EQ(r.comm, "nginx");
  EXPECT_EQ(r.ts_ns, conn.ts_ns());
  EXPECT_EQ(r.conn_id, 7u);
  EXPECT_EQ(r.tuple, conn.tuple());
  EXPECT_EQ(tracker_.size(), 1u);
}

TEST_F(ConnectionTrackerTest, OutboundRequest) {
  FakeConnection conn(8, 2000, "curl");
  tracker_.OnData(conn.Egress(kTracedRequest));
  ASSERT_EQ(observer_.requests.size(), 1u);
  EXPECT_FALSE(observer_.requests[0].inbound);
  EXPECT_EQ(observer_.requests[0].verdict, ContextVerdict::kValid);
  EXPECT_EQ(observer_.requests[0].comm, "curl");
}

TEST_F(ConnectionTrackerTest, ResponseSentAnswersAnInboundRequest) {
  FakeConnection conn(9, 1000, "nginx");
  tracker_.OnData(conn.Ingress(kTracedRequest));
  tracker_.OnData(conn.Egress("HTTP/1.1 204 No Content\r\nServer: nginx\r\n\r\n"));

  EXPECT_EQ(observer_.calls, (std::vector<std::string>{"request", "response"}));
  ASSERT_EQ(observer_.responses.size(), 1u);
  const Response& r = observer_.responses[0];
  EXPECT_TRUE(r.inbound);
  EXPECT_EQ(r.status, 204);
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.conn_id, 9u);
  EXPECT_EQ(r.comm, "nginx");
}

TEST_F(ConnectionTrackerTest, ResponseReceivedAnswersAnOutboundRequest) {
  FakeConnection conn(10, 2000, "curl");
  tracker_.OnData(conn.Ingress("HTTP/1.1 503 Service Unavailable\r\n\r\n"));
  ASSERT_EQ(observer_.responses.size(), 1u);
  EXPECT_FALSE(observer_.responses[0].inbound);
  EXPECT_EQ(observer_.responses[0].status, 503);
}

TEST_F(ConnectionTrackerTest, HeadersSplitOverTwoEvents) {
  FakeConnection conn(11, 1000, "nginx");
  const size_t split = kTracedRequest.find("parent:");
  ASSERT_NE(split, std::string::npos);
  tracker_.OnData(conn.Ingress(std::string_view(kTracedRequest).substr(0, split)));
  EXPECT_TRUE(observer_.calls.empty());

  tracker_.OnData(
      conn.Ingress(std::string_view(kTracedRequest).substr(split), TG_DATA_CONTINUATION));
  EXPECT_EQ(observer_.calls, std::vector<std::string>{"request"});
  ASSERT_EQ(observer_.requests.size(), 1u);
  EXPECT_EQ(observer_.requests[0].verdict, ContextVerdict::kValid);
  EXPECT_EQ(observer_.requests[0].context.trace_id.ToHex(), kTraceId);
  EXPECT_EQ(observer_.requests[0].path, "/api/items");
}

TEST_F(ConnectionTrackerTest, DirectionsAreReassembledSeparately) {
  FakeConnection conn(12, 1000, "nginx");
  const size_t split = kTracedRequest.size() / 2;
  tracker_.OnData(conn.Ingress(std::string_view(kTracedRequest).substr(0, split)));
  // A message in the other direction neither completes nor abandons the pending request.
  tracker_.OnData(conn.Egress("HTTP/1.1 100 Continue\r\n\r\n"));
  tracker_.OnData(
      conn.Ingress(std::string_view(kTracedRequest).substr(split), TG_DATA_CONTINUATION));

  EXPECT_EQ(observer_.calls, (std::vector<std::string>{"response", "request"}));
  ASSERT_EQ(observer_.requests.size(), 1u);
  EXPECT_EQ(observer_.requests[0].verdict, ContextVerdict::kValid);
}

TEST_F(ConnectionTrackerTest, TruncatedRequestIsUnknown) {
  FakeConnection conn(13, 1000, "nginx");
  const std::string partial =
      "GET /big HTTP/1.1\r\nHost: a\r\ntraceparent: " + kTraceparent + "\r\nCookie: aaaa";
  tracker_.OnData(conn.Ingress(partial, TG_DATA_TRUNCATED));

  EXPECT_EQ(observer_.calls, (std::vector<std::string>{"request", "error:http1:truncated"}));
  ASSERT_EQ(observer_.requests.size(), 1u);
  const Request& r = observer_.requests[0];
  EXPECT_EQ(r.verdict, ContextVerdict::kUnknown);
  // What was read is still reported alongside.
  EXPECT_EQ(r.context.verdict, ContextVerdict::kValid);
  EXPECT_EQ(r.path, "/big");
}

TEST_F(ConnectionTrackerTest, MissingTraceparent) {
  FakeConnection conn(14, 1000, "nginx");
  tracker_.OnData(conn.Ingress(RequestWith("Accept: */*\r\n")));
  ASSERT_EQ(observer_.requests.size(), 1u);
  EXPECT_EQ(observer_.requests[0].verdict, ContextVerdict::kMissing);
  EXPECT_TRUE(observer_.requests[0].context.trace_id.IsZero());
}

TEST_F(ConnectionTrackerTest, MalformedTraceparent) {
  FakeConnection conn(15, 1000, "nginx");
  tracker_.OnData(conn.Ingress(RequestWith("traceparent: 00-abc-def-01\r\n")));
  std::string upper = kTraceparent;
  upper[5] = 'F';
  tracker_.OnData(conn.Ingress(RequestWith("traceparent: " + upper + "\r\n")));

  ASSERT_EQ(observer_.requests.size(), 2u);
  EXPECT_EQ(observer_.requests[0].verdict, ContextVerdict::kMalformed);
  EXPECT_EQ(observer_.requests[0].context.traceparent_error, TraceparentError::kLength);
  EXPECT_EQ(observer_.requests[1].verdict, ContextVerdict::kMalformed);
  EXPECT_EQ(observer_.requests[1].context.traceparent_error, TraceparentError::kUppercaseHex);
  // A malformed context is not a parse error: the HTTP message itself is fine.
  EXPECT_EQ(observer_.calls, (std::vector<std::string>{"request", "request"}));
}

TEST_F(ConnectionTrackerTest, InvalidHttpIsAParseError) {
  FakeConnection conn(16, 1000, "nginx");
  tracker_.OnData(conn.Ingress("GET / HTTP/1.1\r\nBad Header: x\r\n\r\n"));
  EXPECT_EQ(observer_.calls, std::vector<std::string>{"error:http1:bad_header_name"});
  EXPECT_TRUE(observer_.requests.empty());
}

TEST_F(ConnectionTrackerTest, CloseFlushesPendingBlockWithConnectionComm) {
  FakeConnection conn(17, 1000, "gunicorn");
  tracker_.OnData(conn.Ingress("POST /submit HTTP/1.1\r\nHost: a\r\n"));
  EXPECT_TRUE(observer_.calls.empty());
  // The event's comm buffer is reused by the time the connection closes.
  conn.Rename("XXXXXXXX");

  tracker_.OnClose(conn.Close());
  EXPECT_EQ(observer_.calls,
            (std::vector<std::string>{"request", "error:http1:closed", "closed:17"}));
  ASSERT_EQ(observer_.requests.size(), 1u);
  const Request& r = observer_.requests[0];
  EXPECT_EQ(r.verdict, ContextVerdict::kUnknown);
  EXPECT_EQ(r.comm, "gunicorn");
  EXPECT_EQ(r.tgid, 1000u);
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.path, "/submit");
  EXPECT_EQ(r.conn_id, 17u);
  EXPECT_TRUE(r.inbound);
  EXPECT_EQ(tracker_.size(), 0u);
}

TEST_F(ConnectionTrackerTest, CloseWithoutPendingBytes) {
  FakeConnection conn(18, 1000, "nginx");
  tracker_.OnData(conn.Ingress(kTracedRequest));
  observer_.calls.clear();
  tracker_.OnClose(conn.Close());
  EXPECT_EQ(observer_.calls, std::vector<std::string>{"closed:18"});
  EXPECT_EQ(tracker_.size(), 0u);
}

TEST_F(ConnectionTrackerTest, CloseOfUnknownConnectionIsIgnored) {
  FakeConnection conn(19, 1000, "nginx");
  tracker_.OnData(conn.Ingress(kTracedRequest));
  observer_.calls.clear();
  tracker_.OnClose(CloseEvent{12345, 1});
  EXPECT_TRUE(observer_.calls.empty());
  EXPECT_EQ(tracker_.size(), 1u);
}

TEST_F(ConnectionTrackerTest, ConnectionIsFreshAfterClose) {
  FakeConnection conn(20, 1000, "nginx");
  tracker_.OnData(conn.Ingress("GET / HTTP/1.1\r\n"));
  tracker_.OnClose(conn.Close());
  observer_.calls.clear();
  // A continuation for the closed connection has no block to continue.
  tracker_.OnData(conn.Ingress("Host: a\r\n\r\n", TG_DATA_CONTINUATION));
  EXPECT_EQ(observer_.calls, std::vector<std::string>{"error:http1:unsynced"});
  EXPECT_EQ(tracker_.size(), 1u);
}

TEST(ConnectionTrackerLruTest, EvictsLeastRecentlyUsed) {
  RecordingObserver observer;
  ConnectionTracker tracker(2, 4096, observer);
  FakeConnection a(1, 100, "a");
  FakeConnection b(2, 200, "b");
  FakeConnection c(3, 300, "c");

  tracker.OnData(a.Ingress(kTracedRequest));
  tracker.OnData(b.Ingress("GET /pending HTTP/1.1\r\n"));  // left pending
  tracker.OnData(a.Egress("HTTP/1.1 200 OK\r\n\r\n"));     // a is now the most recent
  EXPECT_EQ(tracker.size(), 2u);
  observer.calls.clear();
  observer.requests.clear();

  tracker.OnData(c.Ingress(kTracedRequest));
  // b is evicted: its pending block is flushed first, with b's own process name.
  EXPECT_EQ(observer.calls,
            (std::vector<std::string>{"request", "error:http1:closed", "closed:2", "request"}));
  ASSERT_EQ(observer.requests.size(), 2u);
  EXPECT_EQ(observer.requests[0].conn_id, 2u);
  EXPECT_EQ(observer.requests[0].comm, "b");
  EXPECT_EQ(observer.requests[0].verdict, ContextVerdict::kUnknown);
  EXPECT_EQ(observer.requests[1].conn_id, 3u);
  EXPECT_EQ(tracker.size(), 2u);

  // a and c are both still tracked: touching them evicts nothing.
  observer.calls.clear();
  tracker.OnData(a.Ingress(kTracedRequest));
  tracker.OnData(c.Ingress(kTracedRequest));
  EXPECT_EQ(observer.calls, (std::vector<std::string>{"request", "request"}));
  EXPECT_EQ(tracker.size(), 2u);

  // Now c is the most recent, so a new connection evicts a.
  observer.calls.clear();
  tracker.OnData(b.Ingress(kTracedRequest));
  EXPECT_EQ(observer.calls, (std::vector<std::string>{"closed:1", "request"}));
  EXPECT_EQ(tracker.size(), 2u);

  // The evicted connection's close event comes later and is ignored.
  observer.calls.clear();
  tracker.OnClose(a.Close());
  EXPECT_TRUE(observer.calls.empty());
  EXPECT_EQ(tracker.size(), 2u);
}

TEST(ConnectionTrackerLruTest, ClosedConnectionFreesItsSlot) {
  RecordingObserver observer;
  ConnectionTracker tracker(2, 4096, observer);
  FakeConnection a(1, 100, "a");
  FakeConnection b(2, 200, "b");
  FakeConnection c(3, 300, "c");
  tracker.OnData(a.Ingress(kTracedRequest));
  tracker.OnData(b.Ingress(kTracedRequest));
  tracker.OnClose(a.Close());
  observer.calls.clear();

  tracker.OnData(c.Ingress(kTracedRequest));
  EXPECT_EQ(observer.calls, std::vector<std::string>{"request"});  // nothing evicted
  EXPECT_EQ(tracker.size(), 2u);
}

TEST_F(ConnectionTrackerTest, NothingIsParsedAfterAWebsocketUpgrade) {
  FakeConnection c(7, 100, "ws-client");
  tracker_.OnData(
      c.Egress("GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\ntraceparent: " +
               kTraceparent + "\r\n\r\n"));
  tracker_.OnData(
      c.Ingress("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\n\r\n"));
  ASSERT_EQ(observer_.requests.size(), 1u);  // the handshake is a request like any other
  EXPECT_EQ(observer_.requests[0].verdict, ContextVerdict::kValid);
  EXPECT_EQ(observer_.calls,
            (std::vector<std::string>{"request", "response", "upgrade:7:websocket"}));
  observer_.calls.clear();
  // Bytes the kernel should not have sent: HTTP/1-looking, and flagged as HTTP/2 frames.
  tracker_.OnData(c.Egress("GET /x HTTP/1.1\r\nHost: a\r\n\r\n"));
  tracker_.OnData(c.Ingress(std::string("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9),
                            TG_DATA_HTTP2 | TG_DATA_H2_FROM_START));
  EXPECT_EQ(observer_.requests.size(), 1u);
  EXPECT_EQ(observer_.calls, (std::vector<std::string>{"error:http1:data_after_upgrade",
                                                       "error:http1:frames_after_upgrade"}));
}

TEST_F(ConnectionTrackerTest, ConnectTunnelEndsHttp1) {
  FakeConnection c(8, 100, "proxy-client");
  tracker_.OnData(c.Egress("CONNECT db:443 HTTP/1.1\r\nHost: db:443\r\n\r\n"));
  tracker_.OnData(c.Ingress("HTTP/1.1 200 Connection established\r\n\r\n"));
  EXPECT_EQ(observer_.calls, (std::vector<std::string>{"request", "response", "upgrade:8:tunnel"}));
  tracker_.OnData(c.Egress("GET / HTTP/1.1\r\nHost: inner\r\n\r\n"));
  EXPECT_EQ(observer_.requests.size(), 1u);
}

}  // namespace
}  // namespace tracegap
