// Fuzzes the /proc/PID/cgroup parser (daemon/correlate/workload.h): any text a process's cgroup
// file could hold (a process can name its own cgroups where it may create them: delegated
// subtrees, rootless containers, nspawn payloads).
//
// Checks: only well-formed values come out (a 64-lowercase-hex container id, a pod uid of
// lowercase hex and dashes, a machine name of [A-Za-z0-9._-], a unit named .service or .scope),
// the runtime is one of the documented ones and agrees with what is set, every value is found in
// the input (the machine's escaped form aside), and UnitFromCgroup says what the identity says.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "correlate/process_info.h"
#include "correlate/workload.h"

namespace {
void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_cgroup: invariant broken: %s\n", what);
    std::abort();
  }
}

bool AllOf(std::string_view s, bool (*ok)(char)) {
  for (char c : s) {
    if (!ok(c)) return false;
  }
  return true;
}

bool LowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
bool UidChar(char c) { return LowerHex(c) || c == '-'; }
bool MachineChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tracegap;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const CgroupIdentity id = ParseCgroup(text);

  Check(
      id.container_id.empty() || (id.container_id.size() == 64 && AllOf(id.container_id, LowerHex)),
      "container id not 64 lowercase hex digits");
  Check(id.container_id.empty() || text.find(id.container_id) != std::string_view::npos,
        "container id not in the input");
  Check(id.pod_uid.empty() || (id.pod_uid.size() <= 64 && AllOf(id.pod_uid, UidChar)),
        "pod uid not lowercase hex and dashes");
  Check(id.machine.empty() || (id.machine.size() <= 64 && AllOf(id.machine, MachineChar)),
        "machine name not a hostname");
  Check(id.unit.empty() ||
            ((EndsWith(id.unit, ".service") || EndsWith(id.unit, ".scope")) &&
             id.unit.find('/') == std::string::npos && id.unit.find('\n') == std::string::npos &&
             text.find(id.unit) != std::string_view::npos),
        "unit not one path component named .service or .scope");
  Check(!id.in_user_slice || !id.unit.empty(), "in a user's slice without a unit");

  const std::string& r = id.runtime;
  Check(r.empty() || r == "docker" || r == "containerd" || r == "cri-o" || r == "podman" ||
            r == "nspawn",
        "unknown runtime");
  Check(r != "nspawn" || (id.container_id.empty() && !id.machine.empty()),
        "nspawn without a machine, or with a container id");
  Check(r.empty() || r == "nspawn" || !id.container_id.empty(), "a runtime without a container");
  Check(!id.container_id.empty() || id.machine.empty() || r == "nspawn",
        "a machine without the nspawn runtime");

  const std::string unit = UnitFromCgroup(text);
  Check(unit == (id.container_id.empty() ? id.unit : id.container_id.substr(0, 12)),
        "UnitFromCgroup disagrees with ParseCgroup");
  return 0;
}
