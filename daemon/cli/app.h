#pragma once
// The tracegap command line: parses arguments, queries tracegapd, prints the answer. main() is
// a thin wrapper around RunCli() so that tests can run the whole CLI in-process.

#include <ostream>
#include <string>

namespace tracegap::cli {

inline constexpr const char* kSocketEnv = "TRACEGAP_SOCKET";

// Runs one invocation; returns its exit code (see exit_codes.h). Results go to `out`, errors to
// `err` as one line "tracegap: ...". `env_socket` is the value of $TRACEGAP_SOCKET, or null
// when it is unset. The socket is --socket if given, else a non-empty $TRACEGAP_SOCKET, else
// /run/tracegap/api.sock.
int RunCli(int argc, const char* const* argv, std::ostream& out, std::ostream& err,
           const char* env_socket);

// The full --help text.
std::string HelpText();

}  // namespace tracegap::cli
