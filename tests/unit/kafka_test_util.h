#pragma once
// Test support for the Kafka decoder: builds requests and responses as they are on the wire
// (varints, records, RecordBatches v2, Produce requests and Fetch responses of any version, other
// apis' frames), turns a wire byte stream into the frame records the kernel emits (frame.h), and
// records what the decoder reports as text.

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocols/kafka/connection.h"
#include "protocols/kafka/fetch.h"
#include "protocols/kafka/frame.h"
#include "protocols/kafka/message.h"
#include "protocols/kafka/produce.h"

namespace tracegap::kafka::testutil {

using OptStr = std::optional<std::string>;

inline std::string Be(uint64_t v, int bytes) {
  std::string s;
  for (int i = bytes - 1; i >= 0; --i) s += static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}
inline std::string I8(int8_t v) { return Be(static_cast<uint8_t>(v), 1); }
inline std::string I16(int16_t v) { return Be(static_cast<uint16_t>(v), 2); }
inline std::string I32(int32_t v) { return Be(static_cast<uint32_t>(v), 4); }
inline std::string I64(int64_t v) { return Be(static_cast<uint64_t>(v), 8); }

inline std::string UVarint(uint64_t v) {
  std::string s;
  while (v >= 0x80) {
    s += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  return s + static_cast<char>(v);
}
inline std::string Varint(int32_t v) {
  return UVarint((static_cast<uint32_t>(v) << 1) ^ static_cast<uint32_t>(v >> 31));
}
inline std::string Varlong(int64_t v) {
  return UVarint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
}

// STRING / NULLABLE_STRING, and their compact forms; `flexible` picks the form.
inline std::string Str(const OptStr& s, bool flexible = false) {
  if (flexible) return s ? UVarint(s->size() + 1) + *s : UVarint(0);
  return s ? I16(static_cast<int16_t>(s->size())) + *s : I16(-1);
}
// An array's count, or a compact array's.
inline std::string Count(int64_t n, bool flexible) {
  return flexible ? UVarint(static_cast<uint64_t>(n + 1)) : I32(static_cast<int32_t>(n));
}
// NULLABLE_BYTES / RECORDS, and the compact form.
inline std::string BytesField(const OptStr& b, bool flexible) {
  if (!b) return flexible ? UVarint(0) : I32(-1);
  return (flexible ? UVarint(b->size() + 1) : I32(static_cast<int32_t>(b->size()))) + *b;
}
// An empty tagged-field section, or one with a field, in flexible versions; nothing otherwise.
inline std::string Tags(bool flexible, bool with_field = false) {
  if (!flexible) return "";
  if (!with_field) return UVarint(0);
  return UVarint(1) + UVarint(7) + UVarint(3) + "tag";
}

struct Header {
  std::string key;
  OptStr value;
};

struct Rec {
  OptStr key = std::nullopt;
  OptStr value = std::string("value");
  std::vector<Header> headers{};
};

// A record, with its length varint in front.
inline std::string Record(const Rec& r, int32_t offset_delta = 0) {
  auto optional_bytes = [](const OptStr& b) {
    return b ? Varint(static_cast<int32_t>(b->size())) + *b : Varint(-1);
  };
  std::string body = I8(0) + Varlong(offset_delta * 10) + Varint(offset_delta) +
                     optional_bytes(r.key) + optional_bytes(r.value) +
                     Varint(static_cast<int32_t>(r.headers.size()));
  for (const Header& h : r.headers) {
    body += Varint(static_cast<int32_t>(h.key.size())) + h.key + optional_bytes(h.value);
  }
  return Varint(static_cast<int32_t>(body.size())) + body;
}

struct BatchOptions {
  int16_t attributes = 0;  // compression in bits 0-2, control in bit 5
  int64_t base_offset = 0;
  std::optional<int32_t> count = std::nullopt;    // else the number of records
  std::optional<std::string> raw = std::nullopt;  // the bytes after the count, else the records
  int8_t magic = 2;
};

// A RecordBatch v2 (the crc is not computed: the decoder does not check it).
inline std::string Batch(const std::vector<Rec>& records, const BatchOptions& o = {}) {
  std::string body;
  for (std::size_t i = 0; i < records.size(); ++i) {
    body += Record(records[i], static_cast<int32_t>(i));
  }
  if (o.raw) body = *o.raw;
  const int32_t count = o.count.value_or(static_cast<int32_t>(records.size()));
  const std::string after_length =
      I32(0) + I8(o.magic) + I32(0) + I16(o.attributes) + I32(count > 0 ? count - 1 : 0) +
      I64(1700000000000) + I64(1700000000000) + I64(-1) + I16(-1) + I32(-1) + I32(count) + body;
  return I64(o.base_offset) + I32(static_cast<int32_t>(after_length.size())) + after_length;
}

inline std::string Traceparent(int n = 1) {
  std::string id = std::to_string(n);
  return "00-" + std::string(32 - id.size(), 'a') + id + "-00f067aa0ba902b7-01";
}
inline Rec Traced(int n = 1, std::string value = "value") {
  return Rec{.value = std::move(value), .headers = {{"traceparent", Traceparent(n)}}};
}

struct Partition {
  int32_t index = 0;
  OptStr records = std::nullopt;  // the records field (batches), null if unset
  int32_t aborted = 0;            // Fetch: aborted transactions listed
};
struct Topic {
  std::string name;
  std::vector<Partition> partitions;
  std::string id = std::string(16, '\x11');  // v13+
};

// A request on the wire: size, api key, version, correlation id, then `rest` (for every api but
// ApiVersions v3+ and a few others, client_id first: callers put it in `rest`).
inline std::string Request(int16_t api_key, int16_t version, int32_t correlation_id,
                           std::string_view rest = {}) {
  const std::string after_size =
      I16(api_key) + I16(version) + I32(correlation_id) + std::string(rest);
  return I32(static_cast<int32_t>(after_size.size())) + after_size;
}
inline std::string Response(int32_t correlation_id, std::string_view rest = {}) {
  const std::string after_size = I32(correlation_id) + std::string(rest);
  return I32(static_cast<int32_t>(after_size.size())) + after_size;
}

struct ProduceOptions {
  int16_t acks = -1;
  OptStr client_id = std::string("producer-1");
  OptStr transactional_id = std::nullopt;
  bool tagged = false;  // put a tagged field in every section (flexible versions)
};

inline std::string ProduceRequest(int16_t version, int32_t correlation_id,
                                  const std::vector<Topic>& topics, const ProduceOptions& o = {}) {
  const bool flex = ProduceFlexible(version);
  std::string rest = Str(o.client_id) + Tags(flex, o.tagged) + Str(o.transactional_id, flex) +
                     I16(o.acks) + I32(30000) + Count(static_cast<int64_t>(topics.size()), flex);
  for (const Topic& t : topics) {
    rest += ProduceTopicIds(version) ? t.id : Str(t.name, flex);
    rest += Count(static_cast<int64_t>(t.partitions.size()), flex);
    for (const Partition& p : t.partitions) {
      rest += I32(p.index) + BytesField(p.records, flex) + Tags(flex, o.tagged);
    }
    rest += Tags(flex, o.tagged);
  }
  rest += Tags(flex, o.tagged);
  return Request(kApiProduce, version, correlation_id, rest);
}

inline std::string FetchResponse(int16_t version, int32_t correlation_id,
                                 const std::vector<Topic>& topics, bool tagged = false) {
  const bool flex = FetchFlexible(version);
  std::string rest = Tags(flex, tagged) + I32(0);
  if (version >= 7) rest += I16(0) + I32(12345);
  rest += Count(static_cast<int64_t>(topics.size()), flex);
  for (const Topic& t : topics) {
    rest += FetchTopicIds(version) ? t.id : Str(t.name, flex);
    rest += Count(static_cast<int64_t>(t.partitions.size()), flex);
    for (const Partition& p : t.partitions) {
      rest += I32(p.index) + I16(0) + I64(100) + I64(100);
      if (version >= 5) rest += I64(0);
      rest += Count(p.aborted, flex);
      for (int32_t i = 0; i < p.aborted; ++i) rest += I64(7) + I64(i) + Tags(flex, tagged);
      if (version >= 11) rest += I32(-1);
      rest += BytesField(p.records, flex) + Tags(flex, tagged);
    }
    rest += Tags(flex, tagged);
  }
  rest += Tags(flex, tagged);
  return Response(correlation_id, rest);
}

// A Fetch request (its body is never copied: any bytes do) and a Metadata exchange.
inline std::string FetchRequest(int16_t version, int32_t correlation_id) {
  return Request(kApiFetch, version, correlation_id, Str("consumer-1") + std::string(40, 'f'));
}
inline std::string MetadataRequest(int32_t correlation_id) {
  return Request(3, 9, correlation_id, Str("consumer-1") + UVarint(0) + UVarint(1) + "\x01\x00");
}
inline std::string MetadataResponse(int32_t correlation_id) {
  return Response(correlation_id, UVarint(0) + I32(0) + std::string(120, 'm'));
}
inline std::string ApiVersionsRequest(int32_t correlation_id) {
  return Request(kApiVersions, 3, correlation_id,
                 Str("consumer-1") + UVarint(0) + Str("lib", true) + Str("1.0", true) + UVarint(0));
}

// What the kernel emits for a wire byte stream of whole frames (frame.h): each frame's header,
// then the first min(rest, cap) bytes of its rest where the rest is copied.
inline std::string Records(std::string_view wire, Side side, std::size_t cap = kDefaultCap) {
  std::string out;
  const std::size_t header_len = HeaderLength(side);
  while (wire.size() >= header_len) {
    const FrameHeader h = DecodeFrameHeader(side, wire);
    out += wire.substr(0, header_len);
    wire.remove_prefix(header_len);
    const auto on_wire =
        static_cast<std::size_t>(std::min<uint64_t>(RestLength(side, h), wire.size()));
    out += wire.substr(0, RecordBodyLength(side, h, cap));
    wire.remove_prefix(on_wire);
  }
  return out;
}
inline std::string Requests(std::string_view wire, std::size_t cap = kDefaultCap) {
  return Records(wire, Side::kRequests, cap);
}
inline std::string Responses(std::string_view wire, std::size_t cap = kDefaultCap) {
  return Records(wire, Side::kResponses, cap);
}

inline std::string Hex(std::string_view s) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : s) {
    out += kDigits[static_cast<uint8_t>(c) >> 4];
    out += kDigits[static_cast<uint8_t>(c) & 0xf];
  }
  return out;
}

// One line per report; the views die with the callback.
class Recorder final : public MessageSink {
 public:
  void OnMessage(const Message& m) override {
    std::string s = std::string(Label(m.kind)) + " " +
                    (m.topic_id.empty() ? std::string(m.topic) : "id:" + Hex(m.topic_id)) + "/" +
                    std::to_string(m.partition) + " c" + std::to_string(m.correlation_id) + " v" +
                    std::to_string(m.api_version);
    s += m.complete ? " complete" : " incomplete:" + std::string(Label(m.incomplete_reason));
    for (const HeaderField& f : m.headers) {
      s += " {" + std::string(f.name) + "}={" + std::string(f.value) + "}";
    }
    lines.push_back(std::move(s));
  }
  void OnError(Error e) override { lines.push_back("error " + std::string(Label(e))); }

  std::vector<std::string> lines;
};

}  // namespace tracegap::kafka::testutil
