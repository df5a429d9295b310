#pragma once
// AMQP 0-9-1 content header payloads: class-id u16, weight u16, body-size u64, property-flags
// u16 (bit 0 set: another flags word follows), then the properties whose flag is set, in flag
// order from bit 15 down. For class basic: content-type shortstr (15), content-encoding shortstr
// (14), headers field table (13), then delivery-mode, priority, correlation-id, ... which are
// never read: only the headers table matters, and reading stops after it.
//
// Pure; appends to a caller-given vector, allocates nothing else.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "protocols/amqp/errors.h"
#include "protocols/header_field.h"

namespace tracegap::amqp {

// Flags words read at most (the first included); basic has 14 properties, one word holds them.
inline constexpr std::size_t kMaxFlagWords = 4;

struct ContentHeader {
  // kNone: the headers table, if there is one, was read to its end (`has_headers` says whether
  // there is). Else why not:
  //   kBadFrame        the payload was copied whole and is too short for the fixed fields or the
  //                    properties before the table, or has more than kMaxFlagWords flags words
  //   kTruncatedTable  the copy was cut before the table (or the properties before it) ended
  //   kUnknownFieldType, kBadTable  from WalkFieldTable
  Error error = Error::kNone;
  uint16_t class_id = 0;     // meaningful once the fixed fields were read
  uint64_t body_size = 0;    // idem
  bool has_headers = false;  // the headers property flag is set
};

// `payload` is a HEADER frame's payload as copied; `whole` says it is all of it. The headers
// table's fields are appended to `fields` as WalkFieldTable() gives them (views into `payload`),
// also those read before an error.
ContentHeader ParseContentHeader(std::string_view payload, bool whole,
                                 std::vector<HeaderField>& fields);

}  // namespace tracegap::amqp
