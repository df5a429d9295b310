#include "protocols/amqp/content_header.h"

#include "protocols/amqp/field_table.h"
#include "protocols/amqp/reader.h"

namespace tracegap::amqp {
namespace {

constexpr uint16_t kFlagContentType = 1u << 15;
constexpr uint16_t kFlagContentEncoding = 1u << 14;
constexpr uint16_t kFlagHeaders = 1u << 13;
constexpr uint16_t kFlagMoreFlags = 1u << 0;

}  // namespace

ContentHeader ParseContentHeader(std::string_view payload, bool whole,
                                 std::vector<HeaderField>& fields) {
  ContentHeader h;
  // A short read before the table: the frame is malformed if it is all there, else it was cut.
  const Error short_read = whole ? Error::kBadFrame : Error::kTruncatedTable;
  Reader in(payload);
  uint16_t weight = 0;
  uint16_t flags = 0;
  if (!in.U16(h.class_id) || !in.U16(weight) || !in.U64(h.body_size) || !in.U16(flags)) {
    h.error = short_read;
    return h;
  }
  // Later flags words hold properties past the 15th, which basic does not have.
  uint16_t more = flags;
  for (std::size_t words = 1; (more & kFlagMoreFlags) != 0; ++words) {
    if (words == kMaxFlagWords) {
      h.error = Error::kBadFrame;
      return h;
    }
    if (!in.U16(more)) {
      h.error = short_read;
      return h;
    }
  }
  h.has_headers = (flags & kFlagHeaders) != 0;
  if (!h.has_headers) return h;
  std::string_view skipped;
  if (((flags & kFlagContentType) != 0 && !in.ShortStr(skipped)) ||
      ((flags & kFlagContentEncoding) != 0 && !in.ShortStr(skipped))) {
    h.error = short_read;
    return h;
  }
  h.error = WalkFieldTable(in.rest(), whole, fields);
  return h;
}

}  // namespace tracegap::amqp
