#pragma once
// `tracegapd --verify-only`: the report of loading every capture variant (Probes::VerifyAll), as a
// table on stdout and, optionally, JSON in a file.

#include <string>
#include <vector>

#include "capture/probes.h"

namespace tracegap {

// Prints the table; writes JSON to `json_path` unless it is empty. Returns the exit code: 0 when
// a variant loaded, kExitBpfLoad when none did, 1 when the JSON file cannot be written.
int RunVerify(const std::vector<LoadAttempt>& attempts, const std::string& json_path);

}  // namespace tracegap
