#pragma once
// Splits one direction of an HTTP/2 connection, as the kernel emits it, into frames. The input is
// the "frame records" stream of bpf/tracegap.h: for every frame on the wire its 9-byte header,
// followed by its payload only if TG_H2_PAYLOAD_COPIED(type). Events may split that stream at any
// byte; the frames (and errors) yielded never depend on where.
//
// Each frame is validated against the length and stream-id rules of RFC 9113 that can be checked
// from what the kernel copies; a violation is reported in Frame::error, and the frame's header
// fields stay valid (frame boundaries follow the length field regardless).
//
// Memory: a payload that lies entirely inside one Feed() is handed out where it is; otherwise it
// is copied into one buffer, which never holds more than one frame's payload and never more than
// max_payload bytes. A longer copied payload, or that of a frame already found invalid from its
// header, is skipped: such a frame is delivered as soon as its header is complete (Frame::error
// set, no payload) and its payload bytes are then passed over. A buffer grown past kRetainBytes
// is released once its frame is delivered.
//
// Thread safety: none. One owner calls every method; distinct instances are independent.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "protocols/http2/errors.h"
#include "tracegap.h"

namespace tracegap::http2 {

inline constexpr uint8_t kFlagEndStream = 0x1;   // DATA, HEADERS
inline constexpr uint8_t kFlagAck = 0x1;         // SETTINGS, PING
inline constexpr uint8_t kFlagEndHeaders = 0x4;  // HEADERS, PUSH_PROMISE, CONTINUATION
inline constexpr uint8_t kFlagPadded = 0x8;      // DATA, HEADERS, PUSH_PROMISE
inline constexpr uint8_t kFlagPriority = 0x20;   // HEADERS

inline constexpr uint32_t kDefaultMaxFrameSize = 16384;    // SETTINGS_MAX_FRAME_SIZE initial
inline constexpr uint32_t kDefaultHeaderTableSize = 4096;  // SETTINGS_HEADER_TABLE_SIZE initial

struct FrameHeader {
  uint32_t length = 0;  // the payload length on the wire (whether or not it was copied)
  uint8_t type = 0;
  uint8_t flags = 0;
  uint32_t stream_id = 0;  // reserved bit cleared
};

// One frame. Views point into the bytes being fed or the parser's buffer and are valid only during
// FrameSink::OnFrame. Fields past `error` are meaningful only when error == kNone.
struct Frame {
  FrameHeader header;
  Error error = Error::kNone;
  std::string_view payload;         // the copied payload; empty if not copied (or skipped)
  std::string_view fragment;        // HEADERS, PUSH_PROMISE, CONTINUATION: header block fragment
  uint32_t promised_stream_id = 0;  // PUSH_PROMISE
  uint32_t last_stream_id = 0;      // GOAWAY
  uint32_t error_code = 0;          // RST_STREAM, GOAWAY
  // Non-ACK SETTINGS: the last value of each parameter the daemon uses, if present.
  std::optional<uint32_t> header_table_size;
  std::optional<uint32_t> max_frame_size;
};

// Receives the frames of a FrameParser, synchronously from Feed(). It must not call back into the
// parser. Returning false stops the parser: the rest of the input is dropped and the parser is
// reset, as after Reset().
class FrameSink {
 public:
  virtual bool OnFrame(const Frame& frame) = 0;

 protected:
  ~FrameSink() = default;
};

class FrameParser {
 public:
  // Room for a header block at the default 64 KiB limit with the most padding and a priority.
  static constexpr std::size_t kDefaultMaxPayload = 64 * 1024 + 1 + 255 + 5;
  static constexpr std::size_t kRetainBytes = 16 * 1024;

  explicit FrameParser(std::size_t max_payload = kDefaultMaxPayload);

  void Feed(std::string_view bytes, FrameSink& sink);

  // Frames longer than `max_frame_size` (the receiver's SETTINGS_MAX_FRAME_SIZE) are reported
  // as kFrameSizeExceeded; 0 disables the check (the receiver's settings are unknown).
  void set_max_frame_size(uint32_t max_frame_size) { max_frame_size_ = max_frame_size; }
  uint32_t max_frame_size() const { return max_frame_size_; }

  // Whether the bytes fed so far end inside a frame.
  bool mid_frame() const { return header_have_ != 0 || in_payload_; }
  // Payload bytes held for the next Feed().
  std::size_t buffered_bytes() const { return buffer_.size(); }
  std::size_t buffer_capacity() const { return buffer_.capacity(); }

  // Forgets any partial frame and releases the buffer.
  void Reset();

 private:
  bool StartPayload();
  Error HeaderError() const;
  bool Deliver(std::string_view payload, FrameSink& sink);

  std::size_t max_payload_;
  uint32_t max_frame_size_ = kDefaultMaxFrameSize;
  std::array<uint8_t, TG_H2_FRAME_HEADER_LEN> header_bytes_{};
  std::size_t header_have_ = 0;
  FrameHeader header_;
  bool in_payload_ = false;  // header_ is complete; `remaining_` payload bytes are still to come
  bool skipping_ = false;    // the payload is too long to buffer: it is passed over
  std::size_t remaining_ = 0;
  std::string buffer_;
};

// Validates a frame given its header and copied payload (empty if none) and fills in what the
// decoder uses. Exposed for tests; FrameParser calls it for every frame.
Frame DecodeFrame(const FrameHeader& header, std::string_view payload);

}  // namespace tracegap::http2
