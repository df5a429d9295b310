#pragma once
// What the NATS decoder reports: one message per publish (PUB, HPUB) and per delivery (MSG, HMSG),
// with the fields of its header block, and errors.

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "protocols/header_field.h"
#include "protocols/nats/errors.h"
#include "vocabulary.h"

namespace tracegap::nats {

// The operation a message came with.
enum class MessageKind : uint8_t {
  kPublish,  // PUB or HPUB: a client sends a message
  kDeliver,  // MSG or HMSG: the server pushes a message to a subscriber
};
inline constexpr std::array kAllMessageKinds = {MessageKind::kPublish, MessageKind::kDeliver};

static_assert(vocabulary_internal::InValueOrder(kAllMessageKinds));

constexpr std::string_view Label(MessageKind k) {
  switch (k) {
    case MessageKind::kPublish:
      return "publish";
    case MessageKind::kDeliver:
      return "deliver";
  }
  return kInvalidLabel;
}

// One message. Every view is valid only during MessageSink::OnMessage: copy what must outlive it.
struct Message {
  MessageKind kind = MessageKind::kPublish;
  // From the control line, as sent; all empty when the line was longer than --max-header-bytes
  // (kLineTooLong was reported before the message). reply_to is empty when none was given; sid
  // is the subscription id of a delivery, empty for a publish.
  std::string_view subject;
  std::string_view reply_to;
  std::string_view sid;
  // HPUB or HMSG: a header block followed the line. PUB and MSG carry none: such a message is
  // complete, without fields (it cannot carry a trace context).
  bool header_block = false;
  // The status of the block's version line ("NATS/1.0 503" -> 503: a server-made message such
  // as "no responders" or a JetStream heartbeat, not an application's); 0 when none.
  uint16_t status = 0;
  // The header block's fields in order, names as sent, values without surrounding spaces and
  // tabs; a name may repeat. When incomplete: the fields read before the block became unreadable.
  std::span<const HeaderField> headers;
  // The header block (if any) was read to its end and is well formed. Otherwise the caller cannot
  // tell whether a trace context was sent.
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

}  // namespace tracegap::nats
