/*
 * A stand-in "libssl.so" for Debian 12's civetweb, which serves tracegapd's /metrics.
 *
 * civetweb 1.15 loads OpenSSL at run time with dlopen("libssl.so") and looks up, among others,
 * SSL_get_peer_certificate. OpenSSL 3 no longer exports that function (it is a macro for
 * SSL_get1_peer_certificate), so civetweb ends up calling a null pointer on the first HTTPS
 * request (civetweb issue #1334).
 *
 * This library has the SONAME "libssl.so" and depends on the real libssl.so.3. tracegapd loads
 * it (by path) before civetweb starts; the dynamic loader then hands it to civetweb's
 * dlopen("libssl.so") (an object already loaded under that SONAME), and civetweb's lookups find
 * every OpenSSL function through this library's dependency, plus the one below.
 */
typedef struct ssl_st SSL;
typedef struct x509_st X509;

X509 *SSL_get1_peer_certificate(const SSL *s);

/* OpenSSL 1.1's name: returns the peer's certificate with a reference the caller frees, which is
 * what SSL_get1_peer_certificate does. */
__attribute__((visibility("default"))) X509 *SSL_get_peer_certificate(const SSL *s) {
  return SSL_get1_peer_certificate(s);
}
