#include "export/metrics_listener.h"

#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

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

// The directory of tracegapd's own helper libraries: ../lib/tracegap from the executable's
// directory (build/lib/tracegap in the build tree, /usr/lib/tracegap once installed).
std::string ShimDir() {
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) return {};
  exe[n] = 0;
  std::string dir(exe);
  dir.erase(dir.rfind('/'));
  return dir + "/../lib/tracegap";
}

// Debian 12's civetweb (1.15) loads OpenSSL at run time by name (dlopen("libssl.so") and
// "libcrypto.so") and calls SSL_get_peer_certificate, which OpenSSL 3 no longer exports (it
// became a macro): the first HTTPS request would jump to a null pointer (civetweb issue #1334).
// So tracegap's stand-ins (daemon/export/tls_shim/) are loaded first, under those SONAMEs:
// civetweb's dlopen then gets them, and through them the real OpenSSL 3 plus the missing function.
// Without the stand-ins (an install that lacks them), the system's own libssl.so must do. Returns
// why TLS cannot be served, or "".
std::string PrepareCivetwebTls() {
  const std::string dir = ShimDir();
  std::string shim_error;
  for (const char* lib : {"libcrypto", "libssl"}) {
    const std::string path = dir + "/tracegap-civetweb-" + lib + ".so";
    // Never closed: civetweb keeps using them for the life of the process.
    if (shim_error.empty() && dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) {
      const char* why = dlerror();
      shim_error = why ? why : path + ": cannot be loaded";
    }
  }
  // What civetweb will get.
  void* ssl = dlopen("libssl.so", RTLD_NOW | RTLD_LOCAL);
  void* crypto = dlopen("libcrypto.so", RTLD_NOW | RTLD_LOCAL);
  const bool usable = ssl != nullptr && crypto != nullptr &&
                      dlsym(ssl, "SSL_get_peer_certificate") != nullptr &&
                      dlsym(ssl, "SSL_CTX_new") != nullptr;
  if (crypto) dlclose(crypto);
  if (ssl) dlclose(ssl);
  if (usable) return {};
  return "civetweb cannot serve TLS here: the libssl.so it would load lacks "
         "SSL_get_peer_certificate "
         "(OpenSSL 3; civetweb issue #1334) or is missing, and tracegap's stand-in could not be "
         "used (" +
         (shim_error.empty() ? std::string("loaded, but did not take") : shim_error) + ")";
}

}  // namespace

std::string MetricsTlsProblem() { return PrepareCivetwebTls(); }

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

std::unique_ptr<prometheus::Exposer> StartMetricsListener(
    const Options& opts, const std::shared_ptr<prometheus::Registry>& registry,
    std::string* error) {
  BasicAuthCredentials creds;
  if (!opts.metrics_basic_auth.empty() && !LoadBasicAuth(opts.metrics_basic_auth, &creds, error)) {
    return nullptr;
  }
  // civetweb marks an HTTPS port with a trailing "s". It loads libssl.so and libcrypto.so at run
  // time: MetricsTlsProblem() has made sure that works (with tracegap's stand-ins if need be).
  std::vector<std::string> civet = {"listening_ports",
                                    opts.listen + (opts.metrics_tls_cert.empty() ? "" : "s"),
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
                  : " (is the address free, and is --metrics-tls-cert '" + opts.metrics_tls_cert +
                        "' a PEM file with both the certificate and its private key?)");
    return nullptr;
  }
  if (!opts.metrics_basic_auth.empty()) {
    exposer->RegisterAuth(
        [creds](const std::string& user, const std::string& password) {
          return ConstantTimeEquals(user, creds.user) &
                 ConstantTimeEquals(password, creds.password);
        },
        "tracegap", "/metrics");
  }
  exposer->RegisterCollectable(registry);
  return exposer;
}

}  // namespace tracegap
