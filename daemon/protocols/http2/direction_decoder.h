#pragma once
// One direction of one HTTP/2 connection: its sync mode, its frames, its header blocks (HEADERS
// or PUSH_PROMISE plus CONTINUATIONs) and its HPACK decoder. Connection owns two of these and
// turns what they report into requests and responses; nothing else should need this header.
//
// Thread safety: none. One owner calls every method.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "protocols/header_field.h"
#include "protocols/http2/errors.h"
#include "protocols/http2/frame_parser.h"
#include "protocols/http2/hpack.h"
#include "tracegap.h"  // the frame types and data flags the kernel side reports (TG_H2_*, TG_DATA_*)
#include "vocabulary.h"

namespace tracegap::http2 {

struct Limits {
  HpackLimits hpack{};
  // Per copied frame payload; keep it above hpack.max_block_bytes + 261 (padding and priority)
  // so that a block within its limit always fits in one frame.
  std::size_t max_payload = FrameParser::kDefaultMaxPayload;
  std::size_t max_continuations = 128;  // per header block
  std::size_t max_streams = 1024;       // tracked per connection
};

enum class Mode : uint8_t {
  kIdle,      // no bytes yet
  kSynced,    // followed from the first frame: header blocks are decoded
  kUnsynced,  // joined late: frames are followed, header blocks are not decoded
  kBroken,    // was synced, HPACK state lost: frames are followed, blocks are not decoded
  kDead,      // frame boundaries lost or not trusted: bytes are ignored
};

// A complete header block. `fields` views the decoder's arena and is valid only during
// DirectionSink::OnBlock.
struct HeaderBlock {
  uint8_t type = TG_H2_HEADERS;  // or TG_H2_PUSH_PROMISE
  uint32_t stream_id = 0;
  bool end_stream = false;  // HEADERS with END_STREAM
  bool decoded = false;     // every field decoded: `fields` is the whole block
  BlockKind peeked = BlockKind::kUnknown;
  std::span<const HeaderField> fields;
};

class DirectionSink {
 public:
  virtual void OnBlock(Direction dir, const HeaderBlock& block) = 0;
  virtual void OnEndStream(Direction dir, uint32_t stream_id) = 0;  // DATA with END_STREAM
  virtual void OnReset(Direction dir, uint32_t stream_id) = 0;      // RST_STREAM
  virtual void OnGoaway(Direction dir, uint32_t last_stream_id) = 0;
  // A non-ACK SETTINGS frame sent in `dir`; its error is kNone or kFrameTooLarge (values unknown).
  virtual void OnSettings(Direction dir, const Frame& settings) = 0;
  virtual void OnError(Direction dir, Error error) = 0;

 protected:
  ~DirectionSink() = default;
};

class DirectionDecoder final : private FrameSink {
 public:
  DirectionDecoder(Direction dir, const Limits& limits);

  // One data event's bytes and tg_data_flags.
  void Feed(std::string_view bytes, uint16_t flags, DirectionSink& sink);
  // Reports kTruncated if the bytes ended inside a frame or a header block, then forgets
  // everything: the instance is as if new.
  void Close(DirectionSink& sink);

  // The receiving endpoint's SETTINGS (sent the other way). Returns false on a settings flood.
  bool OnPeerSettings(const Frame& settings);
  // The other direction cannot show every SETTINGS frame (joined late, or dead): accept any
  // table size up to the cap, and any frame size.
  void SetPeerUnknown();

  Mode mode() const { return mode_; }
  // The first event had TG_DATA_H2_FROM_START.
  bool from_start() const { return from_start_; }
  // Buffered frame payload and decoded-field arena, for memory tests.
  std::size_t buffer_capacity() const;

 private:
  bool OnFrame(const Frame& frame) override;
  bool OnBlockFrame(const Frame& frame);
  void Report(Error e) { sink_->OnError(dir_, e); }
  bool Die(Error e);
  void LoseHpack();
  void ApplyTableLimit();

  Direction dir_;
  Limits limits_;
  Mode mode_ = Mode::kIdle;
  bool from_start_ = false;
  bool peer_unknown_ = false;
  FrameParser parser_;
  std::unique_ptr<HpackDecoder> hpack_;  // only while kSynced
  TableSizeTracker table_;
  DirectionSink* sink_ = nullptr;  // during Feed() and Close()

  // The header block in progress.
  bool in_block_ = false;
  bool block_decoding_ = false;
  bool block_started_ = false;  // a fragment byte (or a skipped frame) was seen: no more peeking
  bool block_end_stream_ = false;
  uint8_t block_type_ = 0;
  uint32_t block_stream_ = 0;
  std::size_t continuations_ = 0;
  BlockKind peeked_ = BlockKind::kUnknown;
};

}  // namespace tracegap::http2
