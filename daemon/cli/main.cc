// tracegap: asks a running tracegapd which processes break trace context propagation.

#include <boost/program_options.hpp>
#include <iostream>

#include "version.h"

namespace po = boost::program_options;

int main(int argc, char** argv) {
  po::options_description desc("Options");
  desc.add_options()("help,h", "print this help and exit")("version", "print the version and exit");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "tracegap: " << e.what() << " (see tracegap --help)\n";
    return 2;
  }
  if (vm.count("version")) {
    std::cout << "tracegap " << tracegap::kVersion << "\n";
    return 0;
  }
  std::cout << "tracegap " << tracegap::kVersion
            << " - asks tracegapd which processes break trace context propagation\n\n"
            << "Usage: tracegap [options]\n\n"
            << desc;
  return vm.count("help") ? 0 : 2;
}
