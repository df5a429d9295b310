#pragma once
// One direction of one NATS client connection, as the kernel emits it (line.h: control lines,
// each followed by the copied start of its header block if it frames one): turns it into messages
// (message.h).
//
// Messages. A well-formed PUB or MSG line is reported at once: complete, without fields (it has no
// header block, so no trace context). A well-formed HPUB or HMSG line is reported once its header
// block has arrived (ParseHeaderBlock): complete if the block was copied whole and is well formed;
// incomplete if the copy was cut by `cap` (kTruncatedHeaders), if the block is malformed
// (kBadHeaderVersion, kBadHeaderLine, kBadHeaderEnd; each also reported as an error), or if
// events are lost (kLost) or the connection closes (Close(): kTruncated) before the block is
// whole. Every other line is checked and ignored: INFO, CONNECT, SUB, UNSUB, PING, PONG, +OK,
// -ERR; a line that is not well formed is an error (kUnknownOperation, kBadArguments, kBadSize,
// kHeaderSizeOverTotal), followed by no header block, and decoding goes on at the next line.
//
// Long lines. A line longer than `cap` ("\r\n" included) is reported (kLineTooLong) and scanned
// without being held (LineScanner): if it is a well-formed PUB, HPUB, MSG or HMSG, its message is
// still reported, as above, but with an empty subject, reply-to and sid; an HPUB or HMSG line's
// header block is read as usual, so the stream stays in step whatever the lines' length.
//
// Loss. An event flagged TG_DATA_LOST_BEFORE makes the decoder report kLost, report the message
// whose header block was pending incomplete (with the fields of the block's lines received whole),
// and drop its partial line; then it skips events flagged TG_DATA_CONTINUATION (they begin inside
// a line or a header block) and resumes at the first event without it, which begins at a line
// (the lost-before event itself, if it is not flagged). Outside that, TG_DATA_CONTINUATION is not
// read: the stream is continuous across events, split anywhere, and what is reported never
// depends on where.
//
// Memory: a line, and a header block, that lies inside one Feed() is parsed where it is;
// otherwise it is copied into a buffer of at most `cap` bytes (one for the line, kept while its
// block arrives, one for the block; each released after use if it grew past kRetainBytes). One
// block's fields: a vector of at most cap / 4 entries (released after the message past
// kRetainFields). Idle, a direction holds at most twice kRetainBytes plus kRetainFields fields;
// after Close(), nothing.
//
// Thread safety: none. One owner calls every method.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "protocols/header_field.h"
#include "protocols/nats/errors.h"
#include "protocols/nats/line.h"
#include "protocols/nats/message.h"

namespace tracegap::nats {

class DirectionDecoder {
 public:
  static constexpr std::size_t kRetainBytes = 1024;
  static constexpr std::size_t kRetainFields = 64;

  // `cap` must be the kernel's --max-header-bytes: it decides how much of a header block follows.
  explicit DirectionDecoder(std::size_t cap = kDefaultCap);

  // One data event's bytes and tg_data_flags (only TG_DATA_LOST_BEFORE and TG_DATA_CONTINUATION
  // are read). Never throws on bad input.
  void Feed(std::string_view bytes, uint16_t flags, MessageSink& sink);
  // Reports kTruncated if the bytes ended inside a line or a header block, reports the pending
  // message incomplete, then forgets everything: the instance is as if new.
  void Close(MessageSink& sink);

  std::size_t cap() const { return cap_; }
  // Bytes held for the next Feed(): a partial line (at most `cap`), or the line of a pending
  // header block and the block's start (at most `cap` each).
  std::size_t buffered_bytes() const { return line_.size() + block_.size(); }
  // An HPUB or HMSG line was read and its header block has not all arrived.
  bool block_pending() const { return state_ == State::kBlock; }
  // Inside a line longer than `cap`.
  bool in_long_line() const { return state_ == State::kLongLine; }
  // After a loss, until an event without TG_DATA_CONTINUATION.
  bool skipping() const { return skipping_; }
  // Heap held (line and block buffers, fields), for memory tests; never above MemoryBound(cap).
  std::size_t memory_bytes() const;
  static std::size_t MemoryBound(std::size_t cap);

 private:
  enum class State : uint8_t {
    kLine,      // at or inside a line held in line_ (at most cap bytes)
    kLongLine,  // inside a line longer than cap: scanned by long_, not held
    kBlock,     // the header block of the line in line_ (empty for a long line) is arriving
  };

  void FeedLine(std::string_view& bytes);
  void FeedLongLine(std::string_view& bytes);
  void FeedBlock(std::string_view& bytes);
  void StartLongLine();
  void EndLongLine();
  // A line that fit, without its "\r\n". `rest`: the bytes after it when it lies in the event's
  // bytes (its header block may be there too); null when it is line_ itself.
  void OnLine(std::string_view line, std::string_view* rest);
  void StartBlock(MessageKind kind, uint32_t header_bytes, bool long_line);
  void EndBlock(std::string_view block);
  // Reports the message whose block was pending incomplete, with the fields of what arrived.
  void AbandonBlock(Error reason);
  void ReportBlock(const ControlLine& line, std::string_view block, bool whole);
  void ReportPlain(const ControlLine& line);
  void Report(const ControlLine& line, bool header_block, uint16_t status, Error reason);
  void ResetPartial();
  void Append(std::vector<char>& buffer, std::string_view bytes);

  std::size_t cap_;
  MessageSink* sink_ = nullptr;  // during Feed() and Close()
  bool skipping_ = false;
  State state_ = State::kLine;

  std::vector<char> line_;  // kLine: a partial line; kBlock: the block's line, without "\r\n"
  LineScanner long_;        // kLongLine
  bool long_cr_ = false;    // kLongLine: the bytes so far end with a '\r' not yet scanned

  // kBlock
  MessageKind block_kind_ = MessageKind::kPublish;
  bool block_long_line_ = false;  // the line was too long: line_ is empty
  uint32_t block_declared_ = 0;   // header_bytes on the line
  std::size_t block_need_ = 0;    // min(header_bytes, cap): what follows in the stream
  std::vector<char> block_;       // only when the block spans events

  std::vector<HeaderField> fields_;
};

}  // namespace tracegap::nats
