#include "capture/tls/reason.h"

namespace tracegap::tls {

std::string_view Label(Unseen u) {
  switch (u) {
    case Unseen::kGo:
      return "go";
    case Unseen::kStaticOpenSsl:
      return "static_openssl";
    case Unseen::kBoringSsl:
      return "boringssl";
    case Unseen::kJava:
      return "java";
    case Unseen::kRustls:
      return "rustls";
    case Unseen::kOutsideProbes:
      return "outside_probes";
    case Unseen::kNoKnownLibrary:
      return "no_known_library";
    case Unseen::kUnreadable:
      return "unreadable";
    case Unseen::kExited:
      return "exited";
  }
  return "no_known_library";
}

Diagnosis Diagnose(const ProcessMaps& maps, const std::variant<ElfTls, std::string>& exe) {
  if (const auto* error = std::get_if<std::string>(&exe))
    return {Unseen::kUnreadable, "its executable cannot be read: " + *error};
  const ElfTls& t = std::get<ElfTls>(exe);
  const std::string name = maps.first_file ? maps.first_file->path : std::string("its executable");
  if (maps.maps_libjvm)
    return {Unseen::kJava, "maps libjvm.so: a JVM, whose TLS (JSSE) is Java code"};
  if (t.go) {
    return {Unseen::kGo, name + " is a Go binary" +
                             (t.go_crypto_tls ? " with crypto/tls.(*Conn).Write"
                                              : std::string(t.stripped ? " (stripped)" : "")) +
                             ": Go's crypto/tls is compiled in, not probed"};
  }
  if (t.boringssl) return {Unseen::kBoringSsl, name + " has BoringSSL compiled in (bssl symbols)"};
  if (t.openssl_api) {
    return {Unseen::kStaticOpenSsl,
            name + " defines SSL_write and SSL_read itself (a statically linked OpenSSL API)"};
  }
  if (t.rustls) return {Unseen::kRustls, name + " has rustls compiled in"};
  return {Unseen::kNoKnownLibrary, "no libssl.so.3 or libssl.so.1.1 in its maps, and " + name +
                                       " has no OpenSSL, BoringSSL, Go or rustls symbols" +
                                       (t.stripped ? " (it is stripped)" : "")};
}

}  // namespace tracegap::tls
