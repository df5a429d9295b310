// bench/floor: attaches empty BPF programs to every tracepoint tracegapd uses, then waits for
// SIGINT/SIGTERM. Prints "attached N" once ready. Used by bench/run.py as the "floor"
// configuration. With --raw, the empty programs go on the raw sys_enter/sys_exit tracepoints
// (every syscall) instead of the per-syscall ones: the alternative dispatch, measured by hand
// (docs/BENCHMARKS.md, HTTP/1 analysis).

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
  bool raw = argc > 1 && std::string(argv[1]) == "--raw";
  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  floor_bpf* skel = floor_bpf__open_and_load();
  if (!skel) {
    std::perror("floor: open/load");
    return 6;
  }
  const char* syscalls[] = {"write", "sendto",   "writev", "sendmsg",
                            "read",  "recvfrom", "readv",  "recvmsg"};
  std::vector<bpf_link*> links;
  if (raw) {
    links.push_back(bpf_program__attach_raw_tracepoint(skel->progs.floor_raw_enter, "sys_enter"));
    links.push_back(bpf_program__attach_raw_tracepoint(skel->progs.floor_raw_exit, "sys_exit"));
  }
  for (const char* sc : syscalls) {
    if (raw) break;
    std::string enter = std::string("sys_enter_") + sc, exit = std::string("sys_exit_") + sc;
    links.push_back(
        bpf_program__attach_tracepoint(skel->progs.floor_enter, "syscalls", enter.c_str()));
    links.push_back(
        bpf_program__attach_tracepoint(skel->progs.floor_exit, "syscalls", exit.c_str()));
  }
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
