#include "protocols/request_report.h"

#include "protocols/trace_context/trace_context.h"

namespace tracegap {

void ReportRequest(Observer& observer, RequestSeen& request, std::span<const HeaderField> headers,
                   HeadersRead read) {
  if (read != HeadersRead::kNone) {
    request.context = ClassifyContext(headers);
    for (const HeaderField& h : headers) {
      if (EqualsLower(h.name, "traceparent")) {  // HTTP/2 names are lowercase already
        request.traceparent = h.value;
        break;
      }
    }
  }
  request.verdict =
      read == HeadersRead::kComplete ? request.context.verdict : ContextVerdict::kUnknown;
  observer.OnRequest(request);
}

}  // namespace tracegap
