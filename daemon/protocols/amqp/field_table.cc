#include "protocols/amqp/field_table.h"

#include <cstdint>

#include "protocols/amqp/reader.h"
#include "protocols/trace_context/trace_context.h"

namespace tracegap::amqp {
namespace {

// Bytes of a fixed-size value, or -1 for a type whose length is read from the value (u32 + bytes),
// or -2 for a type outside the table.
constexpr int FixedSize(uint8_t type) {
  switch (type) {
    case 'V':
      return 0;
    case 't':
    case 'b':
    case 'B':
      return 1;
    case 's':
    case 'u':
      return 2;
    case 'I':
    case 'i':
    case 'f':
      return 4;
    case 'D':
      return 5;
    case 'l':
    case 'd':
    case 'T':
      return 8;
    case 'S':
    case 'x':
    case 'A':
    case 'F':
      return -1;
    default:
      return -2;
  }
}

constexpr bool IsString(uint8_t type) { return type == 'S' || type == 'x'; }

}  // namespace

bool IsTraceContextName(std::string_view name) {
  return EqualsLower(name, "traceparent") || EqualsLower(name, "tracestate") ||
         LegacyFormatForHeader(name) != LegacyFormat::kNone;
}

Error WalkFieldTable(std::string_view bytes, bool whole, std::vector<HeaderField>& fields) {
  Reader in(bytes);
  uint32_t size = 0;
  if (!in.U32(size)) return whole ? Error::kBadTable : Error::kTruncatedTable;
  // Within the table, a read that fails before its declared end is an overrun of the table's
  // size if the table is all there, else the copy's cut.
  bool cut = false;
  std::string_view table;
  if (!in.Bytes(size, table)) {
    if (whole) return Error::kBadTable;
    cut = true;
    table = in.rest();
  }
  const Error short_read = cut ? Error::kTruncatedTable : Error::kBadTable;
  Reader entries(table);
  while (entries.remaining() != 0) {
    std::string_view name;
    uint8_t type = 0;
    if (!entries.ShortStr(name) || !entries.U8(type)) return short_read;
    const int fixed = FixedSize(type);
    if (fixed == -2) return Error::kUnknownFieldType;
    if (fixed >= 0) {
      if (!entries.Skip(static_cast<std::size_t>(fixed))) return short_read;
      if (IsTraceContextName(name)) fields.push_back({name, {}});
      continue;
    }
    std::string_view value;
    if (!entries.LongStr(value)) return short_read;
    if (IsString(type)) {
      fields.push_back({name, TrimOws(value)});
    } else if (IsTraceContextName(name)) {
      fields.push_back({name, {}});
    }
  }
  return cut ? Error::kTruncatedTable : Error::kNone;
}

}  // namespace tracegap::amqp
