#pragma once
// One direction of one AMQP 0-9-1 connection, as the kernel emits it (frame records, frame.h):
// turns its records into messages (message.h).
//
// Messages. A content-bearing basic method (method.h) on a channel makes a message pending there;
// the next frame of that channel should be its content header, which reports the message:
// complete if the header's headers table was read to its end (ParseContentHeader), else
// incomplete. Frames of other channels may come in between. The message is reported incomplete
// instead (with kind, channel, exchange and routing key as far as they were read) when, before
// its content header:
//   - another method frame arrives on its channel (kUnexpectedMethod), or a METHOD or HEADER
//     frame there is malformed (kBadFrameEnd, kBadFrame);
//   - a content method on a new channel finds max_channels messages pending: the oldest pending
//     one ends (kTooManyChannels) and the new one takes its place;
//   - events are lost (kLost) or the connection closes (Close(): kTruncated).
// BODY frames are never seen beyond their headers and are ignored, as are HEARTBEATs and
// methods without content. A content header with no message pending on its channel is ignored
// (kUnexpectedHeader; after a loss, the header of a message whose method was lost is one).
//
// Loss. An event flagged TG_DATA_LOST_BEFORE makes the decoder report kLost, drop its partial
// record and report every pending message incomplete; then it skips events flagged
// TG_DATA_CONTINUATION (they begin inside a record) and resumes at the first event without it,
// which begins at a record boundary (the lost-before event itself, if it is not flagged). Outside
// that, TG_DATA_CONTINUATION is not read: the record stream is continuous across events, split
// anywhere, and what is reported never depends on where.
//
// Memory: a record that lies inside one Feed() is parsed where it is; otherwise its body is
// copied into a buffer of at most `cap` bytes (released after the record if it grew past
// kRetainBytes). Pending messages: at most max_channels, each with its exchange and routing key
// (at most 255 bytes each) kept inline (about 520 bytes a channel). One content header's fields:
// a vector of at most cap / 4 + 1 entries (released after the message past kRetainFields).
// Idle (nothing pending, no partial record) a direction holds at most kRetainBytes plus
// kRetainFields fields plus a few pending slots; after Close(), nothing.
//
// Thread safety: none. One owner calls every method.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "protocols/amqp/errors.h"
#include "protocols/amqp/frame.h"
#include "protocols/amqp/message.h"
#include "protocols/amqp/method.h"
#include "protocols/header_field.h"

namespace tracegap::amqp {

class DirectionDecoder {
 public:
  static constexpr std::size_t kDefaultMaxChannels = 256;
  static constexpr std::size_t kRetainBytes = 1024;
  static constexpr std::size_t kRetainFields = 64;

  // `cap` must be the kernel's --max-header-bytes: it decides where records end.
  explicit DirectionDecoder(std::size_t cap = kDefaultCap,
                            std::size_t max_channels = kDefaultMaxChannels);

  // One data event's bytes and tg_data_flags (only TG_DATA_LOST_BEFORE and TG_DATA_CONTINUATION
  // are read). Never throws on bad input.
  void Feed(std::string_view bytes, uint16_t flags, MessageSink& sink);
  // Reports kTruncated if the bytes ended inside a record or with a message pending, reports
  // the pending messages incomplete, then forgets everything: the instance is as if new.
  void Close(MessageSink& sink);

  std::size_t cap() const { return cap_; }
  // Bytes of a partial record held for the next Feed() (at most 7 + cap).
  std::size_t buffered_bytes() const { return header_have_ + body_.size(); }
  // Channels with a message waiting for its content header.
  std::size_t pending_messages() const { return pending_.size(); }
  // After a loss, until an event without TG_DATA_CONTINUATION.
  bool skipping() const { return skipping_; }
  // Heap held (record buffer, fields, pending table), for memory tests; never above
  // MemoryBound(cap, max_channels).
  std::size_t memory_bytes() const;
  static std::size_t MemoryBound(std::size_t cap, std::size_t max_channels);

 private:
  struct Pending {
    uint16_t channel = 0;
    MessageKind kind = MessageKind::kPublish;
    uint8_t exchange_len = 0;
    uint8_t routing_key_len = 0;
    std::array<char, 255> exchange{};
    std::array<char, 255> routing_key{};
  };

  void OnRecord(std::string_view body);
  void OnMethod(const CopiedPayload& payload);
  void OnContentHeader(const CopiedPayload& payload);
  void AddPending(const Method& method);
  Pending* FindPending(uint16_t channel);
  // Reports the pending message at `index` incomplete and forgets it.
  void EndPending(std::size_t index, Error reason);
  void EndChannel(uint16_t channel, Error reason);
  void EndAllPending(Error reason);
  void Report(const Pending& p, std::span<const HeaderField> headers, Error reason);
  void ResetRecord();

  std::size_t cap_;
  std::size_t max_channels_;
  MessageSink* sink_ = nullptr;  // during Feed() and Close()
  bool skipping_ = false;

  // The record in progress.
  std::array<char, kFrameHeaderLen> header_bytes_{};
  std::size_t header_have_ = 0;
  FrameHeader header_;
  std::size_t body_len_ = 0;  // once the header is complete
  std::vector<char> body_;    // only when the body spans events

  std::vector<Pending> pending_;  // oldest first
  std::vector<HeaderField> fields_;
};

}  // namespace tracegap::amqp
