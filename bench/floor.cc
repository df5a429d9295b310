// bench/floor: attaches empty BPF programs to every hook one of tracegapd's capture paths uses,
// then waits for SIGINT/SIGTERM. Prints "attached N" once ready. Used by bench/run.py as the
// "floor-syscall" configuration (default: the 17 syscall and sock tracepoints of --capture syscall)
// and the "floor" configuration (--sock: the socket-layer BTF tracepoints sock_send_length,
// sock_recv_length and inet_sock_set_state, Linux 6.3+). With --raw, the empty programs go on the
// raw sys_enter/sys_exit tracepoints (every syscall) instead of the per-syscall ones: the
// alternative dispatch, measured by hand (docs/BENCHMARKS.md, HTTP/1 analysis).
//
// Usage: tracegap-floor [--sock | --raw]

#include <bpf/libbpf.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "floor.skel.h"

namespace {
volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }
}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (!mode.empty() && mode != "--raw" && mode != "--sock") {
    std::fprintf(stderr, "usage: tracegap-floor [--sock | --raw]\n");
    return 2;
  }
  const bool raw = mode == "--raw", sock = mode == "--sock";
  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  floor_bpf* skel = floor_bpf__open();
  if (!skel) {
    std::perror("floor: open");
    return 6;
  }
  // Load only what this mode attaches: the tp_btf programs need the kernel's socket tracepoints.
  bpf_program* sock_progs[] = {skel->progs.floor_sock_send, skel->progs.floor_sock_recv,
                               skel->progs.floor_btf_sock_state};
  for (bpf_program* p : sock_progs) bpf_program__set_autoload(p, sock);
  bpf_program__set_autoload(skel->progs.floor_enter, !sock && !raw);
  bpf_program__set_autoload(skel->progs.floor_exit, !sock && !raw);
  bpf_program__set_autoload(skel->progs.floor_raw_enter, raw);
  bpf_program__set_autoload(skel->progs.floor_raw_exit, raw);
  bpf_program__set_autoload(skel->progs.floor_sock, !sock);
  if (floor_bpf__load(skel)) {
    std::perror("floor: load");
    floor_bpf__destroy(skel);
    return 6;
  }
  const char* syscalls[] = {"write", "sendto",   "writev", "sendmsg",
                            "read",  "recvfrom", "readv",  "recvmsg"};
  std::vector<bpf_link*> links;
  if (sock) {
    for (bpf_program* p : sock_progs) links.push_back(bpf_program__attach(p));
  } else if (raw) {
    links.push_back(bpf_program__attach_raw_tracepoint(skel->progs.floor_raw_enter, "sys_enter"));
    links.push_back(bpf_program__attach_raw_tracepoint(skel->progs.floor_raw_exit, "sys_exit"));
  }
  for (const char* sc : syscalls) {
    if (raw || sock) break;
    std::string enter = std::string("sys_enter_") + sc, exit = std::string("sys_exit_") + sc;
    links.push_back(
        bpf_program__attach_tracepoint(skel->progs.floor_enter, "syscalls", enter.c_str()));
    links.push_back(
        bpf_program__attach_tracepoint(skel->progs.floor_exit, "syscalls", exit.c_str()));
  }
  if (!sock)
    links.push_back(
        bpf_program__attach_tracepoint(skel->progs.floor_sock, "sock", "inet_sock_set_state"));
  for (bpf_link* l : links) {
    if (!l) {
      std::perror("floor: attach");
      return 7;
    }
  }
  std::printf("attached %zu\n", links.size());
  std::fflush(stdout);
  while (!g_stop) pause();
  for (bpf_link* l : links) bpf_link__destroy(l);
  floor_bpf__destroy(skel);
  return 0;
}
