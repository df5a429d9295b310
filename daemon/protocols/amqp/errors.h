#pragma once
// The fixed set of reasons the AMQP 0-9-1 decoder reports through MessageSink::OnError, and their
// stable labels (metric label values). Never rename a label; add new reasons before kCount.
//
// None of them stops the decoder: the kernel decides where each frame record begins (from the
// frame's size field), so the record stream is followed whatever the bytes inside say. What each
// reason costs:
//   direction  kLost, kTruncated: every message pending in the direction ends incomplete.
//   frame      kBadFrameEnd, kBadFrame: the frame is dropped; a message pending on its channel
//              ends incomplete. kUnknownFrameType: the frame is ignored.
//   message    kUnexpectedMethod, kTooManyChannels: one pending message ends incomplete.
//              kUnexpectedHeader: a content header nothing waits for is ignored.
//   table      kTruncatedTable, kUnknownFieldType, kBadTable: the message's headers table could
//              not be read to its end; the message is reported incomplete.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tracegap::amqp {

enum class Error : uint8_t {
  kNone = 0,
  // direction
  kLost,       // TG_DATA_LOST_BEFORE: events of the direction were lost
  kTruncated,  // Close() inside a frame record, or with a message pending
  // frame
  kBadFrameEnd,       // a METHOD or HEADER frame copied whole whose last octet is not 0xCE
  kBadFrame,          // a METHOD or HEADER payload copied whole that is too short for its fields
  kUnknownFrameType,  // a frame type other than METHOD, HEADER, BODY and HEARTBEAT
  // message
  kUnexpectedMethod,  // a method frame on a channel that waits for a content header
  kUnexpectedHeader,  // a content header on a channel where no content method is pending
  kTooManyChannels,   // more channels with a message pending than the limit: the oldest ends
  // table
  kTruncatedTable,    // the copy (--max-header-bytes) ends before the headers table does
  kUnknownFieldType,  // a field value type outside RabbitMQ's table: the rest cannot be walked
  kBadTable,          // the table's entries overrun its size, or its size overruns the payload
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
    case Error::kBadFrameEnd:
      return "bad_frame_end";
    case Error::kBadFrame:
      return "bad_frame";
    case Error::kUnknownFrameType:
      return "unknown_frame_type";
    case Error::kUnexpectedMethod:
      return "unexpected_method";
    case Error::kUnexpectedHeader:
      return "unexpected_header";
    case Error::kTooManyChannels:
      return "too_many_channels";
    case Error::kTruncatedTable:
      return "truncated_table";
    case Error::kUnknownFieldType:
      return "unknown_field_type";
    case Error::kBadTable:
      return "bad_table";
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

}  // namespace tracegap::amqp
