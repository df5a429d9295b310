#pragma once
// Turns the HTTP/2 frame records the kernel emits for one TCP connection (both directions; see
// bpf/tracegap.h) into requests, responses and stream ends. Pure and synchronous: no clock, BPF,
// metrics or logging; everything goes to a StreamSink during Feed() and Close().
//
// Sync, per direction (a direction is the bytes this process sent, kEgress, or received):
//   - The first event decides: TG_DATA_H2_FROM_START means the direction is followed from its
//     first frame and header blocks are HPACK-decoded; without it the connection was joined late
//     ("unsynced"): frames are followed and requests counted, but no block is ever decoded,
//     because the dynamic table is unknown.
//   - TG_DATA_LOST_BEFORE: the direction is broken for good and its later bytes are ignored (the
//     kernel cannot say where the next frame starts).
//   - Errors (errors.h) that a conforming peer would answer by closing the connection (bad frame
//     lengths, bad stream ids, CONTINUATION misuse, ...) do the same: the bytes are not the frame
//     stream they should be, so nothing more is read from that direction, not even to count.
//   - HPACK failures (hpack_invalid, header_block_too_large, frame_too_large on a header frame)
//     break only the HPACK state: frames are still followed and later requests are still
//     reported, with decoded == false (context "unknown"), since frame boundaries stay exact.
//   - The other direction carries on: each direction has its own HPACK state. It loses only the
//     knowledge of the broken side's SETTINGS, which makes it accept any table size up to the cap.
// state() sums this up for the connection gauge.
//
// Roles: the client is the side that sends requests. The first of these decides it, for good:
// SetClientDirection(); a decoded block with :method (its sender is the client) or :status (its
// sender is the server); for an undecoded block, its first field when that is a static-table
// pseudo-header (see PeekBlockKind); a PUSH_PROMISE or a block on an even stream (sent by the
// server); a second block on a stream from the other side than the first. Until then, an
// undecoded block on a stream not seen before is taken to open it.
//
// Per odd (client-initiated) stream: the first request block is reported by OnRequest; the first
// non-1xx block from the other side by OnResponse (a response seen before its request, which
// happens when the two directions' events race, is held and reported right after the request);
// later blocks are trailers and are not reported. A stream ends with END_STREAM both ways,
// RST_STREAM, a server GOAWAY that excludes it, eviction (more than max_streams tracked: the
// lowest id goes) or Close(); OnStreamEnd reports it if its request was reported. Requests on
// streams already closed (ids never go down) are ignored; server-initiated (push) streams are
// decoded for HPACK's sake but not reported.
//
// Memory is bounded per connection by Limits: at most one buffered frame payload and one block's
// decoded fields per direction, two dynamic tables and max_streams stream entries.
//
// Thread safety: none. One owner (the thread handling the connection's events) calls every
// method; distinct instances are independent.

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string_view>

#include "protocols/header_field.h"
#include "protocols/http2/direction_decoder.h"
#include "protocols/http2/errors.h"
#include "vocabulary.h"

namespace tracegap::http2 {

enum class State : uint8_t { kSynced, kUnsynced, kBroken };

inline constexpr std::array kStates = {State::kSynced, State::kUnsynced, State::kBroken};

// The value of tracegap_http2_connections{state}.
constexpr std::string_view Label(State s) {
  switch (s) {
    case State::kSynced:
      return "synced";
    case State::kUnsynced:
      return "unsynced";
    case State::kBroken:
      return "broken";
  }
  return "invalid";
}

// Views are valid only during the StreamSink call.
struct StreamRequest {
  Direction direction = Direction::kEgress;  // kEgress: this process sent it (outbound)
  uint32_t stream_id = 0;
  // false: the block could not be decoded (unsynced or broken direction, HPACK error, decoded
  // size over the limit): the caller reports the context as unknown. Then every view is empty.
  bool decoded = false;
  Protocol protocol = Protocol::kHttp2;  // kGrpc when content-type is application/grpc*
  std::string_view method;
  std::string_view path;       // :path without its query or fragment
  std::string_view authority;  // :authority, else the host field
  std::string_view content_type;
  std::span<const HeaderField> headers;  // every field, pseudo-headers included
  bool end_stream = false;               // no request body follows
};

struct StreamResponse {
  Direction direction = Direction::kIngress;  // of the response bytes
  uint32_t stream_id = 0;
  bool decoded = false;
  uint16_t status = 0;                   // from :status; 0 when not decoded (or not 3 digits)
  std::span<const HeaderField> headers;  // empty if not decoded, or if held (see above)
};

enum class StreamEndReason : uint8_t {
  kComplete,  // END_STREAM both ways
  kReset,     // RST_STREAM
  kRefused,   // above the last stream id of the server's GOAWAY
  kEvicted,   // dropped to make room
  kClosed,    // the connection closed first
};

struct StreamEnd {
  Direction request_direction = Direction::kEgress;
  uint32_t stream_id = 0;
  StreamEndReason reason = StreamEndReason::kComplete;
  bool response_seen = false;
};

// Receives what a Connection produces, synchronously from Feed() and Close(). An implementation
// must not call back into the same Connection.
class StreamSink {
 public:
  virtual void OnRequest(const StreamRequest& request) = 0;
  virtual void OnResponse(const StreamResponse& response) = 0;
  virtual void OnStreamEnd(const StreamEnd& end) { (void)end; }
  // One call per occurrence; `reason` is one of kErrorLabels.
  virtual void OnError(std::string_view reason) = 0;

 protected:
  ~StreamSink() = default;
};

class Connection final : private DirectionSink {
 public:
  explicit Connection(const Limits& limits = {});

  // The bytes and tg_data_flags of one HTTP/2 data event (the caller routes on TG_DATA_HTTP2;
  // only TG_DATA_H2_FROM_START and TG_DATA_LOST_BEFORE are read here). Never throws on bad input.
  void Feed(Direction dir, std::string_view bytes, uint16_t flags, StreamSink& sink);
  // The connection closed: reports truncated frames, unmatched responses and open streams, then
  // the instance is as if new.
  void Close(StreamSink& sink);

  State state() const;
  // A hint from whoever knows which side connected; overrides what the traffic suggests.
  void SetClientDirection(Direction client) { client_ = client; }
  // The connection began as HTTP/1 and switched by an h2c upgrade: stream 1 is the upgrade
  // request, already reported as HTTP/1 (RFC 7540 3.2), so its response is not one
  // without a request.
  void MarkUpgraded() { upgraded_ = true; }
  std::optional<Direction> client_direction() const { return client_; }
  std::size_t tracked_streams() const { return streams_.size(); }
  // Bytes held in buffers (frame payloads, decoded fields) of both directions.
  std::size_t buffer_capacity() const;

 private:
  struct Stream {
    bool request_seen = false;
    bool response_seen = false;
    bool early = false;  // a response is held until its request shows up
    bool early_decoded = false;
    Direction request_dir = Direction::kEgress;
    Direction early_dir = Direction::kIngress;
    uint16_t early_status = 0;
    std::array<bool, 2> ended{};  // END_STREAM seen, by direction
  };
  using StreamMap = std::map<uint32_t, Stream>;

  void OnBlock(Direction dir, const HeaderBlock& block) override;
  void OnEndStream(Direction dir, uint32_t stream_id) override;
  void OnReset(Direction dir, uint32_t stream_id) override;
  void OnGoaway(Direction dir, uint32_t last_stream_id) override;
  void OnSettings(Direction dir, const Frame& settings) override;
  void OnError(Direction dir, Error error) override;

  void OnRequestBlock(Direction dir, const HeaderBlock& block, StreamMap::iterator it);
  void OnResponseBlock(Direction dir, const HeaderBlock& block, StreamMap::iterator it);
  void Learn(Direction client);
  StreamMap::iterator Insert(uint32_t stream_id);
  void EndSide(StreamMap::iterator it, Direction dir);
  StreamMap::iterator End(StreamMap::iterator it, StreamEndReason reason);
  void DropUnmatched(StreamMap::iterator it);
  void ResolveEarly(uint32_t below);
  DirectionDecoder& dir(Direction d) { return dirs_[static_cast<uint8_t>(d) & 1]; }

  Limits limits_;
  std::array<DirectionDecoder, 2> dirs_;
  StreamSink* sink_ = nullptr;  // during Feed() and Close()
  std::optional<Direction> client_;
  StreamMap streams_;
  bool upgraded_ = false;
  uint32_t max_request_id_ = 0;
  std::size_t early_count_ = 0;
};

}  // namespace tracegap::http2
