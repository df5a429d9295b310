#pragma once
// The tracegap CLI's exit codes: a documented interface (tracegap --help lists them), so scripts
// can tell "daemon down" from "no such process". Never renumber.

namespace tracegap::cli {

enum ExitCode : int {
  kExitOk = 0,
  kExitNotRunning = 1,  // no socket, connection refused, or no answer in time
  kExitUsage = 2,       // bad command line
  kExitPermission = 3,  // EACCES on connect, or the daemon answered 403
  kExitUnknownPid = 4,  // the daemon knows no process with that pid (404)
  kExitMalformed = 5,   // the daemon's answer is not valid HTTP/JSON, or an unexpected status
};

}  // namespace tracegap::cli
