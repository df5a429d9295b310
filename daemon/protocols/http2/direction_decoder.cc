#include "protocols/http2/direction_decoder.h"

#include <algorithm>

namespace tracegap::http2 {

DirectionDecoder::DirectionDecoder(Direction dir, const Limits& limits)
    : dir_(dir),
      limits_(limits),
      parser_(limits.max_payload),
      table_(limits.hpack.max_table_size) {}

std::size_t DirectionDecoder::buffer_capacity() const {
  return parser_.buffer_capacity() + (hpack_ ? hpack_->arena_capacity() : 0);
}

void DirectionDecoder::Feed(std::string_view bytes, uint16_t flags, DirectionSink& sink) {
  if (mode_ == Mode::kDead) return;
  sink_ = &sink;
  const bool from_start = (flags & TG_DATA_H2_FROM_START) != 0;
  if ((flags & TG_DATA_LOST_BEFORE) != 0) {
    // The kernel cannot say where the next frame starts after a loss, so there is no resync.
    Die(Error::kLost);
  } else if (mode_ == Mode::kIdle) {
    from_start_ = from_start;
    mode_ = from_start ? Mode::kSynced : Mode::kUnsynced;
    if (from_start) {
      hpack_ = std::make_unique<HpackDecoder>(limits_.hpack);
      ApplyTableLimit();
    }
  } else if (mode_ == Mode::kSynced && !from_start) {
    // The kernel no longer vouches for the HPACK state: never guess.
    mode_ = Mode::kUnsynced;
    hpack_.reset();
    block_decoding_ = false;
  }
  if (mode_ != Mode::kDead) parser_.Feed(bytes, *this);
  sink_ = nullptr;
}

void DirectionDecoder::Close(DirectionSink& sink) {
  if (mode_ != Mode::kDead && mode_ != Mode::kIdle && (parser_.mid_frame() || in_block_)) {
    sink.OnError(dir_, Error::kTruncated);
  }
  parser_.Reset();
  parser_.set_max_frame_size(kDefaultMaxFrameSize);
  hpack_.reset();
  table_ = TableSizeTracker(limits_.hpack.max_table_size);
  mode_ = Mode::kIdle;
  from_start_ = false;
  peer_unknown_ = false;
  in_block_ = false;
  block_decoding_ = false;
}

bool DirectionDecoder::OnPeerSettings(const Frame& settings) {
  const bool known = settings.error == Error::kNone;
  const bool ok =
      table_.OnSettings(known ? settings.header_table_size : std::optional<uint32_t>(UINT32_MAX));
  if (!peer_unknown_) {
    if (!known) {
      parser_.set_max_frame_size(0);
    } else if (settings.max_frame_size) {
      // Lenient about when the new size takes effect: only the largest one matters here.
      parser_.set_max_frame_size(std::max(parser_.max_frame_size(), *settings.max_frame_size));
    }
  }
  ApplyTableLimit();
  return ok;
}

void DirectionDecoder::SetPeerUnknown() {
  if (peer_unknown_) return;
  peer_unknown_ = true;
  table_.SetUnknown();
  parser_.set_max_frame_size(0);
  ApplyTableLimit();
}

void DirectionDecoder::ApplyTableLimit() {
  if (hpack_) hpack_->SetTableSizeLimit(table_.limit());
}

bool DirectionDecoder::Die(Error e) {
  Report(e);
  mode_ = Mode::kDead;
  hpack_.reset();
  in_block_ = false;
  block_decoding_ = false;
  parser_.Reset();
  return false;
}

// The HPACK state no longer matches the encoder's; frames are still followed.
void DirectionDecoder::LoseHpack() {
  if (mode_ == Mode::kSynced) mode_ = Mode::kBroken;
  hpack_.reset();
  block_decoding_ = false;
}

bool DirectionDecoder::OnFrame(const Frame& frame) {
  if (IsDeadly(frame.error)) return Die(frame.error);
  const FrameHeader& h = frame.header;
  if (in_block_ && h.type != TG_H2_CONTINUATION) return Die(Error::kContinuationExpected);
  switch (h.type) {
    case TG_H2_HEADERS:
    case TG_H2_PUSH_PROMISE:
    case TG_H2_CONTINUATION:
      return OnBlockFrame(frame);
    case TG_H2_DATA:
      if ((h.flags & kFlagEndStream) != 0) sink_->OnEndStream(dir_, h.stream_id);
      return true;
    case TG_H2_RST_STREAM:
      sink_->OnReset(dir_, h.stream_id);
      return true;
    case TG_H2_GOAWAY:
      if (frame.error != Error::kNone) {
        Report(frame.error);  // debug data too long to buffer: the frame is lost, nothing else
      } else {
        sink_->OnGoaway(dir_, frame.last_stream_id);
      }
      return true;
    case TG_H2_SETTINGS:
      if ((h.flags & kFlagAck) != 0) {
        // The encoder of this direction acknowledges the other endpoint's oldest SETTINGS.
        table_.OnAck();
        ApplyTableLimit();
        return true;
      }
      if (frame.error != Error::kNone) Report(frame.error);
      sink_->OnSettings(dir_, frame);
      return true;
    default:
      return true;
  }
}

bool DirectionDecoder::OnBlockFrame(const Frame& frame) {
  const FrameHeader& h = frame.header;
  if (h.type == TG_H2_CONTINUATION) {
    if (!in_block_ || h.stream_id != block_stream_) return Die(Error::kOrphanContinuation);
    if (++continuations_ > limits_.max_continuations) return Die(Error::kContinuationFlood);
  } else {
    in_block_ = true;
    block_type_ = h.type;
    block_stream_ = h.stream_id;
    block_end_stream_ = h.type == TG_H2_HEADERS && (h.flags & kFlagEndStream) != 0;
    continuations_ = 0;
    block_started_ = false;
    peeked_ = BlockKind::kUnknown;
    block_decoding_ = hpack_ != nullptr;
    if (block_decoding_) hpack_->BeginBlock();
  }
  if (frame.error != Error::kNone) {
    // kFrameTooLarge: this fragment was skipped, so the block cannot be decoded, nor peeked.
    Report(frame.error);
    LoseHpack();
    block_started_ = true;
  }
  const bool last = (h.flags & kFlagEndHeaders) != 0;
  if (!block_started_ && !frame.fragment.empty()) {
    peeked_ = PeekBlockKind(frame.fragment);
    block_started_ = true;
  }
  if (block_decoding_) {
    const Error e = hpack_->Feed(frame.fragment, last);
    if (e != Error::kNone) Report(e);
    if (hpack_->failed()) LoseHpack();
  }
  if (!last) return true;
  in_block_ = false;
  HeaderBlock block;
  block.type = block_type_;
  block.stream_id = block_stream_;
  block.end_stream = block_end_stream_;
  block.decoded = block_decoding_ && hpack_->complete();
  block.peeked = peeked_;
  if (block.decoded) block.fields = hpack_->fields();
  sink_->OnBlock(dir_, block);
  return true;
}

}  // namespace tracegap::http2
