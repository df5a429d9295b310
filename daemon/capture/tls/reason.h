#pragma once
// Why a process's TLS plaintext is not seen, from what its maps and executable show.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "capture/tls/elf_tls.h"
#include "capture/tls/maps.h"

namespace tracegap::tls {

enum class Unseen : uint8_t {
  kGo,             // Go's crypto/tls, compiled in
  kStaticOpenSsl,  // the executable defines the OpenSSL API itself
  kBoringSsl,      // BoringSSL compiled in
  kJava,           // a JVM (JSSE)
  kRustls,         // rustls compiled in
  kOutsideProbes,  // maps a probed libssl, but the session's socket I/O was outside the probes
  kNoKnownLibrary,
  kUnreadable,  // the executable could not be read
  kExited,      // the process was gone before it could be looked at (a short-lived client)
};
inline constexpr std::array kAllUnseen = {
    Unseen::kGo,     Unseen::kStaticOpenSsl, Unseen::kBoringSsl,      Unseen::kJava,
    Unseen::kRustls, Unseen::kOutsideProbes, Unseen::kNoKnownLibrary, Unseen::kUnreadable,
    Unseen::kExited};
// "go", "static_openssl", "boringssl", "java", "rustls", "outside_probes", "no_known_library",
// "unreadable", "exited"
std::string_view Label(Unseen u);

struct Diagnosis {
  Unseen reason = Unseen::kNoKnownLibrary;
  std::string detail;  // the evidence, in words
};

// For a process that maps no libssl tracegap probes: the first that holds of an unreadable
// executable, a JVM, Go, BoringSSL, a static OpenSSL API, rustls; else no known library.
Diagnosis Diagnose(const ProcessMaps& maps, const std::variant<ElfTls, std::string>& exe);

}  // namespace tracegap::tls
