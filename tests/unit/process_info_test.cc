#include "correlate/process_info.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>

namespace tracegap {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;

// A 64-hex-digit container id, as docker, containerd, CRI-O and podman name containers.
const std::string kId = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string kShortId = "0123456789ab";

// ---------------------------------------------------------------------------------------------
// UnitFromCgroup: systemd units

TEST(UnitFromCgroupTest, SystemService) {
  EXPECT_EQ(UnitFromCgroup("0::/system.slice/nginx.service\n"), "nginx.service");
}

TEST(UnitFromCgroupTest, NoTrailingNewline) {
  EXPECT_EQ(UnitFromCgroup("0::/system.slice/nginx.service"), "nginx.service");
}

TEST(UnitFromCgroupTest, UserSessionScope) {
  EXPECT_EQ(UnitFromCgroup("0::/user.slice/user-1000.slice/session-3.scope\n"), "session-3.scope");
}

TEST(UnitFromCgroupTest, InnermostUnitWins) {
  EXPECT_EQ(UnitFromCgroup("0::/user.slice/user-1000.slice/user@1000.service/app.slice/"
                           "app-org.gnome.Terminal.slice/vte-spawn-1f2e.scope\n"),
            "vte-spawn-1f2e.scope");
  EXPECT_EQ(UnitFromCgroup("0::/system.slice/outer.service/inner.scope\n"), "inner.scope");
  EXPECT_EQ(UnitFromCgroup("0::/system.slice/outer.scope/inner.service\n"), "inner.service");
  // Non-unit components below a unit (delegated subtrees) do not hide it.
  EXPECT_EQ(UnitFromCgroup("0::/system.slice/app.service/worker/leaf\n"), "app.service");
}

TEST(UnitFromCgroupTest, SlicesAreNotUnits) {
  EXPECT_EQ(UnitFromCgroup("0::/system.slice\n"), "");
  EXPECT_EQ(UnitFromCgroup("0::/\n"), "");
}

// ---------------------------------------------------------------------------------------------
// UnitFromCgroup: containers

TEST(UnitFromCgroupTest, DockerSystemdDriver) {
  EXPECT_EQ(UnitFromCgroup("0::/system.slice/docker-" + kId + ".scope\n"), kShortId);
}

TEST(UnitFromCgroupTest, DockerCgroupfsDriver) {
  EXPECT_EQ(UnitFromCgroup("0::/docker/" + kId + "\n"), kShortId);
}

TEST(UnitFromCgroupTest, KubepodsContainerd) {
  EXPECT_EQ(UnitFromCgroup("0::/kubepods.slice/kubepods-burstable.slice/"
                           "kubepods-burstable-pod3f1c9a2e_5b7d_4c1e_9f00_112233445566.slice/"
                           "cri-containerd-" +
                           kId + ".scope\n"),
            kShortId);
}

TEST(UnitFromCgroupTest, KubepodsCrio) {
  EXPECT_EQ(UnitFromCgroup("0::/kubepods.slice/kubepods-besteffort.slice/"
                           "kubepods-besteffort-pod0a1b2c3d.slice/crio-" +
                           kId + ".scope\n"),
            kShortId);
}

TEST(UnitFromCgroupTest, KubepodsCgroupfs) {
  EXPECT_EQ(UnitFromCgroup("0::/kubepods/burstable/pod0a1b2c3d/" + kId + "\n"), kShortId);
}

TEST(UnitFromCgroupTest, PodmanLibpod) {
  // Rootless podman nests the container under the user manager's service; the container wins,
  // and the runtime's "container" leaf below the scope does not hide it.
  EXPECT_EQ(UnitFromCgroup("0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" +
                           kId + ".scope/container\n"),
            kShortId);
}

TEST(UnitFromCgroupTest, ContainerWinsOverEnclosingService) {
  EXPECT_EQ(UnitFromCgroup("0::/system.slice/containerd.service/" + kId + "\n"), kShortId);
}

TEST(UnitFromCgroupTest, CgroupV1UsesNameSystemdLine) {
  // Controller lines are ignored even when they disagree with the name=systemd line.
  const std::string file =
      "12:pids:/system.slice/wrong.service\n"
      "11:memory:/system.slice/wrong.service\n"
      "3:cpu,cpuacct:/system.slice/wrong.service\n"
      "1:name=systemd:/system.slice/sshd.service\n";
  EXPECT_EQ(UnitFromCgroup(file), "sshd.service");
}

TEST(UnitFromCgroupTest, CgroupV1Docker) {
  const std::string file = "12:pids:/docker/" + kId +
                           "\n"
                           "4:memory:/docker/" +
                           kId +
                           "\n"
                           "1:name=systemd:/docker/" +
                           kId + "\n";
  EXPECT_EQ(UnitFromCgroup(file), kShortId);
}

TEST(UnitFromCgroupTest, CgroupV1WithoutSystemdLineUsesControllerLines) {
  // A cgroup v1 host without systemd (docker with the cgroupfs driver): no name=systemd line.
  const std::string file = "12:pids:/docker/" + kId +
                           "\n"
                           "4:memory:/docker/" +
                           kId +
                           "\n"
                           "1:cpuset:/\n";
  EXPECT_EQ(UnitFromCgroup(file), kShortId);
  // Hybrid hierarchy whose v2 line says nothing.
  EXPECT_EQ(UnitFromCgroup("4:memory:/docker/" + kId + "\n0::/\n"), kShortId);
}

TEST(UnitFromCgroupTest, EmptyAndGarbage) {
  EXPECT_EQ(UnitFromCgroup(""), "");
  EXPECT_EQ(UnitFromCgroup("\n\n\n"), "");
  EXPECT_EQ(UnitFromCgroup("hello world"), "");
  EXPECT_EQ(UnitFromCgroup("no colons/system.slice/x.service\n"), "");
  EXPECT_EQ(UnitFromCgroup("0:/system.slice/x.service\n"), "");  // one colon only
  EXPECT_EQ(UnitFromCgroup("::::::"), "");
  EXPECT_EQ(UnitFromCgroup("0::////\n"), "");
  EXPECT_EQ(UnitFromCgroup("\0\xff\n0::/\x01"s), "");
}

TEST(UnitFromCgroupTest, SixtyThreeHexDigitsIsNotAContainer) {
  const std::string id63 = kId.substr(1);
  EXPECT_EQ(UnitFromCgroup("0::/docker/" + id63 + "\n"), "");
  // Still a scope, so it is reported as one, never as a short container id.
  EXPECT_EQ(UnitFromCgroup("0::/system.slice/docker-" + id63 + ".scope\n"),
            "docker-" + id63 + ".scope");
}

TEST(UnitFromCgroupTest, NonHexIdIsNotAContainer) {
  std::string bad = kId;
  bad[10] = 'g';
  EXPECT_EQ(UnitFromCgroup("0::/docker/" + bad + "\n"), "");
  EXPECT_EQ(UnitFromCgroup("0::/system.slice/docker-" + bad + ".scope\n"),
            "docker-" + bad + ".scope");
  std::string upper = kId;
  upper[10] = 'A';
  EXPECT_EQ(UnitFromCgroup("0::/docker/" + upper + "\n"), "");
}

TEST(UnitFromCgroupTest, IdMustBeItsOwnComponentPart) {
  // 64 hex digits at the end of a longer name count only after a '-'.
  EXPECT_EQ(UnitFromCgroup("0::/system.slice/docker" + kId + ".scope\n"),
            "docker" + kId + ".scope");
  EXPECT_EQ(UnitFromCgroup("0::/x/a" + kId + "\n"), "");
}

// ---------------------------------------------------------------------------------------------
// StartTimeFromStat

// A stat line for `comm` whose field 22 (starttime) is `starttime`.
std::string StatLine(std::string_view comm, std::string_view starttime) {
  return "1234 (" + std::string(comm) +
         ") S 1 1234 1234 0 -1 4194560 1000 0 0 0 10 5 0 0 20 0 1 0 " + std::string(starttime) +
         " 12345678 500 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0\n";
}

TEST(StartTimeFromStatTest, NormalLine) {
  EXPECT_EQ(StartTimeFromStat(StatLine("nginx", "123456")), std::optional<uint64_t>(123456));
  EXPECT_EQ(StartTimeFromStat(
                "1 (systemd) S 0 1 1 0 -1 4194560 52043 1832063 123 1337 90 110 2900 1400 20 0 1 "
                "0 7 176939008 3318 18446744073709551615 1 1 0 0 0 0 671173123 4096 1260 0 0 0 "
                "17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"),
            std::optional<uint64_t>(7));
}

TEST(StartTimeFromStatTest, LargeValue) {
  EXPECT_EQ(StartTimeFromStat(StatLine("x", "18446744073709551615")),
            std::optional<uint64_t>(18446744073709551615ull));
}

TEST(StartTimeFromStatTest, CommWithParenthesesAndSpaces) {
  EXPECT_EQ(StartTimeFromStat(StatLine("a) (b c", "777")), std::optional<uint64_t>(777));
  EXPECT_EQ(StartTimeFromStat(StatLine(") 1 2 3 4 5 6", "778")), std::optional<uint64_t>(778));
  EXPECT_EQ(StartTimeFromStat(StatLine("(((", "779")), std::optional<uint64_t>(779));
  EXPECT_EQ(StartTimeFromStat(StatLine("", "780")), std::optional<uint64_t>(780));
}

TEST(StartTimeFromStatTest, FieldTwentyTwoAsLastField) {
  EXPECT_EQ(StartTimeFromStat("1 (a) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 42"),
            std::optional<uint64_t>(42));
  EXPECT_EQ(StartTimeFromStat("1 (a) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 42\n"),
            std::optional<uint64_t>(42));
}

TEST(StartTimeFromStatTest, TruncatedLines) {
  const std::string full = StatLine("nginx", "123456");
  const size_t field22 = full.find("123456");
  ASSERT_NE(field22, std::string::npos);
  EXPECT_EQ(StartTimeFromStat(full.substr(0, field22)), std::nullopt);
  EXPECT_EQ(StartTimeFromStat(full.substr(0, field22 - 1)), std::nullopt);
  EXPECT_EQ(StartTimeFromStat("1234 (nginx"), std::nullopt);
  EXPECT_EQ(StartTimeFromStat("1234 (nginx)"), std::nullopt);
  EXPECT_EQ(StartTimeFromStat("1234 (nginx) S 1 2 3\n"), std::nullopt);
  EXPECT_EQ(StartTimeFromStat(""), std::nullopt);
  // Fields after a newline belong to no stat line.
  EXPECT_EQ(StartTimeFromStat("1 (a) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0\n42"), std::nullopt);
}

TEST(StartTimeFromStatTest, NonNumericFieldTwentyTwo) {
  EXPECT_EQ(StartTimeFromStat(StatLine("nginx", "12a456")), std::nullopt);
  EXPECT_EQ(StartTimeFromStat(StatLine("nginx", "-1")), std::nullopt);
  EXPECT_EQ(StartTimeFromStat(StatLine("nginx", "x")), std::nullopt);
  EXPECT_EQ(StartTimeFromStat(StatLine("nginx", "+5")), std::nullopt);
}

// ---------------------------------------------------------------------------------------------
// ProcessInfoCache over a fake /proc

class ProcessInfoCacheTest : public testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = testing::TempDir() + "tracegap_proc_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }

  void WriteProcFile(uint32_t pid, const std::string& name, const std::string& text) {
    const fs::path dir = root_ / std::to_string(pid);
    fs::create_directories(dir);
    std::ofstream out(dir / name, std::ios::trunc);
    out << text;
    ASSERT_TRUE(out.good());
  }

  void WriteProcess(uint32_t pid, std::string_view starttime, const std::string& cgroup) {
    WriteProcFile(pid, "stat", StatLine("proc", starttime));
    WriteProcFile(pid, "cgroup", cgroup);
  }

  fs::path root_;
};

TEST_F(ProcessInfoCacheTest, ReadsStatAndCgroup) {
  WriteProcess(100, "5555", "0::/system.slice/nginx.service\n");
  WriteProcess(101, "6666", "0::/system.slice/docker-" + kId + ".scope\n");
  ProcessInfoCache cache(root_.string());

  const ProcessInfo& a = cache.Get(100);
  EXPECT_EQ(a.start_time, 5555u);
  EXPECT_EQ(a.unit, "nginx.service");
  const ProcessInfo& b = cache.Get(101);
  EXPECT_EQ(b.start_time, 6666u);
  EXPECT_EQ(b.unit, kShortId);
  EXPECT_EQ(cache.size(), 2u);
}

TEST_F(ProcessInfoCacheTest, CachesUntilForgotten) {
  WriteProcess(100, "5555", "0::/system.slice/nginx.service\n");
  ProcessInfoCache cache(root_.string());
  ASSERT_EQ(cache.Get(100).start_time, 5555u);

  // The pid is reused by another process: the cache keeps the old answer until told.
  WriteProcess(100, "9999", "0::/system.slice/postgres.service\n");
  EXPECT_EQ(cache.Get(100).start_time, 5555u);
  EXPECT_EQ(cache.Get(100).unit, "nginx.service");
  EXPECT_EQ(cache.size(), 1u);

  cache.Forget(100);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.Get(100).start_time, 9999u);
  EXPECT_EQ(cache.Get(100).unit, "postgres.service");
}

TEST_F(ProcessInfoCacheTest, MissingPid) {
  ProcessInfoCache cache(root_.string());
  const ProcessInfo& info = cache.Get(4242);
  EXPECT_EQ(info.start_time, 0u);
  EXPECT_EQ(info.unit, "");
}

TEST_F(ProcessInfoCacheTest, MissingCgroupFile) {
  WriteProcFile(7, "stat", StatLine("proc", "31"));
  ProcessInfoCache cache(root_.string());
  EXPECT_EQ(cache.Get(7).start_time, 31u);
  EXPECT_EQ(cache.Get(7).unit, "");
}

TEST_F(ProcessInfoCacheTest, GarbageStat) {
  WriteProcess(8, "not-a-number", "0::/system.slice/a.service\n");
  ProcessInfoCache cache(root_.string());
  EXPECT_EQ(cache.Get(8).start_time, 0u);
  EXPECT_EQ(cache.Get(8).unit, "a.service");
}

TEST_F(ProcessInfoCacheTest, FillsWorkload) {
  // The kubelet's log directory (see workload_resolver_test.cc) under the fake root, for a pod's process.
  const std::string uid = "3f1c9a2e-5b7d-4c1e-9f00-112233445566";
  fs::create_directories(root_ / "log/pods" / ("shop_web-5c7d_" + uid));
  fs::create_directories(root_ / "log/containers");
  fs::create_symlink(root_ / "log/pods" / ("shop_web-5c7d_" + uid) / "server/0.log",
                     root_ / "log/containers" / ("web-5c7d_shop_server-" + kId + ".log"));
  WriteProcess(100, "5555",
               "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"
               "3f1c9a2e_5b7d_4c1e_9f00_112233445566.slice/cri-containerd-" +
                   kId + ".scope\n");
  WriteProcFile(100, "comm", "server\n");
  WriteProcess(101, "6666", "0::/system.slice/nginx.service\n");
  WriteProcFile(101, "comm", "nginx\n");
  WriteProcess(102, "7777", "0::/user.slice/user-1000.slice/session-2.scope\n");
  WriteProcFile(102, "comm", "curl\n");
  WriteProcess(103, "8888", "0::/system.slice/docker-" + kId + ".scope\n");
  WorkloadResolver::Paths paths;
  paths.kubelet_log_dir = (root_ / "log").string();
  paths.docker_root = (root_ / "docker").string();
  paths.containers_storage = (root_ / "storage").string();
  ProcessInfoCache cache(root_.string(), 8192, paths);

  const ProcessInfo& pod = cache.Get(100);
  EXPECT_EQ(pod.unit, kShortId);  // the unit label is unchanged
  EXPECT_EQ(pod.workload.kind, Workload::Kind::kPod);
  EXPECT_EQ(pod.workload.workload, "shop/web-5c7d");
  EXPECT_EQ(pod.workload.namespace_, "shop");
  EXPECT_EQ(pod.workload.pod, "web-5c7d");
  EXPECT_EQ(pod.workload.container, "server");

  const ProcessInfo& service = cache.Get(101);
  EXPECT_EQ(service.workload.kind, Workload::Kind::kUnit);
  EXPECT_EQ(service.workload.workload, "nginx.service");

  const ProcessInfo& session = cache.Get(102);
  EXPECT_EQ(session.unit, "session-2.scope");
  EXPECT_EQ(session.workload.kind, Workload::Kind::kComm);
  EXPECT_EQ(session.workload.workload, "curl");  // comm without its newline

  // No docker metadata and no comm file: the short id all the same.
  const ProcessInfo& container = cache.Get(103);
  EXPECT_EQ(container.workload.kind, Workload::Kind::kContainer);
  EXPECT_EQ(container.workload.workload, kShortId);

  // A process gone before it was read: no comm, nothing else.
  const ProcessInfo& gone = cache.Get(104);
  EXPECT_EQ(gone.workload.kind, Workload::Kind::kComm);
  EXPECT_EQ(gone.workload.workload, "");
}

// The kubelet writes a pod's log directory at about the time its containers start: a process seen
// before it is labelled by its container, and named "namespace/pod" once the directory is there
// (looked for again every kRetryMs at most, not on every lookup).
TEST_F(ProcessInfoCacheTest, APodsProcessIsNamedOnceItsDirectoryAppears) {
  const std::string uid = "3f1c9a2e-5b7d-4c1e-9f00-112233445566";
  WriteProcess(100, "5555",
               "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"
               "3f1c9a2e_5b7d_4c1e_9f00_112233445566.slice/cri-containerd-" +
                   kId + ".scope\n");
  WriteProcFile(100, "comm", "server\n");
  WorkloadResolver::Paths paths;
  paths.kubelet_log_dir = (root_ / "log").string();
  int64_t now = 0;
  ProcessInfoCache cache(root_.string(), 8192, paths, [&now] { return now; });
  EXPECT_EQ(cache.Get(100).workload.kind, Workload::Kind::kContainer);
  EXPECT_EQ(cache.Get(100).workload.workload, kShortId);
  fs::create_directories(root_ / "log/pods" / ("shop_web-5c7d_" + uid));
  now = WorkloadResolver::kRetryMs - 1;
  EXPECT_EQ(cache.Get(100).workload.workload, kShortId);  // not looked for again yet
  now = WorkloadResolver::kRetryMs;
  EXPECT_EQ(cache.Get(100).workload.kind, Workload::Kind::kPod);
  EXPECT_EQ(cache.Get(100).workload.workload, "shop/web-5c7d");
  // Named for good: the directory going away changes nothing.
  fs::remove_all(root_ / "log/pods");
  now = 10 * WorkloadResolver::kRetryMs;
  EXPECT_EQ(cache.Get(100).workload.workload, "shop/web-5c7d");
}

TEST_F(ProcessInfoCacheTest, StaysBounded) {
  for (uint32_t pid = 1; pid <= 5; ++pid) {
    WriteProcess(pid, std::to_string(pid * 10),
                 "0::/system.slice/s" + std::to_string(pid) + ".service\n");
  }
  ProcessInfoCache cache(root_.string(), 2);
  for (uint32_t pid = 1; pid <= 5; ++pid) {
    const ProcessInfo& info = cache.Get(pid);
    EXPECT_EQ(info.start_time, pid * 10u);
    EXPECT_EQ(info.unit, "s" + std::to_string(pid) + ".service");
    EXPECT_LE(cache.size(), 2u);
  }
}

}  // namespace
}  // namespace tracegap
