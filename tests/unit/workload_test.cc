// Tests daemon/correlate/workload.{h,cc}: ParseCgroup on the shapes each runtime and cgroup
// driver writes, and WorkloadResolver against directories laid out as the kubelet, docker and
// containers/storage lay them out.
#include "correlate/workload.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace tracegap {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;
using Kind = Workload::Kind;

const std::string kId = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string kShortId = "0123456789ab";
const std::string kId2 = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
const std::string kShortId2 = "fedcba987654";
// A pod UID as the API server assigns them, and as the systemd driver writes it.
const std::string kUid = "3f1c9a2e-5b7d-4c1e-9f00-112233445566";
const std::string kUidSystemd = "3f1c9a2e_5b7d_4c1e_9f00_112233445566";
// A static (mirror) pod's UID: a hash of its manifest, no dashes.
const std::string kStaticUid = "6a2b0c1d9e8f7a6b5c4d3e2f1a0b9c8d";

// ---------------------------------------------------------------------------------------------
// ParseCgroup: container runtimes

TEST(ParseCgroupTest, DockerSystemdDriver) {
  const CgroupIdentity id = ParseCgroup("0::/system.slice/docker-" + kId + ".scope\n");
  EXPECT_EQ(id.container_id, kId);
  EXPECT_EQ(id.runtime, "docker");
  EXPECT_EQ(id.unit, "docker-" + kId + ".scope");
  EXPECT_EQ(id.pod_uid, "");
  EXPECT_EQ(id.machine, "");
  EXPECT_FALSE(id.in_user_slice);
}

TEST(ParseCgroupTest, DockerCgroupfsDriver) {
  const CgroupIdentity id = ParseCgroup("0::/docker/" + kId + "\n");
  EXPECT_EQ(id.container_id, kId);
  EXPECT_EQ(id.runtime, "docker");
  EXPECT_EQ(id.unit, "");
}

TEST(ParseCgroupTest, DockerCgroupV1AllHierarchies) {
  const std::string file = "12:pids:/docker/" + kId + "\n11:memory:/docker/" + kId +
                           "\n3:cpu,cpuacct:/docker/" + kId + "\n1:name=systemd:/docker/" + kId +
                           "\n";
  const CgroupIdentity id = ParseCgroup(file);
  EXPECT_EQ(id.container_id, kId);
  EXPECT_EQ(id.runtime, "docker");
}

TEST(ParseCgroupTest, DockerCgroupV1SystemdDriver) {
  const std::string scope = "/system.slice/docker-" + kId + ".scope";
  const CgroupIdentity id =
      ParseCgroup("12:pids:" + scope + "\n4:memory:" + scope + "\n1:name=systemd:" + scope + "\n");
  EXPECT_EQ(id.container_id, kId);
  EXPECT_EQ(id.runtime, "docker");
}

TEST(ParseCgroupTest, ContainerdOutsideKubernetes) {
  const CgroupIdentity id = ParseCgroup("0::/system.slice/cri-containerd-" + kId + ".scope\n");
  EXPECT_EQ(id.container_id, kId);
  EXPECT_EQ(id.runtime, "containerd");
  // nerdctl/ctr with the cgroupfs driver: "/<containerd namespace>/<id>", runtime unknown.
  const CgroupIdentity bare = ParseCgroup("0::/default/" + kId + "\n");
  EXPECT_EQ(bare.container_id, kId);
  EXPECT_EQ(bare.runtime, "");
}

TEST(ParseCgroupTest, CrioAndItsMonitor) {
  const CgroupIdentity id = ParseCgroup("0::/machine.slice/crio-" + kId + ".scope\n");
  EXPECT_EQ(id.container_id, kId);
  EXPECT_EQ(id.runtime, "cri-o");
  const CgroupIdentity conmon = ParseCgroup("0::/machine.slice/crio-conmon-" + kId + ".scope\n");
  EXPECT_EQ(conmon.container_id, kId);
  EXPECT_EQ(conmon.runtime, "cri-o");
}

TEST(ParseCgroupTest, PodmanRootfulSystemd) {
  const CgroupIdentity id = ParseCgroup("0::/machine.slice/libpod-" + kId + ".scope/container\n");
  EXPECT_EQ(id.container_id, kId);
  EXPECT_EQ(id.runtime, "podman");
  EXPECT_EQ(id.unit, "libpod-" + kId + ".scope");
  const CgroupIdentity conmon = ParseCgroup("0::/machine.slice/libpod-conmon-" + kId + ".scope\n");
  EXPECT_EQ(conmon.container_id, kId);
  EXPECT_EQ(conmon.runtime, "podman");
}

TEST(ParseCgroupTest, PodmanRootless) {
  const CgroupIdentity id =
      ParseCgroup("0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + kId +
                  ".scope/container\n");
  EXPECT_EQ(id.container_id, kId);
  EXPECT_EQ(id.runtime, "podman");
  EXPECT_TRUE(id.in_user_slice);
}

TEST(ParseCgroupTest, PodmanCgroupfsManager) {
  for (const std::string& path :
       {"/libpod_parent/libpod-" + kId, "/libpod_parent/libpod-" + kId + "/container"}) {
    SCOPED_TRACE(path);
    const CgroupIdentity id = ParseCgroup("0::" + path + "\n");
    EXPECT_EQ(id.container_id, kId);
    EXPECT_EQ(id.runtime, "podman");
    EXPECT_EQ(id.unit, "");
  }
}

TEST(ParseCgroupTest, ContainerNamesNeedAWholeId) {
  EXPECT_EQ(ParseCgroup("0::/docker/" + kId.substr(1) + "\n").container_id, "");
  std::string upper = kId;
  upper[3] = 'A';
  EXPECT_EQ(ParseCgroup("0::/docker/" + upper + "\n").container_id, "");
  // 64 hex digits at the end of a longer name count only after a '-'.
  EXPECT_EQ(ParseCgroup("0::/system.slice/docker" + kId + ".scope\n").container_id, "");
  EXPECT_EQ(ParseCgroup("0::/system.slice/docker" + kId + ".scope\n").runtime, "");
  // An unknown prefix: a container, runtime not known.
  const CgroupIdentity other = ParseCgroup("0::/system.slice/runc-" + kId + ".scope\n");
  EXPECT_EQ(other.container_id, kId);
  EXPECT_EQ(other.runtime, "");
}

// ---------------------------------------------------------------------------------------------
// ParseCgroup: systemd-nspawn

TEST(ParseCgroupTest, NspawnMachineScopeUnescaped) {
  const CgroupIdentity id = ParseCgroup(
      "0::/machine.slice/machine-my\\x2dbox.scope/payload/system.slice/nginx.service\n");
  EXPECT_EQ(id.machine, "my-box");
  EXPECT_EQ(id.runtime, "nspawn");
  EXPECT_EQ(id.container_id, "");
  EXPECT_EQ(id.unit, "nginx.service");
}

TEST(ParseCgroupTest, NspawnTemplateService) {
  const CgroupIdentity id =
      ParseCgroup("0::/machine.slice/systemd-nspawn@web\\x2d01.service/payload/init.scope\n");
  EXPECT_EQ(id.machine, "web-01");
  EXPECT_EQ(id.runtime, "nspawn");
  EXPECT_EQ(id.unit, "init.scope");
}

TEST(ParseCgroupTest, NspawnEscapes) {
  EXPECT_EQ(ParseCgroup("0::/machine.slice/machine-a\\x5fb.scope\n").machine, "a_b");
  EXPECT_EQ(ParseCgroup("0::/machine.slice/machine-a\\x2Db.scope\n").machine, "a-b");
  EXPECT_EQ(ParseCgroup("0::/machine.slice/machine-a.b.scope\n").machine, "a.b");
  // What would unescape to no valid machine name names none: '/', a space, a NUL, a lone '\'.
  for (const std::string& comp : std::vector<std::string>{
           "machine-a\\x2fb.scope", "machine-a\\x20b.scope", "machine-a\\x00b.scope",
           "machine-ab\\x2.scope", "machine-ab\\.scope", "machine-.scope", "machine-a\\xzzb.scope",
           "machine-" + std::string(65, 'm') + ".scope"}) {
    SCOPED_TRACE(comp);
    const CgroupIdentity id = ParseCgroup("0::/machine.slice/" + comp + "\n");
    EXPECT_EQ(id.machine, "");
    EXPECT_EQ(id.runtime, "");
    EXPECT_EQ(id.unit, comp);  // still a scope
  }
  EXPECT_EQ(ParseCgroup("0::/machine.slice/machine-" + std::string(64, 'm') + ".scope\n").machine,
            std::string(64, 'm'));
  // machine.slice itself names no machine.
  EXPECT_EQ(ParseCgroup("0::/machine.slice\n").machine, "");
}

TEST(ParseCgroupTest, ContainerInsideMachineIsTheInnermost) {
  const CgroupIdentity id = ParseCgroup(
      "0::/machine.slice/machine-box.scope/payload/system.slice/docker-" + kId + ".scope\n");
  EXPECT_EQ(id.container_id, kId);
  EXPECT_EQ(id.runtime, "docker");
  EXPECT_EQ(id.machine, "box");
}

// ---------------------------------------------------------------------------------------------
// ParseCgroup: Kubernetes

struct PodCase {
  std::string path;
  std::string uid;
  std::string runtime;
};

TEST(ParseCgroupTest, KubeletSystemdDriverEveryQosAndRuntime) {
  const std::string burstable =
      "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kUidSystemd + ".slice/";
  const std::string besteffort =
      "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + kUidSystemd + ".slice/";
  const std::string guaranteed = "/kubepods.slice/kubepods-pod" + kUidSystemd + ".slice/";
  for (const PodCase& c : {
           PodCase{burstable + "cri-containerd-" + kId + ".scope", kUid, "containerd"},
           PodCase{besteffort + "cri-containerd-" + kId + ".scope", kUid, "containerd"},
           PodCase{guaranteed + "cri-containerd-" + kId + ".scope", kUid, "containerd"},
           PodCase{burstable + "crio-" + kId + ".scope", kUid, "cri-o"},
           PodCase{besteffort + "crio-" + kId + ".scope/container", kUid, "cri-o"},
           PodCase{guaranteed + "docker-" + kId + ".scope", kUid, "docker"},
           // kind and kubeadm-in-docker nodes: the kubelet's cgroup root is /kubelet.
           PodCase{"/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
                   "kubelet-kubepods-besteffort-pod" +
                       kUidSystemd + ".slice/cri-containerd-" + kId + ".scope",
                   kUid, "containerd"},
           PodCase{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kStaticUid +
                       ".slice/cri-containerd-" + kId + ".scope",
                   kStaticUid, "containerd"},
       }) {
    SCOPED_TRACE(c.path);
    const CgroupIdentity id = ParseCgroup("0::" + c.path + "\n");
    EXPECT_EQ(id.pod_uid, c.uid);
    EXPECT_EQ(id.container_id, kId);
    EXPECT_EQ(id.runtime, c.runtime);
    // v1: the name=systemd line holds the same path.
    const CgroupIdentity v1 = ParseCgroup("11:memory:" + c.path + "\n3:cpu,cpuacct:" + c.path +
                                          "\n1:name=systemd:" + c.path + "\n");
    EXPECT_EQ(v1.pod_uid, c.uid);
    EXPECT_EQ(v1.container_id, kId);
  }
}

TEST(ParseCgroupTest, KubeletCgroupfsDriverEveryQos) {
  for (const PodCase& c : {
           PodCase{"/kubepods/burstable/pod" + kUid + "/" + kId, kUid, ""},
           PodCase{"/kubepods/besteffort/pod" + kUid + "/" + kId, kUid, ""},
           PodCase{"/kubepods/pod" + kUid + "/" + kId, kUid, ""},
           PodCase{"/kubepods/pod" + kStaticUid + "/" + kId, kStaticUid, ""},
           PodCase{"/kubelet/kubepods/burstable/pod" + kUid + "/" + kId, kUid, ""},
       }) {
    SCOPED_TRACE(c.path);
    const CgroupIdentity id = ParseCgroup("0::" + c.path + "\n");
    EXPECT_EQ(id.pod_uid, c.uid);
    EXPECT_EQ(id.container_id, kId);
    EXPECT_EQ(id.runtime, c.runtime);
    // A cgroup v1 host without systemd: controller lines only.
    const CgroupIdentity v1 =
        ParseCgroup("12:pids:" + c.path + "\n4:memory:" + c.path + "\n1:cpuset:/\n");
    EXPECT_EQ(v1.pod_uid, c.uid);
    EXPECT_EQ(v1.container_id, kId);
  }
}

TEST(ParseCgroupTest, NotPods) {
  // "pod..." outside kubepods, a QoS slice, a slice ending in pod<uid> without kubepods.
  for (const std::string& path : std::vector<std::string>{
           "/system.slice/pod" + kUid + "/" + kId, "/kubepods.slice/kubepods-burstable.slice",
           "/system.slice/foo-pod" + kUidSystemd + ".slice/" + kId,
           "/kubepods.slice/kubepods-pod" + kUid + ".slice/" + kId,  // dashes in a slice name
           "/kubepods/burstable/pod/" + kId, "/kubepods/burstable/podXYZ/" + kId,
           "/kubepods/burstable/pod" + std::string(65, 'a') + "/" + kId,
           "/kubepods.slice/kubepods-burstable-pod.slice/" + kId,
           "/kubepods.slice/kubepods-burstable-pod" + kUidSystemd + ".scope/" + kId}) {
    SCOPED_TRACE(path);
    const CgroupIdentity id = ParseCgroup("0::" + path + "\n");
    EXPECT_EQ(id.pod_uid, "");
    EXPECT_EQ(id.container_id, kId.substr(0, id.container_id.size()));
  }
}

TEST(ParseCgroupTest, KindNodeInsideDockerInnermostWins) {
  const CgroupIdentity id =
      ParseCgroup("0::/system.slice/docker-" + kId2 +
                  ".scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/"
                  "kubelet-kubepods-burstable-pod" +
                  kUidSystemd + ".slice/cri-containerd-" + kId + ".scope\n");
  EXPECT_EQ(id.container_id, kId);
  EXPECT_EQ(id.runtime, "containerd");
  EXPECT_EQ(id.pod_uid, kUid);
}

// ---------------------------------------------------------------------------------------------
// ParseCgroup: units, hierarchies, garbage

TEST(ParseCgroupTest, Units) {
  const CgroupIdentity service = ParseCgroup("0::/system.slice/nginx.service\n");
  EXPECT_EQ(service.unit, "nginx.service");
  EXPECT_FALSE(service.in_user_slice);
  EXPECT_EQ(service.container_id, "");
  EXPECT_EQ(service.runtime, "");

  const CgroupIdentity session = ParseCgroup("0::/user.slice/user-1000.slice/session-3.scope\n");
  EXPECT_EQ(session.unit, "session-3.scope");
  EXPECT_TRUE(session.in_user_slice);

  const CgroupIdentity app = ParseCgroup(
      "0::/user.slice/user-1000.slice/user@1000.service/app.slice/app-org.gnome.Terminal.slice/"
      "vte-spawn-1f2e.scope\n");
  EXPECT_EQ(app.unit, "vte-spawn-1f2e.scope");
  EXPECT_TRUE(app.in_user_slice);

  EXPECT_EQ(ParseCgroup("0::/init.scope\n").unit, "init.scope");
  EXPECT_EQ(ParseCgroup("0::/system.slice/app.service/worker/leaf\n").unit, "app.service");
  EXPECT_EQ(ParseCgroup("0::/system.slice\n").unit, "");
}

TEST(ParseCgroupTest, HybridHost) {
  // This shape is a hybrid host (systemd in v1's name=systemd, an empty v2 line).
  const CgroupIdentity id = ParseCgroup(
      "12:pids:/system.slice/sshd.service\n4:memory:/system.slice/sshd.service\n"
      "1:name=systemd:/system.slice/sshd.service\n0::/system.slice/sshd.service\n");
  EXPECT_EQ(id.unit, "sshd.service");
  // Controller lines disagreeing with name=systemd are ignored.
  EXPECT_EQ(
      ParseCgroup("4:memory:/docker/" + kId + "\n1:name=systemd:/system.slice/a.service\n0::/\n")
          .container_id,
      "");
  // Where the preferred lines say nothing, the controller lines decide.
  const CgroupIdentity fallback =
      ParseCgroup("9:name=systemd:/\n4:memory:/docker/" + kId + "\n3:cpuset:/\n0::/\n");
  EXPECT_EQ(fallback.container_id, kId);
  EXPECT_EQ(fallback.runtime, "docker");
  // A hybrid host running a sandbox: nothing anywhere names a container or a unit.
  const CgroupIdentity none = ParseCgroup(
      "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/2cc744fccfb489f63b9ca040ee10575a\n"
      "3:cpuset:/\n0::/\n");
  EXPECT_EQ(none.container_id, "");
  EXPECT_EQ(none.unit, "");
  EXPECT_EQ(none.runtime, "");
}

TEST(ParseCgroupTest, GarbageAndTruncated) {
  for (const std::string& text :
       {""s, "\n\n\n"s, "hello world"s, "0:/system.slice/x.service\n"s, "::::::"s, "0::////\n"s,
        "\0\xff\n0::/\x01"s, "0::"s, "0::/kubepods/burstable/pod"s, "0::/machine.slice/machine-"s,
        "0::/kubepods.slice/kubepods-"s, "0::/system.slice/docker-0123"s}) {
    SCOPED_TRACE(text);
    const CgroupIdentity id = ParseCgroup(text);
    EXPECT_EQ(id.container_id, "");
    EXPECT_EQ(id.pod_uid, "");
    EXPECT_EQ(id.machine, "");
    EXPECT_EQ(id.runtime, "");
  }
  // Every prefix of a real file is safe and says only well-formed things.
  const std::string full =
      "1:name=systemd:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
      kUidSystemd + ".slice/cri-containerd-" + kId +
      ".scope\n0::/machine.slice/machine-a\\x2db.scope\n";
  for (size_t n = 0; n <= full.size(); ++n) {
    const CgroupIdentity id = ParseCgroup(std::string_view(full).substr(0, n));
    EXPECT_TRUE(id.container_id.empty() || id.container_id == kId) << n;
    EXPECT_TRUE(id.machine.empty() || id.machine == "a-b" || id.machine == "a") << n;
    EXPECT_TRUE(id.pod_uid.empty() || kUid.starts_with(id.pod_uid)) << n;
  }
}

// ---------------------------------------------------------------------------------------------
// WorkloadResolver over fake kubelet, docker and containers/storage directories

class WorkloadResolverTest : public testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = testing::TempDir() + "tracegap_workload_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    paths_.kubelet_log_dir = (root_ / "log").string();
    paths_.docker_root = (root_ / "docker").string();
    paths_.containers_storage = (root_ / "storage").string();
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }

  WorkloadResolver Resolver(size_t max_cached = 4096) {
    return WorkloadResolver(paths_, max_cached, [this] { return now_ms_; });
  }

  static void Write(const fs::path& file, const std::string& text) {
    fs::create_directories(file.parent_path());
    std::ofstream out(file, std::ios::trunc | std::ios::binary);
    out << text;
    ASSERT_TRUE(out.good());
  }

  // The kubelet's /var/log/pods/<namespace>_<pod>_<uid>/<container>/0.log and its
  // /var/log/containers/<pod>_<namespace>_<container>-<id>.log symlink to it.
  void AddPod(const std::string& ns, const std::string& pod, const std::string& uid) {
    fs::create_directories(root_ / "log/pods" / (ns + "_" + pod + "_" + uid));
  }
  void AddPodContainer(const std::string& ns, const std::string& pod, const std::string& uid,
                       const std::string& container, const std::string& id) {
    const fs::path log = root_ / "log/pods" / (ns + "_" + pod + "_" + uid) / container / "0.log";
    Write(log, "");
    fs::create_directories(root_ / "log/containers");
    fs::create_symlink(
        log, root_ / "log/containers" / (pod + "_" + ns + "_" + container + "-" + id + ".log"));
  }
  void AddDocker(const std::string& id, const std::string& config) {
    Write(root_ / "docker/containers" / id / "config.v2.json", config);
  }
  void WriteContainersJson(const std::string& text, const std::string& driver = "overlay") {
    Write(root_ / "storage" / (driver + "-containers") / "containers.json", text);
  }

  static CgroupIdentity PodIdentity(const std::string& uid, const std::string& id,
                                    const std::string& runtime = "containerd") {
    CgroupIdentity cg;
    cg.pod_uid = uid;
    cg.container_id = id;
    cg.runtime = runtime;
    cg.unit = "cri-containerd-" + id + ".scope";
    return cg;
  }
  static CgroupIdentity ContainerIdentity(const std::string& id, const std::string& runtime) {
    CgroupIdentity cg;
    cg.container_id = id;
    cg.runtime = runtime;
    return cg;
  }

  fs::path root_;
  WorkloadResolver::Paths paths_;
  int64_t now_ms_ = 1'000'000;
};

TEST_F(WorkloadResolverTest, PodWithContainerName) {
  AddPod("shop", "checkout-7d9f8c-x2x4q", kUid);
  AddPodContainer("shop", "checkout-7d9f8c-x2x4q", kUid, "server", kId);
  AddPodContainer("shop", "checkout-7d9f8c-x2x4q", kUid, "istio-proxy", kId2);
  // Another pod's entries, also ending in the uid's text or the id, do not match.
  AddPod("other", "pod", "x" + kUid);
  WorkloadResolver resolver = Resolver();

  const Workload w =
      resolver.Resolve(ParseCgroup("0::/kubepods.slice/kubepods-burstable.slice/"
                                   "kubepods-burstable-pod" +
                                   kUidSystemd + ".slice/cri-containerd-" + kId + ".scope\n"),
                       "server");
  EXPECT_EQ(w.kind, Kind::kPod);
  EXPECT_EQ(w.workload, "shop/checkout-7d9f8c-x2x4q");
  EXPECT_EQ(w.namespace_, "shop");
  EXPECT_EQ(w.pod, "checkout-7d9f8c-x2x4q");
  EXPECT_EQ(w.container, "server");

  const Workload sidecar = resolver.Resolve(
      ParseCgroup("0::/kubepods/burstable/pod" + kUid + "/" + kId2 + "\n"), "envoy");
  EXPECT_EQ(sidecar.kind, Kind::kPod);
  EXPECT_EQ(sidecar.workload, "shop/checkout-7d9f8c-x2x4q");
  EXPECT_EQ(sidecar.container, "istio-proxy");
}

TEST_F(WorkloadResolverTest, PodContainerNameMustBeThisPods) {
  AddPod("shop", "web", kUid);
  // The same id's symlink, but named for another pod: not this container's name.
  AddPodContainer("shop", "web-2", kStaticUid, "server", kId);
  WorkloadResolver resolver = Resolver();
  const Workload w = resolver.Resolve(PodIdentity(kUid, kId), "server");
  EXPECT_EQ(w.kind, Kind::kPod);
  EXPECT_EQ(w.workload, "shop/web");
  EXPECT_EQ(w.container, kShortId);
}

TEST_F(WorkloadResolverTest, PodWithoutContainerSymlinkUsesShortId) {
  AddPod("kube-system", "kube-apiserver-node1", kStaticUid);
  WorkloadResolver resolver = Resolver();
  const Workload w = resolver.Resolve(PodIdentity(kStaticUid, kId), "kube-apiserver");
  EXPECT_EQ(w.kind, Kind::kPod);
  EXPECT_EQ(w.workload, "kube-system/kube-apiserver-node1");
  EXPECT_EQ(w.container, kShortId);
}

TEST_F(WorkloadResolverTest, PodWithoutContainerId) {
  AddPod("shop", "web", kUid);
  WorkloadResolver resolver = Resolver();
  const Workload w = resolver.Resolve(PodIdentity(kUid, ""), "pause");
  EXPECT_EQ(w.kind, Kind::kPod);
  EXPECT_EQ(w.workload, "shop/web");
  EXPECT_EQ(w.container, "");
}

TEST_F(WorkloadResolverTest, MalformedPodDirectoryNamesAreNotGuessed) {
  fs::create_directories(root_ / "log/pods" / ("a_b_c_" + kUid));  // too many parts
  fs::create_directories(root_ / "log/pods" / ("_web_" + kUid));   // no namespace
  fs::create_directories(root_ / "log/pods" / ("shop__" + kUid));  // no pod name
  WorkloadResolver resolver = Resolver();
  const Workload w = resolver.Resolve(PodIdentity(kUid, kId), "server");
  EXPECT_EQ(w.kind, Kind::kContainer);
  EXPECT_EQ(w.workload, kShortId);
}

TEST_F(WorkloadResolverTest, PodDirectoryMissingFallsToContainer) {
  AddDocker(kId, R"({"ID":"x","Name":"/k8s_server_web_shop_uid_0"})");
  WorkloadResolver resolver = Resolver();
  const Workload containerd = resolver.Resolve(PodIdentity(kUid, kId2), "server");
  EXPECT_EQ(containerd.kind, Kind::kContainer);
  EXPECT_EQ(containerd.workload, kShortId2);
  EXPECT_EQ(containerd.container, kShortId2);
  EXPECT_EQ(containerd.namespace_, "");
  EXPECT_EQ(containerd.pod, "");
  // dockershim: the runtime's own name.
  const Workload docker = resolver.Resolve(PodIdentity(kUid, kId, "docker"), "server");
  EXPECT_EQ(docker.kind, Kind::kContainer);
  EXPECT_EQ(docker.workload, "k8s_server_web_shop_uid_0");
}

TEST_F(WorkloadResolverTest, DockerName) {
  AddDocker(kId, R"({"ID":")" + kId + R"(","Name":"/web","Config":{"Hostname":"0123"}})");
  WorkloadResolver resolver = Resolver();
  const Workload w =
      resolver.Resolve(ParseCgroup("0::/system.slice/docker-" + kId + ".scope\n"), "nginx");
  EXPECT_EQ(w.kind, Kind::kContainer);
  EXPECT_EQ(w.workload, "web");
  EXPECT_EQ(w.container, "web");
  // The cgroupfs driver's bare id (runtime unknown) finds docker's name too.
  const Workload bare = resolver.Resolve(ContainerIdentity(kId, ""), "nginx");
  EXPECT_EQ(bare.workload, "web");
}

TEST_F(WorkloadResolverTest, DockerMetadataMalformedFallsBackToShortId) {
  for (const std::string& config :
       {R"({"Name":)"s, "not json"s, R"({"Name":42})"s, R"(["Name","/web"])"s, R"({"Name":""})"s,
        R"({"Name":"/"})"s, R"({"Name":"/a b"})"s, R"({"Name":"/a\u0001b"})"s, ""s,
        R"({"Nombre":"/web"})"s, "{\"Name\":\"/web\"}\xff\xfe"s, "\"/web\""s}) {
    SCOPED_TRACE(config);
    AddDocker(kId, config);
    WorkloadResolver resolver = Resolver();
    const Workload w = resolver.Resolve(ContainerIdentity(kId, "docker"), "nginx");
    EXPECT_EQ(w.kind, Kind::kContainer);
    EXPECT_EQ(w.workload, kShortId);
    EXPECT_EQ(w.container, kShortId);
  }
}

TEST_F(WorkloadResolverTest, DockerConfigTooLargeIsNotRead) {
  const std::string head = R"({"Name":"/web","Pad":")";
  const std::string tail = R"("})";
  const size_t limit = WorkloadResolver::kMaxDockerConfigBytes;
  AddDocker(kId, head + std::string(limit - head.size() - tail.size(), 'x') + tail);
  EXPECT_EQ(Resolver().Resolve(ContainerIdentity(kId, "docker"), "nginx").workload, "web");
  AddDocker(kId, head + std::string(limit + 1 - head.size() - tail.size(), 'x') + tail);
  EXPECT_EQ(Resolver().Resolve(ContainerIdentity(kId, "docker"), "nginx").workload, kShortId);
}

TEST_F(WorkloadResolverTest, ContainersJsonForPodmanAndCrio) {
  WriteContainersJson(R"([{"id":")" + kId2 + R"(","names":["db"],"image":"x"},)" + R"({"id":")" +
                      kId + R"(","names":["web","web-alias"],"layer":"abc","metadata":"{}"}])");
  WorkloadResolver resolver = Resolver();
  EXPECT_EQ(
      resolver
          .Resolve(ParseCgroup("0::/machine.slice/libpod-" + kId + ".scope/container\n"), "nginx")
          .workload,
      "web");
  const Workload crio = resolver.Resolve(ContainerIdentity(kId2, "cri-o"), "postgres");
  EXPECT_EQ(crio.kind, Kind::kContainer);
  EXPECT_EQ(crio.workload, "db");
  EXPECT_EQ(crio.container, "db");
}

TEST_F(WorkloadResolverTest, ContainersJsonOfAnyDriverAndBareIds) {
  WriteContainersJson("[]");
  WriteContainersJson(R"([{"id":")" + kId + R"(","names":["cache"]}])", "vfs");
  WorkloadResolver resolver = Resolver();
  EXPECT_EQ(resolver.Resolve(ContainerIdentity(kId, ""), "redis").workload, "cache");
  EXPECT_EQ(resolver.Resolve(ContainerIdentity(kId2, ""), "redis").workload, kShortId2);
}

TEST_F(WorkloadResolverTest, ContainersJsonMalformedFallsBackToShortId) {
  for (const std::string& text :
       {R"([{"id":")" + kId + R"(","names":[]}])", R"([{"id":")" + kId + R"(","names":[7]}])",
        R"([{"id":")" + kId + R"(","names":"web"}])", R"([{"id":")" + kId + R"("}])",
        R"({"id":")" + kId + R"(","names":["web"]})", R"([{"id":")" + kId + R"(","names":["web"])",
        R"([")" + kId + R"("])", R"([{"id":")" + kId + R"(x","names":["web"]}])",
        R"([{"id":")" + kId + R"(","names":["a\nb"]}])"}) {
    SCOPED_TRACE(text);
    WriteContainersJson(text);
    WorkloadResolver resolver = Resolver();
    const Workload w = resolver.Resolve(ContainerIdentity(kId, "podman"), "nginx");
    EXPECT_EQ(w.kind, Kind::kContainer);
    EXPECT_EQ(w.workload, kShortId);
  }
}

TEST_F(WorkloadResolverTest, ContainersJsonTooLargeIsNotRead) {
  // Padded with whitespace up to the limit: read; one byte more: not read.
  const std::string entry = R"([{"id":")" + kId + R"(","names":["web"]})";
  const size_t limit = WorkloadResolver::kMaxContainersJsonBytes;
  WriteContainersJson(entry + std::string(limit - entry.size() - 1, ' ') + "]");
  EXPECT_EQ(Resolver().Resolve(ContainerIdentity(kId, "podman"), "nginx").workload, "web");
  WriteContainersJson(entry + std::string(limit - entry.size(), ' ') + "]");
  EXPECT_EQ(Resolver().Resolve(ContainerIdentity(kId, "podman"), "nginx").workload, kShortId);
}

TEST_F(WorkloadResolverTest, ContainerdHasNoNames) {
  AddDocker(kId, R"({"Name":"/web"})");
  WriteContainersJson(R"([{"id":")" + kId + R"(","names":["web"]}])");
  // containerd: no metadata of its own is read, and another runtime's is not its.
  EXPECT_EQ(Resolver().Resolve(ContainerIdentity(kId, "containerd"), "x").workload, kShortId);
}

TEST_F(WorkloadResolverTest, NspawnMachine) {
  WorkloadResolver resolver = Resolver();
  const Workload w = resolver.Resolve(
      ParseCgroup(
          "0::/machine.slice/machine-my\\x2dbox.scope/payload/system.slice/nginx.service\n"),
      "nginx");
  EXPECT_EQ(w.kind, Kind::kContainer);
  EXPECT_EQ(w.workload, "my-box");
  EXPECT_EQ(w.container, "my-box");
}

TEST_F(WorkloadResolverTest, UnitsAndWhatFallsThroughToComm) {
  WorkloadResolver resolver = Resolver();
  const Workload service =
      resolver.Resolve(ParseCgroup("0::/system.slice/nginx.service\n"), "nginx");
  EXPECT_EQ(service.kind, Kind::kUnit);
  EXPECT_EQ(service.workload, "nginx.service");
  EXPECT_EQ(service.container, "");
  const Workload scope = resolver.Resolve(ParseCgroup("0::/system.slice/run-r1234.scope\n"), "job");
  EXPECT_EQ(scope.kind, Kind::kUnit);
  EXPECT_EQ(scope.workload, "run-r1234.scope");

  for (const std::string& path :
       {"/user.slice/user-1000.slice/session-3.scope"s, "/init.scope"s,
        "/user.slice/user-1000.slice/user@1000.service/init.scope"s,
        "/user.slice/user-1000.slice/user@1000.service"s,
        "/user.slice/user-1000.slice/user@1000.service/app.slice/"
        "app-org.gnome.Terminal.slice/vte-spawn-1f2e.scope"s,
        "/user.slice/user-1000.slice/user@1000.service/app.slice/myapp.service"s,
        "/system.slice/session-9.scope"s, "/system.slice"s, "/"s}) {
    SCOPED_TRACE(path);
    const Workload w = resolver.Resolve(ParseCgroup("0::" + path + "\n"), "bash");
    EXPECT_EQ(w.kind, Kind::kComm);
    EXPECT_EQ(w.workload, "bash");
    EXPECT_EQ(w.container, "");
  }
  EXPECT_EQ(resolver.Resolve(CgroupIdentity{}, "").workload, "");
  EXPECT_EQ(resolver.cached(), 0u);  // nothing to read for units and comms
}

TEST_F(WorkloadResolverTest, AnswersAreCachedAndNotReadAgain) {
  AddPod("shop", "web", kUid);
  AddPodContainer("shop", "web", kUid, "server", kId);
  AddDocker(kId2, R"({"Name":"/cache"})");
  WorkloadResolver resolver = Resolver();
  ASSERT_EQ(resolver.Resolve(PodIdentity(kUid, kId), "x").container, "server");
  ASSERT_EQ(resolver.Resolve(ContainerIdentity(kId2, "docker"), "x").workload, "cache");
  EXPECT_EQ(resolver.cached(), 3u);

  fs::remove_all(root_ / "log");
  fs::remove_all(root_ / "docker");
  now_ms_ += 3'600'000;  // found answers do not expire
  const Workload pod = resolver.Resolve(PodIdentity(kUid, kId), "x");
  EXPECT_EQ(pod.kind, Kind::kPod);
  EXPECT_EQ(pod.workload, "shop/web");
  EXPECT_EQ(pod.container, "server");
  EXPECT_EQ(resolver.Resolve(ContainerIdentity(kId2, "docker"), "x").workload, "cache");
}

TEST_F(WorkloadResolverTest, NotFoundIsRetriedAfterThirtySeconds) {
  WorkloadResolver resolver = Resolver();
  EXPECT_EQ(resolver.Resolve(PodIdentity(kUid, kId), "x").kind, Kind::kContainer);
  EXPECT_EQ(resolver.Resolve(ContainerIdentity(kId2, "docker"), "x").workload, kShortId2);

  // The kubelet and docker write their metadata a moment later.
  AddPod("shop", "web", kUid);
  AddDocker(kId2, R"({"Name":"/cache"})");
  now_ms_ += WorkloadResolver::kRetryMs - 1;
  EXPECT_EQ(resolver.Resolve(PodIdentity(kUid, kId), "x").kind, Kind::kContainer);
  EXPECT_EQ(resolver.Resolve(ContainerIdentity(kId2, "docker"), "x").workload, kShortId2);

  now_ms_ += 1;
  const Workload pod = resolver.Resolve(PodIdentity(kUid, kId), "x");
  EXPECT_EQ(pod.kind, Kind::kPod);
  EXPECT_EQ(pod.container, kShortId);  // its symlink is not there yet: looked for from now on
  EXPECT_EQ(resolver.Resolve(ContainerIdentity(kId2, "docker"), "x").workload, "cache");

  AddPodContainer("shop", "web", kUid, "server", kId);
  now_ms_ += WorkloadResolver::kRetryMs - 1;
  EXPECT_EQ(resolver.Resolve(PodIdentity(kUid, kId), "x").container, kShortId);
  now_ms_ += 1;
  EXPECT_EQ(resolver.Resolve(PodIdentity(kUid, kId), "x").container, "server");
}

TEST_F(WorkloadResolverTest, StaysBounded) {
  WorkloadResolver resolver = Resolver(2);
  for (int i = 0; i < 5; ++i) {
    std::string id = kId;
    id[0] = static_cast<char>('a' + i);
    AddDocker(id, R"({"Name":"/c)" + std::to_string(i) + R"("})");
    EXPECT_EQ(resolver.Resolve(ContainerIdentity(id, "docker"), "x").workload,
              "c" + std::to_string(i));
    EXPECT_LE(resolver.cached(), 2u);
  }
}

TEST_F(WorkloadResolverTest, MissingDirectoriesAreFine) {
  paths_.kubelet_log_dir = (root_ / "nope").string();
  paths_.docker_root = "";
  paths_.containers_storage = (root_ / "nope/storage").string();
  WorkloadResolver resolver = Resolver();
  EXPECT_EQ(resolver.Resolve(PodIdentity(kUid, kId), "x").workload, kShortId);
  EXPECT_EQ(resolver.Resolve(ContainerIdentity(kId2, ""), "x").workload, kShortId2);
  // A file where a directory is expected.
  Write(root_ / "file", "x");
  paths_.kubelet_log_dir = (root_ / "file").string();
  paths_.containers_storage = (root_ / "file").string();
  WorkloadResolver other = Resolver();
  EXPECT_EQ(other.Resolve(PodIdentity(kUid, kId), "x").workload, kShortId);
  EXPECT_EQ(other.Resolve(ContainerIdentity(kId2, "podman"), "x").workload, kShortId2);
}

}  // namespace
}  // namespace tracegap
