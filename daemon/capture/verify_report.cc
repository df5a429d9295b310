#include "capture/verify_report.h"

#include <errno.h>
#include <sys/utsname.h>

#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "capture/preflight.h"
#include "capture/verifier_log.h"
#include "log.h"

namespace tracegap {

int RunVerify(const std::vector<LoadAttempt>& attempts, const std::string& json_path) {
  struct utsname uts {};
  uname(&uts);
  std::string table = std::string("kernel ") + uts.release + " (" + uts.machine + ")\n";
  char line[256];
  std::snprintf(line, sizeof(line), "%-31s %-8s %-40s %10s %7s %10s\n", "VARIANT", "RESULT",
                "PROGRAM", "INSNS", "BUDGET", "VERIFY-MS");
  table += line;
  bool any = false;
  for (const LoadAttempt& a : attempts) {
    const char* result = a.result == LoadAttempt::Result::kLoaded    ? "loaded"
                         : a.result == LoadAttempt::Result::kSkipped ? "skipped"
                                                                     : "FAILED";
    any |= a.result == LoadAttempt::Result::kLoaded;
    if (a.programs.empty()) {
      std::snprintf(line, sizeof(line), "%-31s %-8s %s\n", VariantName(a.variant).c_str(), result,
                    a.why.c_str());
      table += line;
    }
    for (const ProgramCost& p : a.programs) {
      // A failed variant: the programs before the refused one were accepted.
      const char* program_result = a.result != LoadAttempt::Result::kFailed ? result
                                   : p.program == a.failed_program          ? "REFUSED"
                                                                            : "ok";
      const std::string ms = p.verify_us ? std::to_string(*p.verify_us / 1000) + "." +
                                               std::to_string(*p.verify_us % 1000 / 100)
                                         : "-";
      std::snprintf(line, sizeof(line), "%-31s %-8s %-40s %10llu %6.1f%% %10s\n",
                    VariantName(a.variant).c_str(), program_result, p.program.c_str(),
                    static_cast<unsigned long long>(p.insns), 100.0 * p.insns / kVerifierInsnBudget,
                    ms.c_str());
      table += line;
    }
    if (a.result == LoadAttempt::Result::kFailed && !a.programs.empty())
      table += "  " + a.Describe() + "\n";
  }
  std::fputs(table.c_str(), stdout);
  if (!json_path.empty()) {
    using Json = nlohmann::ordered_json;  // members in the order written
    Json variants = Json::array();
    for (const LoadAttempt& a : attempts) {
      Json programs = Json::array();
      for (const ProgramCost& p : a.programs) {
        programs.push_back(Json{{"name", p.program},
                                {"insns", p.insns},
                                {"verify_us", p.verify_us ? Json(*p.verify_us) : Json(nullptr)}});
      }
      variants.push_back(
          Json{{"name", VariantName(a.variant)},
               {"hooks", Label(a.variant.hooks)},
               {"build", a.variant.reads == KernelReads::kDirect ? "direct-reads" : "probe-reads"},
               {"http2", a.variant.http2},
               {"result", a.result == LoadAttempt::Result::kLoaded    ? "loaded"
                          : a.result == LoadAttempt::Result::kSkipped ? "skipped"
                                                                      : "failed"},
               {"loaded", a.result == LoadAttempt::Result::kLoaded},
               {"error", a.result == LoadAttempt::Result::kLoaded ? "" : a.Describe()},
               {"programs", std::move(programs)}});
    }
    const Json report{{"kernel", uts.release},
                      {"machine", uts.machine},
                      {"budget", kVerifierInsnBudget},
                      {"variants", std::move(variants)}};
    std::string out = report.dump(2, ' ', false, Json::error_handler_t::replace);
    out += "\n";
    FILE* f = std::fopen(json_path.c_str(), "w");
    if (f == nullptr || std::fputs(out.c_str(), f) < 0 || std::fclose(f) != 0) {
      TG_LOG(Error) << "--verify-json: cannot write '" << json_path
                    << "': " << std::strerror(errno);
      return 1;
    }
  }
  if (!any) {
    TG_LOG(Error) << "no capture variant loads on this kernel (the table above says why)";
    return kExitBpfLoad;
  }
  return 0;
}

}  // namespace tracegap
