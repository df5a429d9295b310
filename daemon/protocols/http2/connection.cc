#include "protocols/http2/connection.h"

#include <algorithm>

namespace tracegap::http2 {
namespace {

Direction Other(Direction d) {
  return d == Direction::kEgress ? Direction::kIngress : Direction::kEgress;
}

std::size_t Index(Direction d) { return static_cast<uint8_t>(d) & 1; }

// Pseudo-headers come first (RFC 9113 section 8.3), so the scan stops at the first regular field.
BlockKind KindOfFields(std::span<const HeaderField> fields) {
  for (const HeaderField& f : fields) {
    if (f.name.empty() || f.name[0] != ':') break;
    if (f.name == ":method") return BlockKind::kRequest;
    if (f.name == ":status") return BlockKind::kResponse;
  }
  return BlockKind::kUnknown;  // trailers
}

uint16_t StatusOf(std::span<const HeaderField> fields) {
  for (const HeaderField& f : fields) {
    if (f.name != ":status") continue;
    const std::string_view v = f.value;
    if (v.size() != 3 ||
        !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return 0;
    }
    return static_cast<uint16_t>((v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0'));
  }
  return 0;
}

// Queries and fragments carry tokens and personal data: they never leave the decoder.
std::string_view PathOf(std::string_view target) {
  return target.substr(0, target.find_first_of("?#"));
}

void FillRequest(std::span<const HeaderField> fields, StreamRequest& r) {
  std::string_view host;
  for (const HeaderField& f : fields) {
    if (f.name == ":method" && r.method.empty())
      r.method = f.value;
    else if (f.name == ":path" && r.path.empty())
      r.path = PathOf(f.value);
    else if (f.name == ":authority" && r.authority.empty())
      r.authority = f.value;
    else if (f.name == "host" && host.empty())
      host = f.value;
    else if (f.name == "content-type" && r.content_type.empty())
      r.content_type = f.value;
  }
  if (r.authority.empty()) r.authority = host;
  if (StartsWithLower(r.content_type, "application/grpc")) r.protocol = Protocol::kGrpc;
  r.headers = fields;
}

}  // namespace

Connection::Connection(const Limits& limits)
    : limits_(limits),
      dirs_{DirectionDecoder(Direction::kEgress, limits),
            DirectionDecoder(Direction::kIngress, limits)} {}

void Connection::Feed(Direction d, std::string_view bytes, uint16_t flags, StreamSink& sink) {
  d = static_cast<Direction>(Index(d));
  sink_ = &sink;
  dir(d).Feed(bytes, flags, *this);
  // A direction whose SETTINGS cannot all be seen leaves the other one without its limits.
  const Mode mode = dir(d).mode();
  if (mode == Mode::kDead || (mode != Mode::kIdle && !dir(d).from_start())) {
    dir(Other(d)).SetPeerUnknown();
  }
  sink_ = nullptr;
}

void Connection::Close(StreamSink& sink) {
  sink_ = &sink;
  // Streams first: whether a held response is an error depends on the directions' sync.
  while (!streams_.empty()) {
    auto it = streams_.begin();
    if (it->second.request_seen) {
      End(it, StreamEndReason::kClosed);
    } else {
      DropUnmatched(it);
    }
  }
  for (DirectionDecoder& d : dirs_) d.Close(*this);
  client_.reset();
  max_request_id_ = 0;
  early_count_ = 0;
  sink_ = nullptr;
}

State Connection::state() const {
  State s = State::kSynced;
  for (const DirectionDecoder& d : dirs_) {
    if (d.mode() == Mode::kBroken || d.mode() == Mode::kDead) return State::kBroken;
    if (d.mode() == Mode::kUnsynced) s = State::kUnsynced;
  }
  return s;
}

std::size_t Connection::buffer_capacity() const {
  return dirs_[0].buffer_capacity() + dirs_[1].buffer_capacity();
}

void Connection::OnError(Direction, Error error) { sink_->OnError(Label(error)); }

void Connection::OnSettings(Direction d, const Frame& settings) {
  if (!dir(Other(d)).OnPeerSettings(settings)) sink_->OnError(Label(Error::kSettingsFlood));
}

void Connection::Learn(Direction client) {
  if (!client_) client_ = client;
}

void Connection::OnBlock(Direction d, const HeaderBlock& block) {
  if (block.type == TG_H2_PUSH_PROMISE || block.stream_id % 2 == 0) {
    Learn(Other(d));  // only servers promise, and start even streams
    return;
  }
  const BlockKind kind = block.decoded ? KindOfFields(block.fields) : block.peeked;
  if (kind == BlockKind::kRequest) Learn(d);
  if (kind == BlockKind::kResponse) Learn(Other(d));
  auto it = streams_.find(block.stream_id);
  bool request;
  if (kind != BlockKind::kUnknown) {
    request = kind == BlockKind::kRequest;
  } else if (block.decoded) {
    // No :method nor :status: trailers.
    if (it != streams_.end() && block.end_stream) EndSide(it, d);
    return;
  } else if (it != streams_.end() && it->second.request_seen) {
    request = it->second.request_dir == d;
    if (!request) Learn(it->second.request_dir);
  } else {
    request = client_ ? *client_ == d : true;
  }
  if (request) {
    OnRequestBlock(d, block, it);
  } else {
    OnResponseBlock(d, block, it);
  }
}

void Connection::OnRequestBlock(Direction d, const HeaderBlock& block, StreamMap::iterator it) {
  if (it != streams_.end() && it->second.request_seen) {
    if (block.end_stream) EndSide(it, d);  // trailers of the requesting side
    return;
  }
  // Stream ids only go up: a lower one without an entry belongs to a stream already closed.
  if (it == streams_.end() && block.stream_id <= max_request_id_) return;
  ResolveEarly(block.stream_id);
  if (it == streams_.end()) it = Insert(block.stream_id);
  max_request_id_ = std::max(max_request_id_, block.stream_id);
  Stream& s = it->second;
  s.request_seen = true;
  s.request_dir = d;

  StreamRequest request;
  request.direction = d;
  request.stream_id = block.stream_id;
  request.decoded = block.decoded;
  request.end_stream = block.end_stream;
  if (block.decoded) FillRequest(block.fields, request);
  sink_->OnRequest(request);

  if (s.early) {
    s.early = false;
    --early_count_;
    s.response_seen = true;
    StreamResponse response;
    response.direction = s.early_dir;
    response.stream_id = block.stream_id;
    response.decoded = s.early_decoded;
    response.status = s.early_status;
    sink_->OnResponse(response);
  }
  if (block.end_stream) EndSide(it, d);
}

void Connection::OnResponseBlock(Direction d, const HeaderBlock& block, StreamMap::iterator it) {
  const uint16_t status = block.decoded ? StatusOf(block.fields) : 0;
  // 1xx responses are interim: the final one follows in another block.
  const bool interim = block.decoded && status >= 100 && status < 200;
  if (it == streams_.end()) {
    if (block.stream_id <= max_request_id_ || interim) return;  // closed, or nothing to hold
    if (upgraded_ && block.stream_id == 1) return;  // answers the HTTP/1 upgrade request
    it = Insert(block.stream_id);
    Stream& s = it->second;
    s.early = true;
    ++early_count_;
    s.early_dir = d;
    s.early_decoded = block.decoded;
    s.early_status = status;
    s.ended[Index(d)] = block.end_stream;
    return;
  }
  Stream& s = it->second;
  if (!s.request_seen) {
    if (block.end_stream) s.ended[Index(d)] = true;  // trailers of a held response
    return;
  }
  if (s.request_dir == d) return;  // a response from the requesting side: not one
  if (!s.response_seen && !interim) {
    s.response_seen = true;
    StreamResponse response;
    response.direction = d;
    response.stream_id = block.stream_id;
    response.decoded = block.decoded;
    response.status = status;
    if (block.decoded) response.headers = block.fields;
    sink_->OnResponse(response);
  }
  if (block.end_stream) EndSide(it, d);
}

Connection::StreamMap::iterator Connection::Insert(uint32_t stream_id) {
  if (streams_.size() >= limits_.max_streams && !streams_.empty()) {
    sink_->OnError(Label(Error::kTooManyStreams));
    auto oldest = streams_.begin();
    if (oldest->second.request_seen) {
      End(oldest, StreamEndReason::kEvicted);
    } else {
      if (oldest->second.early) --early_count_;
      streams_.erase(oldest);
    }
  }
  return streams_.try_emplace(stream_id).first;
}

void Connection::EndSide(StreamMap::iterator it, Direction d) {
  Stream& s = it->second;
  s.ended[Index(d)] = true;
  if (s.request_seen && s.ended[0] && s.ended[1]) End(it, StreamEndReason::kComplete);
}

Connection::StreamMap::iterator Connection::End(StreamMap::iterator it, StreamEndReason reason) {
  const Stream& s = it->second;
  if (s.early) --early_count_;
  if (s.request_seen) {
    StreamEnd end;
    end.request_direction = s.request_dir;
    end.stream_id = it->first;
    end.reason = reason;
    end.response_seen = s.response_seen;
    sink_->OnStreamEnd(end);
  }
  return streams_.erase(it);
}

// A held response whose request never came: an error only where every request would have been
// seen (the requesting direction was followed from its start).
void Connection::DropUnmatched(StreamMap::iterator it) {
  if (it->second.early) {
    --early_count_;
    const Direction requester = Other(it->second.early_dir);
    if (dir(requester).from_start() && dir(requester).mode() != Mode::kDead) {
      sink_->OnError(Label(Error::kResponseWithoutRequest));
    }
  }
  streams_.erase(it);
}

// A request on stream `below` means the client skipped every lower id it had not used yet, so
// responses held for those will never be matched.
void Connection::ResolveEarly(uint32_t below) {
  for (auto it = streams_.begin(); early_count_ > 0 && it != streams_.end() && it->first < below;) {
    auto next = std::next(it);
    if (it->second.early) DropUnmatched(it);
    it = next;
  }
}

void Connection::OnEndStream(Direction d, uint32_t stream_id) {
  auto it = streams_.find(stream_id);
  if (it != streams_.end()) EndSide(it, d);
}

void Connection::OnReset(Direction, uint32_t stream_id) {
  auto it = streams_.find(stream_id);
  if (it != streams_.end()) End(it, StreamEndReason::kReset);
}

void Connection::OnGoaway(Direction d, uint32_t last_stream_id) {
  // A client's GOAWAY concerns server-initiated streams, which are not tracked.
  if (!client_ || d == *client_) return;
  for (auto it = streams_.upper_bound(last_stream_id); it != streams_.end();) {
    it = End(it, StreamEndReason::kRefused);
  }
}

}  // namespace tracegap::http2
