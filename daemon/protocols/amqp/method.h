#pragma once
// AMQP 0-9-1 method frame payloads: class-id u16, method-id u16, arguments. Only the four basic
// methods that content (a content header, then body frames) follows on the same channel have
// their arguments read:
//   basic.publish  (60,40)  reserved-1 short, exchange shortstr, routing-key shortstr, bits octet
//   basic.return   (60,50)  reply-code short, reply-text shortstr, exchange shortstr,
//                           routing-key shortstr
//   basic.deliver  (60,60)  consumer-tag shortstr, delivery-tag longlong, redelivered octet,
//                           exchange shortstr, routing-key shortstr
//   basic.get-ok   (60,71)  delivery-tag longlong, redelivered octet, exchange shortstr,
//                           routing-key shortstr, message-count long
// Every other method is taken as it is (its class and method ids only).
//
// Pure; no allocation.

#include <cstdint>
#include <optional>
#include <string_view>

#include "protocols/amqp/errors.h"
#include "protocols/amqp/message.h"

namespace tracegap::amqp {

inline constexpr uint16_t kClassBasic = 60;
inline constexpr uint16_t kMethodPublish = 40;
inline constexpr uint16_t kMethodReturn = 50;
inline constexpr uint16_t kMethodDeliver = 60;
inline constexpr uint16_t kMethodGetOk = 71;

// The MessageKind of a content-bearing method, or nullopt.
std::optional<MessageKind> ContentMethodKind(uint16_t class_id, uint16_t method_id);

struct Method {
  // kNone, or kBadFrame: the payload was copied whole but is shorter than the ids, or than the
  // arguments of a content-bearing method. The fields below hold what was read before that.
  Error error = Error::kNone;
  bool identified = false;  // class_id and method_id were read (the copy may be cut before them)
  uint16_t class_id = 0;
  uint16_t method_id = 0;
  std::optional<MessageKind> content;  // a content-bearing method
  // Content-bearing methods: views into the payload; empty when cut before their end.
  std::string_view exchange;
  std::string_view routing_key;
};

// `payload` is a METHOD frame's payload as copied; `whole` says it is all of it.
Method ParseMethod(std::string_view payload, bool whole);

}  // namespace tracegap::amqp
