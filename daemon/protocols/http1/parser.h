#pragma once
// A pure parser of one HTTP/1 header block (start line, header lines, empty line). The bytes
// come straight off the wire through a kernel filter that only checks a prefix, so every input,
// including arbitrary garbage, yields either a Message or a ParseError: never UB or exceptions.
//
// Line endings: only CRLF is accepted; a bare LF is rejected with kBareLf. RFC 9112 lets a
// recipient accept a bare LF, but the kernel side delimits blocks on CRLFCRLF alone: an LF-only
// message would never be delimited there (its body would be copied as "header" bytes until the
// size limit), so accepting LF here would make the two sides disagree about where a block ends.

#include <string_view>
#include <vector>

#include "protocols/header_field.h"
#include "protocols/http1/message.h"

namespace tracegap::http1 {

// Parses the header block `block`, which starts at the first byte of the start line.
//
// `incomplete_reason` is kOk for a complete block: one that ends with the CRLFCRLF closing its
// header section (bytes after the first empty line are ignored; a "complete" block without one
// is treated as incomplete with kTruncated). Otherwise it says why the rest of the block will
// never be seen; then the start line and every CRLF-terminated header line are parsed, and a
// partial last line is ignored.
//
// Returns kOk after filling `out` (out.headers views `scratch`, which is cleared and reused so
// that the steady state does not allocate). Otherwise returns the reason no message could be
// formed: a validation error, or `incomplete_reason` itself if even the start line was not
// fully read. `out` is unspecified then.
ParseError ParseHeaderBlock(std::string_view block, ParseError incomplete_reason, Message& out,
                            std::vector<HeaderField>& scratch);

// Whether the comma-separated token list `list` (an Upgrade or Connection value) contains
// `lower_token`, ignoring case and optional whitespace around the elements.
bool ListHasToken(std::string_view list, std::string_view lower_token);

}  // namespace tracegap::http1
