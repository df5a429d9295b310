#pragma once
// Ids as the container runtimes and the kubelet write them, for the cgroup and workload tests.

#include <string>

namespace tracegap::test {

inline const std::string kId = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
inline const std::string kShortId = "0123456789ab";
inline const std::string kId2 = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
inline const std::string kShortId2 = "fedcba987654";
// A pod UID as the API server assigns them, and as the systemd driver writes it.
inline const std::string kUid = "3f1c9a2e-5b7d-4c1e-9f00-112233445566";
inline const std::string kUidSystemd = "3f1c9a2e_5b7d_4c1e_9f00_112233445566";
// A static (mirror) pod's UID: a hash of its manifest, no dashes.
inline const std::string kStaticUid = "6a2b0c1d9e8f7a6b5c4d3e2f1a0b9c8d";

}  // namespace tracegap::test
