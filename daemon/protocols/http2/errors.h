#pragma once
// The fixed set of reasons the HTTP/2 decoder reports through StreamSink::OnError, and their
// stable labels (values of tracegap_hpack_errors_total{reason}). Never rename a label; add new
// reasons before kCount and to kErrorLabels.
//
// Each reason falls in one of three classes, which decide what happens to the direction (one
// direction of one connection) where it occurred; see connection.h for the whole policy:
//   kDead     the bytes are not the HTTP/2 frame stream they should be (a conforming peer would
//             have closed the connection): frame boundaries are no longer trusted and the rest of
//             the direction is ignored.
//   kBroken   frame boundaries are fine but the HPACK state is lost: later header blocks are not
//             decoded, their requests are still reported (decoded == false).
//   kCounted  nothing else changes.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tracegap::http2 {

enum class Error : uint8_t {
  kNone = 0,
  // kDead
  kLost,                  // TG_DATA_LOST_BEFORE: bytes of the direction were lost
  kBadFrameLength,        // a length rule of the frame type is broken (RST_STREAM != 4, ...)
  kBadPadding,            // PADDED with the pad length not inside the payload
  kBadStreamId,           // a connection frame on a stream, or a stream frame on stream 0
  kFrameSizeExceeded,     // a frame longer than the receiver's SETTINGS_MAX_FRAME_SIZE
  kOrphanContinuation,    // CONTINUATION outside a header block, or on another stream
  kContinuationExpected,  // another frame inside a header block (before END_HEADERS)
  kContinuationFlood,     // more CONTINUATION frames in one block than the limit
  // kBroken
  kHpackInvalid,         // the HPACK inflater rejected the block (nghttp2 error)
  kHeaderBlockTooLarge,  // the compressed block exceeds its limit
  kFrameTooLarge,        // a copied payload exceeds the parser's buffer (kCounted for GOAWAY
                         // and SETTINGS, whose loss does not touch HPACK state)
  // kCounted
  kDecodedTooLarge,         // the decoded fields of one block exceed their limit
  kSettingsFlood,           // too many SETTINGS frames waiting for their ACK
  kTooManyStreams,          // the stream table was full: its oldest stream was dropped
  kResponseWithoutRequest,  // a response whose request was never sent (direction seen from start)
  kTruncated,               // Close() inside a frame or a header block
  kCount,
};

inline constexpr std::size_t kErrorCount = static_cast<std::size_t>(Error::kCount) - 1;

constexpr std::string_view Label(Error e) {
  switch (e) {
    case Error::kNone:
      return "none";
    case Error::kLost:
      return "lost";
    case Error::kBadFrameLength:
      return "bad_frame_length";
    case Error::kBadPadding:
      return "bad_padding";
    case Error::kBadStreamId:
      return "bad_stream_id";
    case Error::kFrameSizeExceeded:
      return "frame_size_exceeded";
    case Error::kOrphanContinuation:
      return "orphan_continuation";
    case Error::kContinuationExpected:
      return "continuation_expected";
    case Error::kContinuationFlood:
      return "continuation_flood";
    case Error::kHpackInvalid:
      return "hpack_invalid";
    case Error::kHeaderBlockTooLarge:
      return "header_block_too_large";
    case Error::kFrameTooLarge:
      return "frame_too_large";
    case Error::kDecodedTooLarge:
      return "decoded_too_large";
    case Error::kSettingsFlood:
      return "settings_flood";
    case Error::kTooManyStreams:
      return "too_many_streams";
    case Error::kResponseWithoutRequest:
      return "response_without_request";
    case Error::kTruncated:
      return "truncated";
    case Error::kCount:
      break;
  }
  return "invalid";
}

// Every reason OnError can report, in enum order, so metrics can pre-declare the label values.
inline constexpr std::array<std::string_view, kErrorCount> kErrorLabels = [] {
  std::array<std::string_view, kErrorCount> labels{};
  for (std::size_t i = 0; i < kErrorCount; ++i) labels[i] = Label(static_cast<Error>(i + 1));
  return labels;
}();

// Frame-level violations: after one, the direction's bytes are ignored.
constexpr bool IsDeadly(Error e) { return e >= Error::kLost && e <= Error::kContinuationFlood; }

}  // namespace tracegap::http2
