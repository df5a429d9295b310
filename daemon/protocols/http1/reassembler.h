#pragma once
// Turns the HTTP/1 header bytes the BPF side emits for one connection and direction into
// messages. See bpf/http1_scan.h for what the kernel sends: each data event either starts at a
// message start or (TG_DATA_CONTINUATION) continues the trailing incomplete block of the
// previous event; bodies are never sent, blocks end at CRLFCRLF.
//
// When each incompleteness reason fires:
//   kTruncated  the event has TG_DATA_TRUNCATED: its trailing incomplete block is flushed.
//   kLost       the event has TG_DATA_LOST_BEFORE: the pending block is flushed.
//   kUnsynced   a continuation whose block start was never seen (nothing pending, or after
//               TG_DATA_LOST_BEFORE): reported once via OnError, and its bytes are dropped up to
//               and including the first CRLFCRLF (possibly several events later).
//   kAbandoned  an event without TG_DATA_CONTINUATION while a block is pending.
//   kTooLarge   a block longer than max_block_bytes (CRLFCRLF included), or an incomplete one
//               that reached it: its first max_block_bytes are flushed and the rest is skipped
//               to the CRLFCRLF. This is checked whether or not the block arrived in one event,
//               so the outcome never depends on how the bytes were split.
//   kClosed     Close() while a block is pending.
// A flushed block yields OnMessage with complete == false if its start line was fully read and
// every fully read header line is valid; otherwise OnError with the validation error, or with
// the incompleteness reason itself when not even the start line was read.
//
// Copying: a block lying entirely inside one event is parsed where it is; only a trailing
// incomplete block is copied, into a buffer that never exceeds max_block_bytes.
//
// Thread safety: none. One owner (the thread handling the connection's events) calls every
// method; distinct instances are independent.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/header_field.h"
#include "protocols/http1/message.h"
#include "tracegap.h"

namespace tracegap::http1 {

// Receives what a Reassembler produces. Called synchronously from Feed() and Close(); an
// implementation must not call back into the same Reassembler.
class MessageSink {
 public:
  // A complete message, or an incomplete one whose start line was read (message.complete).
  // The views in `message` are valid only during this call.
  virtual void OnMessage(const Message& message) = 0;
  // A header block that yielded no message, and why.
  virtual void OnError(ParseError reason) = 0;

 protected:
  ~MessageSink() = default;
};

class Reassembler {
 public:
  static constexpr std::size_t kDefaultMaxBlockBytes = TG_DEFAULT_MAX_HEADER_BYTES;

  // `max_block_bytes` (--max-header-bytes) should equal the kernel side's limit; values below
  // 4 are raised to 4 so that a CRLFCRLF always fits.
  explicit Reassembler(std::size_t max_block_bytes = kDefaultMaxBlockBytes);

  // Feeds the bytes of one data event; `flags` is tg_data_event.hdr.flags (tg_data_flags).
  // Never throws on bad input.
  void Feed(std::string_view bytes, uint16_t flags, MessageSink& sink);

  // The connection closed: a pending block is flushed as incomplete (kClosed). The instance
  // is then as if new.
  void Close(MessageSink& sink);

  // Bytes of the trailing incomplete block held for the next event (<= max_block_bytes).
  std::size_t pending_bytes() const { return pending_.size(); }

 private:
  enum class State : uint8_t {
    kIdle,      // the next event's bytes, if a continuation, belong to no known block
    kPending,   // pending_ holds the start of a block
    kSkipping,  // dropping bytes up to the end of the current block
  };

  void BeginEvent(uint16_t flags, MessageSink& sink);
  std::string_view ContinuePending(std::string_view bytes, MessageSink& sink);
  std::string_view Skip(std::string_view bytes);
  void ParseBlocks(std::string_view bytes, bool truncated, MessageSink& sink);
  void StartSkipping(uint8_t match);
  void FlushPending(ParseError reason, MessageSink& sink);
  void Deliver(std::string_view block, ParseError incomplete_reason, MessageSink& sink);

  std::size_t max_block_bytes_;
  State state_ = State::kIdle;
  // How many bytes of "\r\n\r\n" the bytes held (kPending) or skipped (kSkipping) end with, so
  // a terminator split between events is still found.
  uint8_t match_ = 0;
  std::string pending_;
  Message message_;
  std::vector<HeaderField> scratch_;
};

}  // namespace tracegap::http1
