#pragma once
// Kafka records fields (the "records" of a Produce request's partition or a Fetch response's):
// RecordBatches (magic 2) back to back, walked for their records' headers, and the per-frame
// reporting they share.
//
// RecordBatch v2: baseOffset int64, batchLength int32 (bytes after this field),
// partitionLeaderEpoch int32, magic int8 (2), crc uint32, attributes int16 (bits 0-2 compression,
// bit 4 transactional, bit 5 control), lastOffsetDelta int32, baseTimestamp int64, maxTimestamp
// int64, producerId int64, producerEpoch int16, baseSequence int32, then the record count (int32)
// and the records (compressed as one block when the compression bits are set). 61 bytes of header
// in all. Record: length varint (bytes after it), attributes int8, timestampDelta varlong,
// offsetDelta varint, keyLength varint (-1: null) and key, valueLength varint (-1: null) and value,
// header count varint, then per header keyLength varint and key, valueLength varint (-1: null) and
// value. (Varints are zigzag-encoded; reader.h.) The crc is not checked.
//
// What is reported, per batch:
//   - an uncompressed batch: one message per record, complete if the record was read to its end
//     (headers included), else incomplete, with the headers read before that point;
//   - records that exist but cannot be read are reported incomplete, as many as the batch header
//     counts (and could fit in the batch's length): those of a compressed batch (kCompressed),
//     those past the end of the copy (the frame's cut reason: kTruncated for --max-header-bytes,
//     kLost or kClosed when the stream ended inside the frame), those after a record that
//     cannot be stepped over (kBadRecord);
//   - a control batch (transaction markers) has no messages.
// Records whose batch header lies past the end of the copy cannot be counted: they are not
// reported at all, only the cut is (kTruncated, once per frame). That is the common case for all
// but the first few batches of a large Fetch response.
// A Fetch response's records field may end with a batch the broker cut short (its length runs past
// the field's): a consumer drops it and fetches it again, so it is not reported. In a Produce
// request that is kBadBatch. Message sets of magic 0 and 1 (only in Fetch responses, from old
// logs) are stepped over uncounted (kOldFormat, once per records field).
//
// Limits: at most kMaxMessagesPerBatch messages per batch and kMaxMessagesPerFrame per frame;
// past either, kTooManyRecords is reported (once per batch; once per frame for the latter) and the
// rest are not.
//
// Pure: reports through a MessageSink; appends to a caller-given vector, allocates nothing else.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "protocols/header_field.h"
#include "protocols/kafka/errors.h"
#include "protocols/kafka/message.h"

namespace tracegap::kafka {

inline constexpr std::size_t kMaxMessagesPerBatch = 1024;
inline constexpr std::size_t kMaxMessagesPerFrame = 4096;

inline constexpr std::size_t kBatchHeaderLen = 61;    // up to and including the record count
inline constexpr std::size_t kBatchPrefixLen = 12;    // baseOffset + batchLength
inline constexpr std::size_t kBatchMagicOffset = 16;  // after partitionLeaderEpoch
inline constexpr std::size_t kBatchAttributesOffset = 21;
inline constexpr std::size_t kBatchCountOffset = 57;
inline constexpr int32_t kMinBatchLength = kBatchHeaderLen - kBatchPrefixLen;  // 49
// The smallest record: a length varint and six one-byte fields (attributes, timestampDelta,
// offsetDelta, keyLength, valueLength, header count).
inline constexpr std::size_t kMinRecordLen = 7;

inline constexpr uint16_t kCompressionMask = 0x07;
inline constexpr uint16_t kControlBit = 0x20;

// Where the records of one records field belong: what each of their messages carries.
struct Place {
  MessageKind kind = MessageKind::kProduce;
  std::string_view topic;
  std::string_view topic_id;
  int32_t partition = 0;
  int32_t correlation_id = 0;
  int16_t api_version = 0;
};

// What one frame reports: messages and errors, within the limits above. `cut_reason` says why
// the frame's bytes may end before the frame does: kTruncated (the copy limit), kLost or kClosed
// (the stream ended inside the frame; the decoder reports those itself).
class FrameReports {
 public:
  FrameReports(MessageSink& sink, std::vector<HeaderField>& fields, Error cut_reason)
      : sink_(sink), fields_(fields), cut_reason_(cut_reason) {}

  Error cut_reason() const { return cut_reason_; }
  // The frame's copied bytes end before what remains to be read: reports kTruncated once per frame
  // when that is the copy limit's doing. Parsing stops there (nothing after is visible).
  void Cut();
  bool cut() const { return cut_; }

  void ReportError(Error e) { sink_.OnError(e); }
  // Starts a batch's limit.
  void BeginBatch();
  // One message; false (and kTooManyRecords reported, once per batch) past a limit.
  bool Report(const Place& place, std::span<const HeaderField> headers, Error reason);
  // `count` messages without headers, incomplete for `reason`, within the limits.
  void ReportIncomplete(const Place& place, uint64_t count, Error reason);
  std::size_t messages() const { return messages_; }

  // Scratch for one record's headers.
  std::vector<HeaderField>& fields() { return fields_; }

 private:
  MessageSink& sink_;
  std::vector<HeaderField>& fields_;
  Error cut_reason_;
  bool cut_ = false;
  std::size_t messages_ = 0;
  std::size_t batch_messages_ = 0;
  bool limit_reported_ = false;
};

// Reads one record's fields after its length (`record` is exactly the length's bytes) and appends
// its headers to `fields` ({key, value}, value trimmed, null as ""). kNone when the record was read
// to its end exactly, else kBadRecord (with the headers read before the fault appended).
Error ParseRecord(std::string_view record, std::vector<HeaderField>& fields);

// Walks one records field and reports its messages. `copied` is the field's bytes as copied: all
// of them, or a prefix when the copy ended inside the field (then the frame is cut there and
// `reports.Cut()` is called if records may have been missed); `length` is the field's length on
// the wire. `fetch`: the field is a Fetch response's (a trailing partial batch is the broker's).
void WalkRecordSet(std::string_view copied, uint64_t length, bool fetch, const Place& place,
                   FrameReports& reports);

}  // namespace tracegap::kafka
