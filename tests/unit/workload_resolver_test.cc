// Tests WorkloadResolver (daemon/correlate/workload.h) against directories laid out as the
// kubelet, docker and containers/storage lay them out: names found, fallbacks, bounds, caching.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "correlate/workload.h"
#include "support/cgroup_ids.h"

namespace tracegap {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;
using namespace tracegap::test;  // NOLINT: the ids
using Kind = Workload::Kind;

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
