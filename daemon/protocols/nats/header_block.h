#pragma once
// A NATS header block (ADR-4, "NATS Message Headers"), the bytes that follow an HPUB or HMSG line:
//   NATS/1.0[<SP> <status: 3 digits, 100..999>[<SP> <description>]]\r\n
//   <name>:<OWS><value><OWS>\r\n          (zero or more; a name may repeat)
//   \r\n
// header_bytes on the line counts all of it, the final empty line included. A name is one or
// more printable ASCII bytes other than ':' (33..126); a value is everything after the first
// colon up to the line's "\r\n" (so it may hold colons), without its leading and trailing spaces
// and tabs.
//
// Pure function over a byte view; it appends to a caller's vector and allocates nothing else.

#include <cstdint>
#include <string_view>
#include <vector>

#include "protocols/header_field.h"
#include "protocols/nats/errors.h"

namespace tracegap::nats {

inline constexpr std::string_view kHeaderVersion = "NATS/1.0";

struct HeaderBlock {
  // kNone: read whole, well formed. kTruncatedHeaders: the copy ends before the block does, and
  // what was copied is well formed. Otherwise the block is malformed (kBadHeaderVersion,
  // kBadHeaderLine, kBadHeaderEnd).
  Error error = Error::kNone;
  uint16_t status = 0;  // from the version line; 0 when none
};

// `bytes`: the block as copied, its first min(header_bytes, cap) bytes; `whole`: all of them
// (bytes.size() == header_bytes). Appends to `fields` (views into `bytes`) every field line read
// whole before the end of the block, the end of the copy or the first malformed line; at most
// bytes.size() / 4 of them.
HeaderBlock ParseHeaderBlock(std::string_view bytes, bool whole, std::vector<HeaderField>& fields);

}  // namespace tracegap::nats
