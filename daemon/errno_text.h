#pragma once
// errno values as words, for messages. Header-only: the daemon and the CLI (which links nothing
// of the daemon) both use it. system_category().message is strerror_r's text, without strerror's
// shared buffer: safe on any thread.

#include <string>
#include <system_error>

namespace tracegap {

// "Operation not permitted" for EPERM; the sign does not matter (libbpf returns -errno).
inline std::string ErrnoText(int err) {
  return std::system_category().message(err < 0 ? -err : err);
}

// "Operation not permitted (errno 1)": with the number, where a user may need to look it up.
inline std::string ErrnoTextWithNumber(int err) {
  if (err < 0) err = -err;
  return ErrnoText(err) + " (errno " + std::to_string(err) + ")";
}

}  // namespace tracegap
