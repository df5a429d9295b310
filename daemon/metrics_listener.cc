#include "metrics_listener.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <fstream>
#include <vector>

namespace tracegap {
namespace {

// Compares without an early exit, so the time taken does not tell how much of a guess matched.
bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::string& longer = a.size() >= b.size() ? a : b;
  for (size_t i = 0; i < longer.size(); ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

// Debian 12's civetweb (1.15) loads OpenSSL at run time by name and calls
// SSL_get_peer_certificate, which OpenSSL 3 no longer exports (it became a macro): the first
// HTTPS request then jumps to a null pointer (civetweb issue #1334). Check before enabling TLS,
// so that the result is a clear error rather than a crash.
std::string CivetwebTlsProblem() {
  void* ssl = dlopen("libssl.so", RTLD_NOW | RTLD_LOCAL);
  if (!ssl) {
    return "civetweb needs libssl.so (the libssl-dev package) to serve TLS";
  }
  const bool has_symbol = dlsym(ssl, "SSL_get_peer_certificate") != nullptr;
  dlclose(ssl);
  if (!has_symbol) {
    return "this system's civetweb cannot serve TLS with its OpenSSL: libssl.so has no "
           "SSL_get_peer_certificate (OpenSSL 3), and civetweb 1.15 would crash on the first "
           "HTTPS request (civetweb issue #1334); terminate TLS in front of tracegapd instead "
           "(see docs/reliability.md)";
  }
  return {};
}

}  // namespace

std::string MetricsTlsProblem() { return CivetwebTlsProblem(); }

bool LoadBasicAuth(const std::string& path, BasicAuthCredentials* out, std::string* error) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    *error = "--metrics-basic-auth: cannot read '" + path + "'";
    return false;
  }
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    *error = "--metrics-basic-auth: '" + path + "' is readable by group or others; chmod 600 it";
    return false;
  }
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) {
    *error = "--metrics-basic-auth: cannot read '" + path + "'";
    return false;
  }
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  const size_t colon = line.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == line.size()) {
    *error = "--metrics-basic-auth: '" + path + "' must hold one user:password line";
    return false;
  }
  out->user = line.substr(0, colon);
  out->password = line.substr(colon + 1);
  return true;
}

std::unique_ptr<prometheus::Exposer> StartMetricsListener(const Options& opts,
                                                          const std::shared_ptr<prometheus::Registry>& registry,
                                                          std::string* error) {
  BasicAuthCredentials creds;
  if (!opts.metrics_basic_auth.empty() && !LoadBasicAuth(opts.metrics_basic_auth, &creds, error)) {
    return nullptr;
  }
  // civetweb marks an HTTPS port with a trailing "s". Note: Debian's civetweb loads libssl.so
  // and libcrypto.so at run time, so TLS needs libssl-dev installed.
  std::vector<std::string> civet = {"listening_ports", opts.listen + (opts.metrics_tls_cert.empty() ? "" : "s"),
                                    "num_threads", "2"};
  if (!opts.metrics_tls_cert.empty()) {
    civet.insert(civet.end(), {"ssl_certificate", opts.metrics_tls_cert});
  }
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    exposer = std::make_unique<prometheus::Exposer>(civet);
  } catch (const std::exception& e) {
    *error = "cannot listen on " + opts.listen + " for /metrics: " + e.what() +
             (opts.metrics_tls_cert.empty()
                  ? " (is another tracegapd running, or the address wrong?)"
                  : " (is the address free, the PEM file readable and valid, and libssl-dev installed?)");
    return nullptr;
  }
  if (!opts.metrics_basic_auth.empty()) {
    exposer->RegisterAuth(
        [creds](const std::string& user, const std::string& password) {
          return ConstantTimeEquals(user, creds.user) & ConstantTimeEquals(password, creds.password);
        },
        "tracegap", "/metrics");
  }
  exposer->RegisterCollectable(registry);
  return exposer;
}

}  // namespace tracegap
