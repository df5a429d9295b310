#pragma once
// Shared between the JSON codec's source files; not part of its interface (see json.h).

#include <cstddef>
#include <string>
#include <string_view>

namespace tracegap::json::internal {

// Decodes the JSON string whose opening quote is text[*pos] into *out (escapes resolved, raw
// UTF-8 validated) and moves *pos past the closing quote. On malformed input returns false,
// with the reason in *error and the byte offset it refers to in *error_offset.
bool ScanString(std::string_view text, size_t* pos, std::string* out, std::string* error,
                size_t* error_offset);

}  // namespace tracegap::json::internal
