#pragma once
// AMQP 0-9-1 field tables (the "headers" message property), walked for the fields a trace-context
// classifier reads.
//
// A table is a u32 byte size, then entries: a name (shortstr) and a value: a type octet and the
// value's bytes. The value types are those RabbitMQ and every client use (RabbitMQ's
// "amqp-0-9-1-errata", which differs from the 0-9-1 spec's own table for 's', 'u', 'U', 'L'):
//   t bool 1, b int8 1, B uint8 1, s int16 2, u uint16 2, I int32 4, i uint32 4, l int64 8,
//   f float 4, d double 8, D decimal 1+4, T timestamp 8, V void 0,
//   S long string, x byte array (u32 length + bytes), A array, F nested table (u32 length + bytes).
// Arrays and nested tables are skipped by their length, never walked, so nesting costs nothing.
// Any other type octet leaves the rest of the table unwalkable.

#include <cstddef>
#include <string_view>
#include <vector>

#include "protocols/amqp/errors.h"
#include "protocols/header_field.h"

namespace tracegap::amqp {

// Names whose presence alone matters to the trace-context classifier: traceparent, tracestate,
// and every legacy-format name (b3, x-b3-*, uber-trace-id, uberctx-*, x-amzn-trace-id, sw8,
// grpc-trace-bin). Any case.
bool IsTraceContextName(std::string_view name);

// Walks the table that starts at the beginning of `bytes` (its u32 size first). `whole` says the
// bytes run to the end of the frame payload; without it they were cut by the kernel's copy limit
// and may end anywhere.
//
// Appends to `fields`, in wire order, one HeaderField per entry read to its end:
//   - a string value ('S' or 'x'): {name, value}, the value with leading and trailing spaces and
//     tabs removed (HeaderField's contract; the bytes are otherwise as sent, binary or not);
//   - a value of another type whose name IsTraceContextName(): {name, ""}, so that a traceparent
//     sent as, say, an integer is classified malformed rather than missing;
// names as sent (any case). The views point into `bytes`.
//
// Returns kNone when the whole table was read, else why not, with the entries read before that
// point appended: kTruncatedTable (the bytes were cut before the table's end), kUnknownFieldType,
// or kBadTable (an entry overruns the table's size, or, `whole`, the size overruns `bytes`).
Error WalkFieldTable(std::string_view bytes, bool whole, std::vector<HeaderField>& fields);

}  // namespace tracegap::amqp
