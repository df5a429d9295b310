#pragma once
// The fixed set of reasons the NATS decoder reports through MessageSink::OnError, and their stable
// labels (metric label values). Never rename a label; add new reasons before kCount.
//
// None of them stops the decoder: the stream is made of "\r\n"-terminated control lines, and the
// only bytes that are not lines are the header blocks after valid HPUB and HMSG lines, whose
// length the line itself gives (line.h). So after any error the next line is found again. What
// each reason costs:
//   direction  kLost, kTruncated: a message whose header block was pending ends incomplete.
//   line       kLineTooLong: the line's subject, reply-to and sid are not read (a publish or
//              delivery is still reported, see direction_decoder.h). kUnknownOperation,
//              kBadArguments, kBadSize, kHeaderSizeOverTotal: the line is ignored (no message,
//              no header block follows it).
//   block      kTruncatedHeaders, kBadHeaderVersion, kBadHeaderLine, kBadHeaderEnd: the message
//              is reported incomplete, with the fields read before the problem.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tracegap::nats {

enum class Error : uint8_t {
  kNone = 0,
  // direction
  kLost,       // TG_DATA_LOST_BEFORE: events of the direction were lost
  kTruncated,  // Close() inside a line or a header block
  // line
  kLineTooLong,          // a control line ("\r\n" included) longer than --max-header-bytes
  kUnknownOperation,     // a line whose operation is none of NATS's (an empty line included)
  kBadArguments,         // a known operation with the wrong number of fields
  kBadSize,              // a size (or UNSUB's max) that is not 1 to 9 decimal digits
  kHeaderSizeOverTotal,  // HPUB/HMSG: header bytes greater than total bytes
  // header block
  kTruncatedHeaders,  // the copy (--max-header-bytes) ends before the header block does
  kBadHeaderVersion,  // the block does not begin with "NATS/1.0" and an optional status (100-999)
  kBadHeaderLine,     // a field line without a colon, or with a name that is not a token
  kBadHeaderEnd,      // the block does not end with an empty line exactly at its declared size
  kCount,
};

inline constexpr std::size_t kErrorCount = static_cast<std::size_t>(Error::kCount) - 1;

constexpr std::string_view Label(Error e) {
  switch (e) {
    case Error::kNone:
      return "none";
    case Error::kLost:
      return "lost";
    case Error::kTruncated:
      return "truncated";
    case Error::kLineTooLong:
      return "line_too_long";
    case Error::kUnknownOperation:
      return "unknown_operation";
    case Error::kBadArguments:
      return "bad_arguments";
    case Error::kBadSize:
      return "bad_size";
    case Error::kHeaderSizeOverTotal:
      return "header_size_over_total";
    case Error::kTruncatedHeaders:
      return "truncated_headers";
    case Error::kBadHeaderVersion:
      return "bad_header_version";
    case Error::kBadHeaderLine:
      return "bad_header_line";
    case Error::kBadHeaderEnd:
      return "bad_header_end";
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

}  // namespace tracegap::nats
