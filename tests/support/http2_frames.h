#pragma once
// Test and fuzz support, not used by the daemon: builds HTTP/2 byte streams as they are on the
// wire (header blocks encoded by nghttp2's own HPACK deflater), turns them into the frame records
// the kernel emits, and records what a Connection reports. Header-only so that tests and
// throwaway fuzz harnesses can share it without another library.
//
// Thread safety: none; each object has one owner.

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstdint>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocols/http2/connection.h"
#include "tracegap.h"

namespace tracegap::http2::testutil {

using Fields = std::vector<std::pair<std::string, std::string>>;

inline std::string WireFrameHeader(uint32_t length, uint8_t type, uint8_t flags, uint32_t stream) {
  std::string h(9, '\0');
  h[0] = static_cast<char>(length >> 16);
  h[1] = static_cast<char>(length >> 8);
  h[2] = static_cast<char>(length);
  h[3] = static_cast<char>(type);
  h[4] = static_cast<char>(flags);
  for (int i = 0; i < 4; ++i) h[5 + i] = static_cast<char>(stream >> (24 - 8 * i));
  return h;
}

inline std::string Be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

inline std::string WireFrame(uint8_t type, uint8_t flags, uint32_t stream,
                             std::string_view payload) {
  return WireFrameHeader(static_cast<uint32_t>(payload.size()), type, flags, stream) +
         std::string(payload);
}

// nghttp2's deflater: one per direction, like the real encoder of that direction.
class Encoder {
 public:
  explicit Encoder(std::size_t max_table = kDefaultHeaderTableSize) {
    if (nghttp2_hd_deflate_new(&deflater_, max_table) != 0) throw std::bad_alloc();
  }
  ~Encoder() { nghttp2_hd_deflate_del(deflater_); }
  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;

  std::string Encode(const Fields& fields) {
    std::vector<nghttp2_nv> nva;
    for (const auto& [name, value] : fields) {
      nva.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                     reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                     value.size(), NGHTTP2_NV_FLAG_NONE});
    }
    std::string out(nghttp2_hd_deflate_bound(deflater_, nva.data(), nva.size()), '\0');
    const ssize_t n = nghttp2_hd_deflate_hd(deflater_, reinterpret_cast<uint8_t*>(out.data()),
                                            out.size(), nva.data(), nva.size());
    if (n < 0) throw std::runtime_error("nghttp2_hd_deflate_hd failed");
    out.resize(static_cast<std::size_t>(n));
    return out;
  }

  // What the encoder does on receipt of SETTINGS_HEADER_TABLE_SIZE: its next block starts with
  // a dynamic table size update.
  void ChangeTableSize(std::size_t settings_value) {
    if (nghttp2_hd_deflate_change_table_size(deflater_, settings_value) != 0) {
      throw std::runtime_error("nghttp2_hd_deflate_change_table_size failed");
    }
  }

 private:
  nghttp2_hd_deflater* deflater_ = nullptr;
};

struct HeadersOptions {
  bool end_stream = false;
  std::size_t max_fragment = 16384;  // longer blocks continue in CONTINUATION frames
  int pad = -1;                      // >= 0: PADDED with that many padding bytes
  bool priority = false;
};

// A HEADERS frame, plus CONTINUATION frames if the block is longer than max_fragment.
inline std::string Headers(uint32_t stream, std::string_view block,
                           const HeadersOptions& opt = {}) {
  std::string out;
  std::size_t first = std::min(block.size(), opt.max_fragment);
  uint8_t flags = opt.end_stream ? kFlagEndStream : 0;
  if (first == block.size()) flags |= kFlagEndHeaders;
  std::string payload;
  if (opt.pad >= 0) {
    flags |= kFlagPadded;
    payload.push_back(static_cast<char>(opt.pad));
  }
  if (opt.priority) {
    flags |= kFlagPriority;
    payload += Be32(3) + std::string(1, '\x10');  // depends on stream 3, weight 17
  }
  payload += block.substr(0, first);
  if (opt.pad > 0) payload += std::string(static_cast<std::size_t>(opt.pad), '\0');
  out += WireFrame(TG_H2_HEADERS, flags, stream, payload);
  for (std::size_t at = first; at < block.size(); at += opt.max_fragment) {
    const std::string_view part = block.substr(at, opt.max_fragment);
    const bool last = at + part.size() == block.size();
    out += WireFrame(TG_H2_CONTINUATION, last ? kFlagEndHeaders : 0, stream, part);
  }
  return out;
}

inline std::string PushPromise(uint32_t stream, uint32_t promised, std::string_view block) {
  return WireFrame(TG_H2_PUSH_PROMISE, kFlagEndHeaders, stream,
                   Be32(promised) + std::string(block));
}

inline std::string Settings(const std::vector<std::pair<uint16_t, uint32_t>>& params) {
  std::string payload;
  for (const auto& [id, value] : params) {
    payload += std::string{static_cast<char>(id >> 8), static_cast<char>(id)} + Be32(value);
  }
  return WireFrame(TG_H2_SETTINGS, 0, 0, payload);
}

inline std::string SettingsAck() { return WireFrame(TG_H2_SETTINGS, kFlagAck, 0, ""); }

inline std::string Data(uint32_t stream, std::size_t length, bool end_stream) {
  return WireFrame(TG_H2_DATA, end_stream ? kFlagEndStream : 0, stream, std::string(length, 'd'));
}

inline std::string RstStream(uint32_t stream, uint32_t code) {
  return WireFrame(TG_H2_RST_STREAM, 0, stream, Be32(code));
}

inline std::string Goaway(uint32_t last_stream, uint32_t code, std::string_view debug = {}) {
  return WireFrame(TG_H2_GOAWAY, 0, 0, Be32(last_stream) + Be32(code) + std::string(debug));
}

inline std::string Ping() { return WireFrame(TG_H2_PING, 0, 0, std::string(8, 'p')); }

inline std::string WindowUpdate(uint32_t stream, uint32_t increment) {
  return WireFrame(TG_H2_WINDOW_UPDATE, 0, stream, Be32(increment));
}

// What the kernel emits for `wire` (a whole number of well-formed frames): every frame header,
// and the payload only of the frame types it copies.
inline std::string ToRecords(std::string_view wire) {
  std::string out;
  while (wire.size() >= TG_H2_FRAME_HEADER_LEN) {
    const auto b = [&](std::size_t i) { return uint32_t{static_cast<uint8_t>(wire[i])}; };
    const uint32_t length = (b(0) << 16) | (b(1) << 8) | b(2);
    const uint8_t type = static_cast<uint8_t>(wire[3]);
    if (wire.size() < TG_H2_FRAME_HEADER_LEN + length) throw std::runtime_error("short frame");
    out.append(wire.substr(0, TG_H2_FRAME_HEADER_LEN));
    if (TG_H2_PAYLOAD_COPIED(type)) out.append(wire.substr(TG_H2_FRAME_HEADER_LEN, length));
    wire.remove_prefix(TG_H2_FRAME_HEADER_LEN + length);
  }
  if (!wire.empty()) throw std::runtime_error("trailing bytes");
  return out;
}

inline constexpr uint16_t kFromStart = TG_DATA_HTTP2 | TG_DATA_H2_FROM_START;
inline constexpr uint16_t kJoinedLate = TG_DATA_HTTP2;

// Feeds the records of `wire` to `conn` as one event.
inline void Send(Connection& conn, StreamSink& sink, Direction dir, std::string_view wire,
                 uint16_t flags = kFromStart) {
  conn.Feed(dir, ToRecords(wire), flags, sink);
}

inline Fields Request(std::string method, std::string path, Fields extra = {}) {
  Fields f = {{":method", std::move(method)},
              {":scheme", "http"},
              {":path", std::move(path)},
              {":authority", "svc.example:8080"}};
  f.insert(f.end(), extra.begin(), extra.end());
  return f;
}

// A valid traceparent whose ids are derived from `n`.
inline std::string Traceparent(uint32_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string trace(32, '0');
  std::string span(16, '0');
  for (int i = 0; i < 8; ++i) {
    trace[31 - i] = kDigits[(n >> (4 * i)) & 0xf];
    span[15 - i] = kDigits[((n * 2654435761u) >> (4 * i)) & 0xf];
  }
  trace[0] = 'a';
  span[0] = 'b';
  return "00-" + trace + "-" + span + "-01";
}

// Records every StreamSink call as one line of text (the views die with the call), plus the
// decoded fields of each request.
class Recorder : public StreamSink {
 public:
  static const char* Dir(Direction d) { return d == Direction::kEgress ? "egress" : "ingress"; }

  void OnRequest(const StreamRequest& r) override {
    std::string line = std::string("req ") + Dir(r.direction) + " " + std::to_string(r.stream_id);
    line += r.decoded ? " decoded " : " undecoded ";
    line += std::string(Label(r.protocol));
    if (r.decoded) {
      line.append(" ").append(r.method).append(" ").append(r.path).append(" @");
      line.append(r.authority);
      if (!r.content_type.empty()) line.append(" ct=").append(r.content_type);
    }
    if (r.end_stream) line += " es";
    events.push_back(line);
    Fields fields;
    for (const HeaderField& f : r.headers) fields.emplace_back(f.name, f.value);
    requests.push_back(std::move(fields));
  }
  void OnResponse(const StreamResponse& r) override {
    events.push_back(std::string("resp ") + Dir(r.direction) + " " + std::to_string(r.stream_id) +
                     (r.decoded ? " decoded " : " undecoded ") + std::to_string(r.status));
  }
  void OnStreamEnd(const StreamEnd& e) override {
    static constexpr const char* kReasons[] = {"complete", "reset", "refused", "evicted", "closed"};
    events.push_back(std::string("end ") + Dir(e.request_direction) + " " +
                     std::to_string(e.stream_id) + " " + kReasons[static_cast<int>(e.reason)] +
                     (e.response_seen ? "" : " noresp"));
  }
  void OnError(std::string_view reason) override {
    events.push_back("error:" + std::string(reason));
  }

  // The value of the first field named `name` of request `i`, or "<none>".
  std::string Field(std::size_t i, std::string_view name) const {
    for (const auto& [n, v] : requests.at(i)) {
      if (n == name) return v;
    }
    return "<none>";
  }
  std::size_t Count(std::string_view prefix) const {
    std::size_t n = 0;
    for (const std::string& e : events) n += e.rfind(prefix, 0) == 0 ? 1 : 0;
    return n;
  }

  std::vector<std::string> events;
  std::vector<Fields> requests;
};

}  // namespace tracegap::http2::testutil
