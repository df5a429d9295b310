#pragma once
// The fixed set of reasons the Kafka decoder reports through MessageSink::OnError, and their stable
// labels (metric label values of tracegap_parse_errors_total{protocol="kafka"}). Never rename a
// label; add new reasons before kCount.
//
// None of them stops the decoder: the kernel decides where each frame record begins (from the
// request's or response's size field), so the record stream is followed whatever the bytes inside
// say. What each reason costs:
//   direction  kLost, kClosed: the frame record in progress ends where its copied bytes end; its
//              records past that point end incomplete or, uncounted, are not reported.
//   frame      kTruncated: the copy (--max-header-bytes) ended before the frame's records did.
//              kBadFrame: the rest of the frame is not read. kUnsupportedVersion: none of it is.
//              kUnmatchedResponse: a response whose request was not seen (lost, or never sent
//              on this connection as far as the decoder knows): it is not read.
//              kTooManyInFlight: the oldest unanswered request is forgotten.
//   batch      kBadBatch, kOldFormat: the batch's records (and those after it in its records
//              field) are not read. kCompressed: its records are reported incomplete.
//              kTooManyRecords: records past the per-batch or per-frame limit are not reported.
//   record     kBadRecord: one record (or, when it cannot be stepped over, the rest of its
//              batch) is reported incomplete.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tracegap::kafka {

enum class Error : uint8_t {
  kNone = 0,
  // direction
  kLost,    // TG_DATA_LOST_BEFORE: events of the direction were lost
  kClosed,  // Close() inside a frame record
  // frame
  kTruncated,           // the copy (--max-header-bytes) ends before the frame's records do
  kBadFrame,            // a Produce request or Fetch response whose fields overrun or make no sense
  kUnsupportedVersion,  // a Produce or Fetch version outside what the decoder reads
  kUnmatchedResponse,   // a response whose correlation id matches no request in flight
  kTooManyInFlight,     // more unanswered requests than the limit: the oldest is forgotten
  // batch
  kBadBatch,        // a RecordBatch whose length, magic or record count is impossible
  kOldFormat,       // a message set of magic 0 or 1 in a Fetch response: its messages not counted
  kCompressed,      // a compressed RecordBatch: its records cannot be read
  kTooManyRecords,  // more records in a batch or a frame than are reported
  // record
  kBadRecord,  // a Record whose fields overrun its length, or a negative length or count
  kCount,
};

inline constexpr std::size_t kErrorCount = static_cast<std::size_t>(Error::kCount) - 1;

constexpr std::string_view Label(Error e) {
  switch (e) {
    case Error::kNone:
      return "none";
    case Error::kLost:
      return "lost";
    case Error::kClosed:
      return "closed";
    case Error::kTruncated:
      return "truncated";
    case Error::kBadFrame:
      return "bad_frame";
    case Error::kUnsupportedVersion:
      return "unsupported_version";
    case Error::kUnmatchedResponse:
      return "unmatched_response";
    case Error::kTooManyInFlight:
      return "too_many_in_flight";
    case Error::kBadBatch:
      return "bad_batch";
    case Error::kOldFormat:
      return "old_format";
    case Error::kCompressed:
      return "compressed";
    case Error::kTooManyRecords:
      return "too_many_records";
    case Error::kBadRecord:
      return "bad_record";
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

}  // namespace tracegap::kafka
