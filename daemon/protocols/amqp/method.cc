#include "protocols/amqp/method.h"

#include "protocols/amqp/reader.h"

namespace tracegap::amqp {
namespace {

// Reads the arguments of a content-bearing method up to the routing key and whatever fixed
// fields follow it; false if the bytes end first.
bool ReadArguments(MessageKind kind, Reader& in, Method& m) {
  std::string_view skipped;
  std::string_view exchange;
  switch (kind) {
    case MessageKind::kPublish:
      if (!in.Skip(2) || !in.ShortStr(exchange)) return false;
      m.exchange = exchange;
      return in.ShortStr(m.routing_key) && in.Skip(1);
    case MessageKind::kReturn:
      if (!in.Skip(2) || !in.ShortStr(skipped) || !in.ShortStr(exchange)) return false;
      m.exchange = exchange;
      return in.ShortStr(m.routing_key);
    case MessageKind::kDeliver:
      if (!in.ShortStr(skipped) || !in.Skip(8 + 1) || !in.ShortStr(exchange)) return false;
      m.exchange = exchange;
      return in.ShortStr(m.routing_key);
    case MessageKind::kGetOk:
      if (!in.Skip(8 + 1) || !in.ShortStr(exchange)) return false;
      m.exchange = exchange;
      return in.ShortStr(m.routing_key) && in.Skip(4);
  }
  return false;
}

}  // namespace

std::optional<MessageKind> ContentMethodKind(uint16_t class_id, uint16_t method_id) {
  if (class_id != kClassBasic) return std::nullopt;
  switch (method_id) {
    case kMethodPublish:
      return MessageKind::kPublish;
    case kMethodReturn:
      return MessageKind::kReturn;
    case kMethodDeliver:
      return MessageKind::kDeliver;
    case kMethodGetOk:
      return MessageKind::kGetOk;
    default:
      return std::nullopt;
  }
}

Method ParseMethod(std::string_view payload, bool whole) {
  Method m;
  Reader in(payload);
  if (!in.U16(m.class_id) || !in.U16(m.method_id)) {
    m.class_id = m.method_id = 0;
    if (whole) m.error = Error::kBadFrame;
    return m;
  }
  m.identified = true;
  m.content = ContentMethodKind(m.class_id, m.method_id);
  if (m.content && !ReadArguments(*m.content, in, m) && whole) m.error = Error::kBadFrame;
  return m;
}

}  // namespace tracegap::amqp
