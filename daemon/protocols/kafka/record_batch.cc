#include "protocols/kafka/record_batch.h"

#include <algorithm>

#include "protocols/kafka/reader.h"

namespace tracegap::kafka {
namespace {

uint32_t BigEndian(std::string_view bytes, std::size_t at, std::size_t n) {
  uint32_t x = 0;
  for (std::size_t i = 0; i < n; ++i) x = (x << 8) | static_cast<uint8_t>(bytes[at + i]);
  return x;
}

// A key or value length: -1 (null) or a byte count.
bool SkipOptionalBytes(Reader& r, std::string_view* out) {
  int32_t n = 0;
  if (!r.Varint(n)) return false;
  if (n == -1) {
    if (out != nullptr) *out = {};
    return true;
  }
  if (n < 0) return r.Fail(Reader::Status::kBad);
  std::string_view bytes;
  if (!r.Bytes(static_cast<uint64_t>(n), bytes)) return false;
  if (out != nullptr) *out = bytes;
  return true;
}

// Walks the records of an uncompressed batch. `records` are the batch's bytes after its header as
// copied, `unseen` how many of its bytes lie past the copy (0: all were copied), `count` the
// header's record count. Returns false when the copy ended inside the batch (the frame is cut).
bool WalkRecords(std::string_view records, uint64_t unseen, uint64_t count, const Place& place,
                 FrameReports& reports) {
  const bool whole = unseen == 0;
  Reader r(records);
  for (uint64_t i = 0; i < count; ++i) {
    // The records that exist from here on but cannot be read: as many as the count says, but no
    // more than the batch's remaining bytes could hold.
    const uint64_t left = std::min<uint64_t>(
        count - i, std::max<uint64_t>(1, (r.remaining() + unseen) / kMinRecordLen));
    if (r.remaining() == 0) {
      if (whole) {  // the count says more records than the batch holds: they do not exist
        reports.ReportError(Error::kBadBatch);
        return true;
      }
      reports.Cut();
      reports.ReportIncomplete(place, left, reports.cut_reason());
      return false;
    }
    int32_t length = 0;
    const bool length_read = r.Varint(length);
    if (length_read && length >= 0 && static_cast<uint64_t>(length) <= r.remaining()) {
      std::string_view record;
      r.Bytes(static_cast<uint64_t>(length), record);
      reports.fields().clear();
      const Error e = ParseRecord(record, reports.fields());
      if (e != Error::kNone) reports.ReportError(e);
      if (!reports.Report(place, reports.fields(), e)) return true;
      continue;
    }
    const bool fits = length_read
                          ? length >= 0 && static_cast<uint64_t>(length) <= r.remaining() + unseen
                          : r.short_read();
    if (!whole && fits) {  // the record (or its length) runs past the copy, not past the batch
      reports.Cut();
      reports.ReportIncomplete(place, left, reports.cut_reason());
      return false;
    }
    // A negative length, a varint too long, or a record running past its batch: the records from
    // here on cannot be located.
    reports.ReportError(Error::kBadRecord);
    reports.ReportIncomplete(place, left, Error::kBadRecord);
    return true;
  }
  if (whole && r.remaining() != 0) reports.ReportError(Error::kBadBatch);  // bytes past the count
  return true;
}

}  // namespace

void FrameReports::Cut() {
  if (cut_) return;
  cut_ = true;
  if (cut_reason_ == Error::kTruncated) sink_.OnError(Error::kTruncated);
}

void FrameReports::BeginBatch() {
  batch_messages_ = 0;
  if (messages_ < kMaxMessagesPerFrame) limit_reported_ = false;
}

bool FrameReports::Report(const Place& place, std::span<const HeaderField> headers, Error reason) {
  if (messages_ >= kMaxMessagesPerFrame || batch_messages_ >= kMaxMessagesPerBatch) {
    if (!limit_reported_) sink_.OnError(Error::kTooManyRecords);
    limit_reported_ = true;
    return false;
  }
  ++messages_;
  ++batch_messages_;
  Message m;
  m.kind = place.kind;
  m.topic = place.topic;
  m.topic_id = place.topic_id;
  m.partition = place.partition;
  m.correlation_id = place.correlation_id;
  m.api_version = place.api_version;
  m.headers = headers;
  m.complete = reason == Error::kNone;
  m.incomplete_reason = reason;
  sink_.OnMessage(m);
  return true;
}

void FrameReports::ReportIncomplete(const Place& place, uint64_t count, Error reason) {
  for (uint64_t i = 0; i < count; ++i) {
    if (!Report(place, {}, reason)) return;
  }
}

Error ParseRecord(std::string_view record, std::vector<HeaderField>& fields) {
  Reader r(record);
  int8_t attributes = 0;
  int64_t timestamp_delta = 0;
  int32_t offset_delta = 0;
  int32_t header_count = 0;
  if (!r.I8(attributes) || !r.Varlong(timestamp_delta) || !r.Varint(offset_delta) ||
      !SkipOptionalBytes(r, nullptr) || !SkipOptionalBytes(r, nullptr) || !r.Varint(header_count)) {
    return Error::kBadRecord;
  }
  if (header_count < 0) return Error::kBadRecord;
  // Each header takes at least two bytes: the loop is bounded by the record's length.
  for (int32_t i = 0; i < header_count; ++i) {
    int32_t key_length = 0;
    std::string_view key;
    std::string_view value;
    if (!r.Varint(key_length) || key_length < 0 ||
        !r.Bytes(static_cast<uint64_t>(key_length), key) || !SkipOptionalBytes(r, &value)) {
      return Error::kBadRecord;
    }
    fields.push_back({key, TrimOws(value)});
  }
  return r.remaining() == 0 ? Error::kNone : Error::kBadRecord;
}

void WalkRecordSet(std::string_view copied, uint64_t length, bool fetch, const Place& place,
                   FrameReports& reports) {
  bool old_format_reported = false;
  uint64_t pos = 0;
  while (pos < length) {
    const uint64_t left = length - pos;  // of the field, on the wire
    const std::string_view seen = pos < copied.size() ? copied.substr(pos) : std::string_view();
    if (left < kBatchPrefixLen) {
      // Too short for a batch: a fetch's partial last batch (dropped by the consumer), else bad.
      if (!fetch) reports.ReportError(Error::kBadBatch);
      return;
    }
    if (seen.size() < kBatchPrefixLen) return reports.Cut();
    const auto batch_length = static_cast<int32_t>(BigEndian(seen, 8, 4));
    if (batch_length < 0) return reports.ReportError(Error::kBadBatch);
    const uint64_t total = kBatchPrefixLen + static_cast<uint64_t>(batch_length);
    if (total > left) {
      if (!fetch) reports.ReportError(Error::kBadBatch);
      return;  // fetch: the broker's partial last batch
    }
    if (seen.size() <= kBatchMagicOffset) return reports.Cut();
    const auto magic = static_cast<uint8_t>(seen[kBatchMagicOffset]);
    if (magic < 2 && fetch) {
      // A legacy message set entry: offset int64, size int32, then the message. Stepped over.
      if (!old_format_reported) reports.ReportError(Error::kOldFormat);
      old_format_reported = true;
      pos += total;
      continue;
    }
    if (magic != 2 || batch_length < kMinBatchLength) return reports.ReportError(Error::kBadBatch);
    if (seen.size() < kBatchHeaderLen) return reports.Cut();
    const auto attributes = static_cast<uint16_t>(BigEndian(seen, kBatchAttributesOffset, 2));
    const auto count = static_cast<int32_t>(BigEndian(seen, kBatchCountOffset, 4));
    if (count < 0) return reports.ReportError(Error::kBadBatch);
    if ((attributes & kControlBit) == 0) {
      reports.BeginBatch();
      if ((attributes & kCompressionMask) != 0) {
        reports.ReportError(Error::kCompressed);
        reports.ReportIncomplete(place, static_cast<uint64_t>(count), Error::kCompressed);
      } else {
        const auto visible = static_cast<std::size_t>(std::min<uint64_t>(total, seen.size()));
        const std::string_view records = seen.substr(kBatchHeaderLen, visible - kBatchHeaderLen);
        if (!WalkRecords(records, total - visible, static_cast<uint64_t>(count), place, reports)) {
          return;
        }
      }
    }
    pos += total;
  }
}

}  // namespace tracegap::kafka
