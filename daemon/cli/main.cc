// tracegap: asks a running tracegapd which processes break trace context propagation.
// Everything but the process environment lives in app.cc, so that tests can run it in-process.

#include <cstdlib>
#include <iostream>

#include "cli/app.h"

int main(int argc, char** argv) {
  return tracegap::cli::RunCli(argc, argv, std::cout, std::cerr,
                               std::getenv(tracegap::cli::kSocketEnv));
}
