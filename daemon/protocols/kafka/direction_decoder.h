#pragma once
// One direction of one Kafka connection, as the kernel emits it (frame records, frame.h): the
// client's requests or the broker's responses. Turns Produce requests and Fetch responses into
// messages (message.h), one per Kafka record (record_batch.h says which are complete).
//
// Requests. Every request's header is remembered in the connection's InFlight (in_flight.h) until
// its response, except a Produce request whose acks is 0 (never answered). Produce requests are
// read (produce.h); nothing else of other requests is copied.
// Responses. A response is matched by correlation id (InFlight::Take): no match is
// kUnmatchedResponse; a Fetch response is read (fetch.h); anything else is ignored.
//
// Loss. An event flagged TG_DATA_LOST_BEFORE makes the decoder report kLost and end the frame
// record in progress where its bytes end: if its header was complete, what was copied of it is
// read as a frame cut short (its records past that point are reported incomplete with reason
// kLost when they were counted; a response still takes its request from InFlight). Then it
// skips events flagged TG_DATA_CONTINUATION (they begin inside a record) and resumes at the first
// event without it, which begins at a record boundary (the lost-before event itself, if it is
// not flagged). Outside that, TG_DATA_CONTINUATION is not read: the record stream is continuous
// across events, split anywhere, and what is reported never depends on where.
//
// Memory: a record that lies inside one Feed() is parsed where it is; otherwise its body is
// copied into a buffer of at most `cap` bytes (released after the record if it grew past
// kRetainBytes). One record's headers: a vector of at most cap / 2 + 1 entries (released after the
// frame past kRetainFields). Idle, a direction holds at most kRetainBytes plus kRetainFields
// fields; after Close(), nothing.
//
// Thread safety: none. One owner calls every method.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "protocols/header_field.h"
#include "protocols/kafka/errors.h"
#include "protocols/kafka/frame.h"
#include "protocols/kafka/in_flight.h"
#include "protocols/kafka/message.h"

namespace tracegap::kafka {

class DirectionDecoder {
 public:
  static constexpr std::size_t kRetainBytes = 1024;
  static constexpr std::size_t kRetainFields = 64;

  // `cap` must be the kernel's --max-header-bytes: it decides where records end.
  explicit DirectionDecoder(Side side, std::size_t cap = kDefaultCap);

  // One data event's bytes and tg_data_flags (only TG_DATA_LOST_BEFORE and TG_DATA_CONTINUATION
  // are read). Requests are added to `in_flight`, responses taken from it. Never throws on bad
  // input.
  void Feed(std::string_view bytes, uint16_t flags, InFlight& in_flight, MessageSink& sink);
  // Reports kClosed if the bytes ended inside a record (and reads what was copied of it, as
  // after a loss), then forgets everything: the instance is as if new. `in_flight` is left as it
  // is (Connection::Close() clears it).
  void Close(InFlight& in_flight, MessageSink& sink);

  Side side() const { return side_; }
  std::size_t cap() const { return cap_; }
  // Bytes of a partial record held for the next Feed() (at most 12 + cap).
  std::size_t buffered_bytes() const { return header_have_ + body_.size(); }
  // After a loss, until an event without TG_DATA_CONTINUATION.
  bool skipping() const { return skipping_; }
  // Heap held (record buffer, header fields), for memory tests; never above MemoryBound(cap).
  std::size_t memory_bytes() const;
  static std::size_t MemoryBound(std::size_t cap);

 private:
  // A frame record's body: complete (`stream_cut` kNone; the frame may still be cut by the copy
  // limit), or ended early by the stream (kLost, kClosed).
  void OnFrame(std::string_view body, Error stream_cut);
  void OnRequest(std::string_view body, bool whole, Error cut_reason);
  void OnResponse(std::string_view body, bool whole, Error cut_reason);
  // The stream ends inside the record in progress (loss or close): read what was copied of it.
  void EndPartialRecord(Error reason);
  void ResetRecord();

  Side side_;
  std::size_t header_len_;
  std::size_t cap_;
  InFlight* in_flight_ = nullptr;  // during Feed() and Close()
  MessageSink* sink_ = nullptr;    // idem
  bool skipping_ = false;

  // The record in progress.
  std::array<char, kMaxHeaderLen> header_bytes_{};
  std::size_t header_have_ = 0;
  FrameHeader header_;
  std::size_t body_len_ = 0;  // once the header is complete
  std::vector<char> body_;    // only when the body spans events

  std::vector<HeaderField> fields_;
};

}  // namespace tracegap::kafka
