#pragma once
// What the Kafka decoder reports: one message per Kafka record of a Produce request (a client
// sends it) or of a Fetch response (the broker hands it to a consumer), with the record's headers,
// and errors.

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "protocols/header_field.h"
#include "protocols/kafka/errors.h"
#include "vocabulary.h"

namespace tracegap::kafka {

// The frame a message came in.
enum class MessageKind : uint8_t {
  kProduce,  // a record of a Produce request: a client publishes it
  kFetch,    // a record of a Fetch response: the broker delivers it to a consumer (or a follower)
};
inline constexpr std::array kAllMessageKinds = {MessageKind::kProduce, MessageKind::kFetch};

static_assert(vocabulary_internal::InValueOrder(kAllMessageKinds));

constexpr std::string_view Label(MessageKind k) {
  switch (k) {
    case MessageKind::kProduce:
      return "produce";
    case MessageKind::kFetch:
      return "fetch";
  }
  return kInvalidLabel;
}

// One message. Every view is valid only during MessageSink::OnMessage: copy what must outlive it.
struct Message {
  MessageKind kind = MessageKind::kProduce;
  // The topic as the frame names it: by name up to Produce v12 and Fetch v12 (`topic`, as sent,
  // possibly empty), by id from v13 on (`topic_id`: its 16 bytes, raw; `topic` is then empty).
  std::string_view topic;
  std::string_view topic_id;
  int32_t partition = 0;
  // The request's correlation id (of the Fetch request a Fetch response answers) and version.
  int32_t correlation_id = 0;
  int16_t api_version = 0;
  // The record's headers, in wire order: {key, value} as sent (a null value is ""), the value with
  // leading and trailing spaces and tabs removed (HeaderField's contract). When incomplete: the
  // headers read before the record became unreadable (often none).
  std::span<const HeaderField> headers;
  // The record was read to its end, headers included. Otherwise the caller cannot tell whether
  // a trace context was sent.
  bool complete = false;
  Error incomplete_reason = Error::kNone;  // kNone when complete
};

// Receives what the decoder finds, synchronously from Feed() and Close(). It must not call back
// into the decoder.
class MessageSink {
 public:
  virtual void OnMessage(const Message& message) = 0;
  virtual void OnError(Error error) = 0;

 protected:
  ~MessageSink() = default;
};

}  // namespace tracegap::kafka
