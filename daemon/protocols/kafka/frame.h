#pragma once
// Kafka requests and responses as the kernel emits them: "frame records" (bpf/tracegap.h), one
// per request or response on the wire, in two streams: the client's requests and the broker's
// responses (which is which the kernel tells from the first bytes of the connection: an
// ApiVersions request).
//
//   request   12-byte header: size (int32: bytes after the size field), request_api_key (int16),
//             request_api_version (int16), correlation_id (int32), all big-endian as on the wire;
//             then, for Produce (api key 0) only, the first min(size - 8, cap) bytes of the rest
//             (client_id, tagged fields if the version is flexible, the Produce body).
//   response  8-byte header: size (int32), correlation_id (int32); then the first
//             min(size - 4, cap) bytes of the rest, for every response.
//
// cap is --max-header-bytes. The size is read as unsigned (a negative size, which no peer sends,
// is a huge one), and a size too small to hold the header's own fields (below 8 for a request,
// 4 for a response) has nothing after the header. The kernel must apply exactly these rules: they
// decide where each record ends.
//
// Pure functions over byte views; no allocation.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tracegap.h"  // TG_KAFKA_*: the frame record layout shared with the kernel side

namespace tracegap::kafka {

inline constexpr std::size_t kRequestHeaderLen = TG_KAFKA_REQUEST_HEADER_LEN;
inline constexpr std::size_t kResponseHeaderLen = TG_KAFKA_RESPONSE_HEADER_LEN;
inline constexpr std::size_t kMaxHeaderLen = kRequestHeaderLen;
static_assert(kRequestHeaderLen == 12 && kResponseHeaderLen == 8);

inline constexpr int16_t kApiProduce = TG_KAFKA_PRODUCE;
inline constexpr int16_t kApiFetch = 1;
inline constexpr int16_t kApiVersions = TG_KAFKA_API_VERSIONS;

// --max-header-bytes: its default and the largest value the kernel side accepts.
inline constexpr std::size_t kDefaultCap = 4096;
inline constexpr std::size_t kMaxCap = 8192;

// Which stream a decoder reads.
enum class Side : uint8_t { kRequests, kResponses };

constexpr std::size_t HeaderLength(Side side) {
  return side == Side::kRequests ? kRequestHeaderLen : kResponseHeaderLen;
}

struct FrameHeader {
  uint32_t size = 0;         // bytes after the size field, on the wire
  int16_t api_key = -1;      // requests only
  int16_t api_version = -1;  // requests only
  int32_t correlation_id = 0;
};

// `bytes` holds at least HeaderLength(side) bytes (only those are read).
constexpr FrameHeader DecodeFrameHeader(Side side, std::string_view bytes) {
  auto be = [bytes](std::size_t at, std::size_t n) {
    uint32_t x = 0;
    for (std::size_t i = 0; i < n; ++i) x = (x << 8) | static_cast<uint8_t>(bytes[at + i]);
    return x;
  };
  FrameHeader h;
  h.size = be(0, 4);
  if (side == Side::kRequests) {
    h.api_key = static_cast<int16_t>(be(4, 2));
    h.api_version = static_cast<int16_t>(be(6, 2));
    h.correlation_id = static_cast<int32_t>(be(8, 4));
  } else {
    h.correlation_id = static_cast<int32_t>(be(4, 4));
  }
  return h;
}

// Bytes of the frame after its header, on the wire.
constexpr uint64_t RestLength(Side side, const FrameHeader& h) {
  const uint64_t in_header = HeaderLength(side) - 4;  // the header's fields after the size
  return h.size > in_header ? h.size - in_header : 0;
}

// Whether the kernel copies anything after the header.
constexpr bool RestCopied(Side side, const FrameHeader& h) {
  return side == Side::kResponses || h.api_key == kApiProduce;
}

// How many bytes follow the header in the record stream.
constexpr std::size_t RecordBodyLength(Side side, const FrameHeader& h, std::size_t cap) {
  if (!RestCopied(side, h)) return 0;
  return static_cast<std::size_t>(std::min<uint64_t>(RestLength(side, h), cap));
}

}  // namespace tracegap::kafka
