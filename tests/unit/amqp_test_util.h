#pragma once
// Test support for the AMQP 0-9-1 decoder: builds frames as they are on the wire (methods,
// content headers with field tables, bodies), turns a wire byte stream into the frame records
// the kernel emits (frame.h), and records what a DirectionDecoder reports as text.

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocols/amqp/direction_decoder.h"
#include "protocols/amqp/frame.h"
#include "protocols/amqp/message.h"
#include "protocols/amqp/method.h"

namespace tracegap::amqp::testutil {

inline std::string Be(uint64_t v, int bytes) {
  std::string s;
  for (int i = bytes - 1; i >= 0; --i) s += static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}
inline std::string U8(uint8_t v) { return Be(v, 1); }
inline std::string U16(uint16_t v) { return Be(v, 2); }
inline std::string U32(uint32_t v) { return Be(v, 4); }
inline std::string U64(uint64_t v) { return Be(v, 8); }
inline std::string ShortStr(std::string_view s) {
  return U8(static_cast<uint8_t>(s.size())) + std::string(s);
}
inline std::string LongStr(std::string_view s) {
  return U32(static_cast<uint32_t>(s.size())) + std::string(s);
}

// A field table: entries in order, encoded with their u32 size in front.
class Table {
 public:
  Table& Str(std::string_view name, std::string_view value) {
    return Raw(name, 'S', LongStr(value));
  }
  Table& Bytes(std::string_view name, std::string_view value) {
    return Raw(name, 'x', LongStr(value));
  }
  // Any type octet and value bytes, as given.
  Table& Raw(std::string_view name, char type, std::string_view value) {
    entries_ += ShortStr(name) + type + std::string(value);
    return *this;
  }
  std::string Encode() const { return LongStr(entries_); }

 private:
  std::string entries_;
};

// A frame as on the wire: header, payload, frame-end octet.
inline std::string Frame(uint8_t type, uint16_t channel, std::string_view payload) {
  return U8(type) + U16(channel) + U32(static_cast<uint32_t>(payload.size())) +
         std::string(payload) + U8(kFrameEnd);
}

inline std::string MethodFrame(uint16_t channel, uint16_t class_id, uint16_t method_id,
                               std::string_view args = {}) {
  return Frame(kFrameMethod, channel, U16(class_id) + U16(method_id) + std::string(args));
}

inline std::string Publish(uint16_t channel, std::string_view exchange, std::string_view key) {
  return MethodFrame(channel, kClassBasic, kMethodPublish,
                     U16(0) + ShortStr(exchange) + ShortStr(key) + U8(0));
}
inline std::string Deliver(uint16_t channel, std::string_view exchange, std::string_view key,
                           std::string_view consumer_tag = "amq.ctag-1", uint64_t tag = 1) {
  return MethodFrame(
      channel, kClassBasic, kMethodDeliver,
      ShortStr(consumer_tag) + U64(tag) + U8(0) + ShortStr(exchange) + ShortStr(key));
}
inline std::string GetOk(uint16_t channel, std::string_view exchange, std::string_view key) {
  return MethodFrame(channel, kClassBasic, kMethodGetOk,
                     U64(7) + U8(1) + ShortStr(exchange) + ShortStr(key) + U32(3));
}
inline std::string Return(uint16_t channel, std::string_view exchange, std::string_view key) {
  return MethodFrame(channel, kClassBasic, kMethodReturn,
                     U16(312) + ShortStr("NO_ROUTE") + ShortStr(exchange) + ShortStr(key));
}
// basic.ack (60,80): delivery-tag longlong, multiple bit.
inline std::string Ack(uint16_t channel) {
  return MethodFrame(channel, kClassBasic, 80, U64(1) + U8(0));
}

struct Properties {
  std::string content_type{};      // set if not empty
  std::string content_encoding{};  // set if not empty
  bool has_headers = true;
  std::string headers{};  // an encoded table (Table::Encode()), used if has_headers
  bool more = true;       // also delivery-mode, correlation-id and timestamp, after it
  uint16_t class_id = kClassBasic;
};

inline std::string HeaderPayload(const Properties& p, uint64_t body_size = 5) {
  uint16_t flags = 0;
  std::string props;
  if (!p.content_type.empty()) {
    flags |= 1u << 15;
    props += ShortStr(p.content_type);
  }
  if (!p.content_encoding.empty()) {
    flags |= 1u << 14;
    props += ShortStr(p.content_encoding);
  }
  if (p.has_headers) {
    flags |= 1u << 13;
    props += p.headers;
  }
  if (p.more) {
    flags |= (1u << 12) | (1u << 10) | (1u << 6);
    props += U8(2) + ShortStr("corr-1") + U64(1700000000);
  }
  return U16(p.class_id) + U16(0) + U64(body_size) + U16(flags) + props;
}

inline std::string HeaderFrame(uint16_t channel, const Properties& p, uint64_t body_size = 5) {
  return Frame(kFrameHeader, channel, HeaderPayload(p, body_size));
}
inline std::string HeaderFrame(uint16_t channel, const Table& headers) {
  return HeaderFrame(channel, Properties{.headers = headers.Encode()});
}

inline std::string Body(uint16_t channel, std::size_t size) {
  return Frame(kFrameBody, channel, std::string(size, 'b'));
}
inline std::string Heartbeat() { return Frame(kFrameHeartbeat, 0, ""); }

// What the kernel emits for a wire byte stream of whole frames: each frame's header, then for
// METHOD and HEADER frames the first min(size + 1, cap) bytes of payload + frame-end.
inline std::string Records(std::string_view wire, std::size_t cap = kDefaultCap) {
  std::string out;
  while (wire.size() >= kFrameHeaderLen) {
    const FrameHeader h = DecodeFrameHeader(wire);
    out += wire.substr(0, kFrameHeaderLen);
    wire.remove_prefix(kFrameHeaderLen);
    const std::size_t on_wire = std::min<std::size_t>(uint64_t{h.size} + 1, wire.size());
    out += wire.substr(0, RecordBodyLength(h, cap));
    wire.remove_prefix(on_wire);
  }
  return out;
}

inline std::string Traceparent(int n = 1) {
  std::string id = std::to_string(n);
  return "00-" + std::string(32 - id.size(), 'a') + id + "-00f067aa0ba902b7-01";
}

// One line per report; the views die with the callback.
class Recorder final : public MessageSink {
 public:
  void OnMessage(const Message& m) override {
    std::string s = std::string(Label(m.kind)) + " ch" + std::to_string(m.channel) + " [" +
                    std::string(m.exchange) + "] [" + std::string(m.routing_key) + "]";
    s += m.complete ? " complete" : " incomplete:" + std::string(Label(m.incomplete_reason));
    for (const HeaderField& f : m.headers) {
      s += " {" + std::string(f.name) + "}={" + std::string(f.value) + "}";
    }
    lines.push_back(std::move(s));
  }
  void OnError(Error e) override { lines.push_back("error " + std::string(Label(e))); }

  std::vector<std::string> lines;
};

}  // namespace tracegap::amqp::testutil
