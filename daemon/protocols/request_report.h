#pragma once
// How a request seen by either protocol's tracker (HTTP/1 messages, HTTP/2 streams) becomes an
// Observer report: the trace context its header fields carry and the verdict they earn are
// decided here, once for both.

#include <cstdint>
#include <span>

#include "protocols/header_field.h"
#include "protocols/observation.h"

namespace tracegap {

// How much of the request's header block was read.
enum class HeadersRead : uint8_t {
  kComplete,  // all of it
  kPartly,    // some (HTTP/1 cut short): what was read is classified, but the verdict is kUnknown
  kNone,      // none (an HTTP/2 block that could not be decoded): never guessed as missing
};

// Fills in request.context, .verdict and .traceparent from `headers`, then reports the request.
void ReportRequest(Observer& observer, RequestSeen& request, std::span<const HeaderField> headers,
                   HeadersRead read);

}  // namespace tracegap
