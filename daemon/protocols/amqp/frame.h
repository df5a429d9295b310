#pragma once
// AMQP 0-9-1 frames as the kernel emits them: "frame records". For every frame on the wire of one
// direction, the record stream holds its 7-byte header (type u8, channel u16, size u32, both
// big-endian; size is the payload length on the wire) and then, for METHOD and HEADER frames only,
// the first min(size + 1, cap) bytes of the payload followed by the frame-end octet, where cap is
// --max-header-bytes. So a frame with size + 1 <= cap is "whole" (payload and its 0xCE), a longer
// one is cut (the rest was never copied). Nothing follows the header of any other frame type.
// The client's protocol header ("AMQP\0\0\x09\x01") is not emitted.
//
// Pure functions over byte views; no allocation.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tracegap.h"  // TG_AMQP_*: the frame record layout shared with the kernel side

namespace tracegap::amqp {

inline constexpr uint8_t kFrameMethod = TG_AMQP_METHOD;
inline constexpr uint8_t kFrameHeader = TG_AMQP_HEADER;  // content header
inline constexpr uint8_t kFrameBody = TG_AMQP_BODY;
inline constexpr uint8_t kFrameHeartbeat = TG_AMQP_HEARTBEAT;
inline constexpr uint8_t kFrameEnd = TG_AMQP_FRAME_END;
inline constexpr std::size_t kFrameHeaderLen = TG_AMQP_FRAME_HEADER_LEN;

// --max-header-bytes: its default and the largest value the kernel side accepts.
inline constexpr std::size_t kDefaultCap = 4096;
inline constexpr std::size_t kMaxCap = 8192;

struct FrameHeader {
  uint8_t type = 0;
  uint16_t channel = 0;
  uint32_t size = 0;  // the payload length on the wire
};

// `bytes` holds at least kFrameHeaderLen bytes (only the first seven are read).
constexpr FrameHeader DecodeFrameHeader(std::string_view bytes) {
  auto b = [bytes](std::size_t i) { return uint32_t{static_cast<uint8_t>(bytes[i])}; };
  FrameHeader h;
  h.type = static_cast<uint8_t>(b(0));
  h.channel = static_cast<uint16_t>((b(1) << 8) | b(2));
  h.size = (b(3) << 24) | (b(4) << 16) | (b(5) << 8) | b(6);
  return h;
}

constexpr bool PayloadCopied(uint8_t type) { return TG_AMQP_PAYLOAD_COPIED(type); }

// How many bytes follow the header in the record stream.
constexpr std::size_t RecordBodyLength(const FrameHeader& h, std::size_t cap) {
  if (!PayloadCopied(h.type)) return 0;
  const uint64_t with_end = uint64_t{h.size} + 1;
  return with_end < cap ? static_cast<std::size_t>(with_end) : cap;
}

// A METHOD or HEADER frame's payload as copied.
struct CopiedPayload {
  std::string_view bytes;  // the payload, or its first bytes when not whole
  bool whole = false;      // `bytes` is the whole payload (and the frame-end octet was copied)
  bool end_ok = false;     // whole, and the frame-end octet is 0xCE
};

// `body` is the record's body: exactly RecordBodyLength(h, cap) bytes.
constexpr CopiedPayload SplitRecordBody(const FrameHeader& h, std::string_view body) {
  CopiedPayload p;
  if (body.size() == uint64_t{h.size} + 1) {
    p.bytes = body.substr(0, h.size);
    p.whole = true;
    p.end_ok = static_cast<uint8_t>(body[h.size]) == kFrameEnd;
  } else {
    p.bytes = body;
  }
  return p;
}

}  // namespace tracegap::amqp
