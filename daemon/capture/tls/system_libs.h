#pragma once
// The system's OpenSSL libraries: libssl.so.3 and libssl.so.1.1 in the dynamic linker's
// directories, attached at start so that a process started later is seen from its first call.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "capture/tls/maps.h"

namespace tracegap::tls {

// The standard directories (/lib, /lib64, /usr/lib, /usr/lib64, /usr/local/lib, their multiarch
// subdirectories) and those of /etc/ld.so.conf (with its `include` globs), under `root`. Real
// paths, one per file (device and inode), only ELF files of this machine (not /usr/lib32's).
std::vector<std::pair<std::string, LibraryKind>> FindSystemLibssl(std::string_view root = "/");

// Whether the file is an ELF object of this machine (class, byte order, architecture): the
// uprobes read arguments as this architecture passes them.
bool IsNativeLibrary(const std::string& path);

}  // namespace tracegap::tls
