#pragma once
// libbpf's messages: kept (the last 200 lines) so that a failed load or attach can show what
// libbpf and the verifier said, and logged at debug level. libbpf calls the print callback from
// the thread that calls it, and only the main thread calls libbpf.

#include <cstddef>
#include <string>

namespace tracegap {

// Routes libbpf's messages here (idempotent).
void InstallLibbpfLog();
// Forgets the lines kept so far (before a load whose messages are wanted on their own).
void ClearLibbpfLines();
// The last `n` lines kept, each on a line of its own, indented.
std::string LastLibbpfLines(size_t n);

}  // namespace tracegap
