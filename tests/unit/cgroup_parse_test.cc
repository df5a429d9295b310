// Tests ParseCgroup (daemon/correlate/workload.h) on the shapes each container runtime, cgroup
// driver and the kubelet write into /proc/PID/cgroup. The names they become are tested in
// workload_resolver_test.cc.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "correlate/workload.h"
#include "support/cgroup_ids.h"

namespace tracegap {
namespace {

using namespace std::string_literals;
using namespace tracegap::test;  // NOLINT: the ids

// ---------------------------------------------------------------------------------------------
// ParseCgroup: container runtimes

// Each runtime's cgroup names, with both cgroup drivers and on cgroup v1 (one line per hierarchy).
TEST(ParseCgroupTest, EveryRuntimesContainer) {
  struct Case {
    std::string file;
    std::string runtime;
    std::string unit;
  };
  const std::string v1_scope = "/system.slice/docker-" + kId + ".scope";
  const Case cases[] = {
      {"0::/system.slice/docker-" + kId + ".scope\n", "docker", "docker-" + kId + ".scope"},
      {"0::/docker/" + kId + "\n", "docker", ""},
      {"12:pids:/docker/" + kId + "\n11:memory:/docker/" + kId + "\n3:cpu,cpuacct:/docker/" + kId +
           "\n1:name=systemd:/docker/" + kId + "\n",
       "docker", ""},
      {"12:pids:" + v1_scope + "\n4:memory:" + v1_scope + "\n1:name=systemd:" + v1_scope + "\n",
       "docker", "docker-" + kId + ".scope"},
      {"0::/system.slice/cri-containerd-" + kId + ".scope\n", "containerd",
       "cri-containerd-" + kId + ".scope"},
      // nerdctl/ctr with the cgroupfs driver: "/<containerd namespace>/<id>", runtime unknown.
      {"0::/default/" + kId + "\n", "", ""},
      {"0::/machine.slice/crio-" + kId + ".scope\n", "cri-o", "crio-" + kId + ".scope"},
      {"0::/machine.slice/crio-conmon-" + kId + ".scope\n", "cri-o",
       "crio-conmon-" + kId + ".scope"},
      {"0::/machine.slice/libpod-" + kId + ".scope/container\n", "podman",
       "libpod-" + kId + ".scope"},
      {"0::/machine.slice/libpod-conmon-" + kId + ".scope\n", "podman",
       "libpod-conmon-" + kId + ".scope"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.file);
    const CgroupIdentity id = ParseCgroup(c.file);
    EXPECT_EQ(id.container_id, kId);
    EXPECT_EQ(id.runtime, c.runtime);
    EXPECT_EQ(id.unit, c.unit);
    EXPECT_EQ(id.pod_uid, "");
    EXPECT_EQ(id.machine, "");
    EXPECT_FALSE(id.in_user_slice);
  }
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
}  // namespace
}  // namespace tracegap
