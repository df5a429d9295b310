#pragma once
// `tracegap process PID` and `tracegap status` as readable text. Pure functions; every string
// that came from the daemon is passed through SanitizeForTerminal().

#include <string>

#include "cli/model.h"

namespace tracegap::cli {

// Identity, counts per inbound verdict and outbound outcome, the gap ratio, and the gap
// examples (time, outcome, protocol, METHOD authority path -> peer, inbound trace ids, outbound
// traceparent), newest last.
std::string FormatProcessDetail(const ProcessDetail& detail);

std::string FormatStatus(const StatusInfo& status);

// "3d 04h 05m 06s", "5m 06s", "42s": the largest unit first, for humans.
std::string FormatDuration(double seconds);

}  // namespace tracegap::cli
