#pragma once
// The /metrics listener: prometheus-cpp's Exposer (civetweb) configured from tracegapd's options,
// with optional TLS and HTTP basic auth. Both are off by default.

#include <prometheus/exposer.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>

#include "options.h"

namespace tracegap {

struct BasicAuthCredentials {
  std::string user;
  std::string password;
};

// Reads FILE's one `user:password` line. Refuses a file readable by group or others (it holds a
// secret) and a malformed one. Returns false and sets *error with the reason.
bool LoadBasicAuth(const std::string& path, BasicAuthCredentials* out, std::string* error);

// Why TLS cannot be served here, or "" if it can (see metrics_listener.cc).
std::string MetricsTlsProblem();

// Opens the listener. Returns null and sets *error (naming the address) on failure.
std::unique_ptr<prometheus::Exposer> StartMetricsListener(
    const Options& opts, const std::shared_ptr<prometheus::Registry>& registry, std::string* error);

}  // namespace tracegap
