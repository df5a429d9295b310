#pragma once
// What TLS implementation an ELF file carries in itself, from its sections and symbols (libelf):
// why a process that maps no libssl still does TLS (reason.h).

#include <string>
#include <variant>

namespace tracegap::tls {

struct ElfTls {
  bool openssl_api = false;    // defines SSL_write and SSL_read (statically linked OpenSSL API)
  bool openssl_ex = false;     // also defines SSL_write_ex and SSL_read_ex
  bool boringssl = false;      // BoringSSL markers (SSL_CTX_set_strict_cipher_list, bssl::)
  bool go = false;             // a Go binary (.gopclntab, .go.buildinfo, Go's build info magic)
  bool go_crypto_tls = false;  // crypto/tls.(*Conn).Write in .symtab
  bool stripped = false;       // no .symtab
  bool rustls = false;         // a symbol naming rustls
};

// Reads the ELF file at `path`; an error names the cause ("open /x: No such file or directory",
// "not an ELF file", "truncated or corrupt: ..."). Symbol tables past 64 MiB are not read.
std::variant<ElfTls, std::string> InspectElf(const std::string& path);

}  // namespace tracegap::tls
