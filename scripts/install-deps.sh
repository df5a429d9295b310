#!/usr/bin/env bash
# Installs everything tracegap needs to build, run and test, from Debian 12 packages only.
# Idempotent: packages already present are left alone, and apt is not asked at all when nothing
# is missing. Usage: scripts/install-deps.sh [--build-only]
set -euo pipefail

build_pkgs=(
  build-essential cmake pkg-config
  clang llvm                       # BPF objects: clang -target bpf
  libbpf-dev bpftool libelf-dev zlib1g-dev
  libcapstone-dev                  # disassembler: the RET instructions of Go's crypto/tls functions
  libboost-program-options-dev     # its libboost1.74-dev also brings Asio and Beast (header-only)
  nlohmann-json3-dev               # JSON of the local API
  prometheus-cpp-dev
  libnghttp2-dev                   # HPACK inflater
  libsystemd-dev                   # sd_notify
  libgtest-dev libgmock-dev
)
# Real peers for the end-to-end tests, and tools the tests call.
test_pkgs=(
  curl nginx python3 prometheus    # prometheus ships promtool
  iproute2 procps util-linux
  # Packaging and install tests (tests/install): the .deb, lintian, man page and YAML checks,
  # and a Debian 12 root booted with systemd in systemd-nspawn.
  dpkg-dev lintian man-db python3-yaml
  systemd systemd-container mmdebstrap
  # Benchmarks (bench/run.py): load generators, HTTP/2 server, gRPC peers, profiles.
  wrk nghttp2-client nghttp2-server python3-grpcio linux-perf
  # Fuzz tier (scripts/fuzz.sh): clang's libFuzzer and sanitizer runtimes (only recommended by
  # clang, and recommends are not installed here).
  libclang-rt-14-dev
  # Kernels tier (tests/kernels): other kernels booted under qemu (TCG), with a busybox initramfs.
  qemu-system-x86 busybox-static
  # Message brokers for the broker e2e tests (tests/e2e/broker_peers.py runs private instances on
  # free loopback ports; a system service the package may start is not used).
  rabbitmq-server nats-server
  # Go peers (tests/peers/go: the h2c upgrade server), built with Debian's Go libraries.
  golang-go golang-golang-x-net-dev
  # TLS e2e tests (tests/e2e/test_tls.py): certificates made with the openssl command.
  openssl
  # Workload e2e test (tests/e2e/test_workloads.py): a service in a real container, run by podman
  # (on a local Debian root, no image is pulled) with crun; runc for hybrid cgroup hosts whose v2
  # hierarchy still has a controller (crun refuses those: "cgroups in hybrid mode not supported").
  podman crun runc
)

want=("${build_pkgs[@]}")
[[ "${1:-}" == "--build-only" ]] || want+=("${test_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#want[@]} packages present"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (or: sudo $0) to install them" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# Debian's nginx/prometheus packages try to start their services; on hosts without systemd (CI,
# containers) that only warns, and the tests start their own instances anyway.
apt-get install -y -q --no-install-recommends "${missing[@]}"
