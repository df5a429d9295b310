#pragma once
// What the AMQP 0-9-1 decoder reports: one message per content-bearing basic method (publish,
// deliver, get-ok, return) with the headers table of its content header, and errors.

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "protocols/amqp/errors.h"
#include "protocols/header_field.h"
#include "vocabulary.h"

namespace tracegap::amqp {

// The method a message came with.
enum class MessageKind : uint8_t {
  kPublish,  // basic.publish: a client sends a message
  kDeliver,  // basic.deliver: the broker pushes a message to a consumer
  kGetOk,    // basic.get-ok: the broker answers a basic.get with a message
  kReturn,   // basic.return: the broker hands an unroutable (mandatory) message back
};
inline constexpr std::array kAllMessageKinds = {MessageKind::kPublish, MessageKind::kDeliver,
                                                MessageKind::kGetOk, MessageKind::kReturn};

static_assert(vocabulary_internal::InValueOrder(kAllMessageKinds));

constexpr std::string_view Label(MessageKind k) {
  switch (k) {
    case MessageKind::kPublish:
      return "publish";
    case MessageKind::kDeliver:
      return "deliver";
    case MessageKind::kGetOk:
      return "get_ok";
    case MessageKind::kReturn:
      return "return";
  }
  return kInvalidLabel;
}

// One message. Every view is valid only during MessageSink::OnMessage: copy what must outlive it.
struct Message {
  MessageKind kind = MessageKind::kPublish;
  uint16_t channel = 0;
  // From the method's arguments, as sent; empty when the kernel's copy ended before them.
  std::string_view exchange;
  std::string_view routing_key;
  // The headers table's string entries, and its trace-context names whatever their type
  // (WalkFieldTable in field_table.h says exactly which, and how values are given). When
  // incomplete: the entries read before the table became unreadable (often none).
  std::span<const HeaderField> headers;
  // The content header was read and its headers table (if it has one) was read to its end.
  // Otherwise the caller cannot tell whether a trace context was sent.
  bool complete = false;
  Error incomplete_reason = Error::kNone;  // kNone when complete
};

// Receives what a DirectionDecoder finds, synchronously from Feed() and Close(). It must not call
// back into the decoder.
class MessageSink {
 public:
  virtual void OnMessage(const Message& message) = 0;
  virtual void OnError(Error error) = 0;

 protected:
  ~MessageSink() = default;
};

}  // namespace tracegap::amqp
