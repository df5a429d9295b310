// SPDX-License-Identifier: GPL-2.0
/*
 * The benchmarks' "floor": the same hooks tracegapd attaches to, with programs that do nothing.
 * Its cost is the unavoidable price of hooking there at all. Two sets: the syscall tracepoints
 * (tracegapd --capture syscall) and the socket-layer BTF tracepoints (the default capture on
 * Linux 6.3+); tracegap-floor loads only the set it attaches (autoload), so that the syscall set
 * still loads on a kernel without the socket tracepoints.
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tracepoint")
int floor_enter(struct trace_event_raw_sys_enter *ctx) { return 0; }

SEC("tracepoint")
int floor_exit(struct trace_event_raw_sys_exit *ctx) { return 0; }

SEC("tracepoint")
int floor_sock(struct trace_event_raw_inet_sock_set_state *ctx) { return 0; }

SEC("raw_tracepoint/sys_enter")
int floor_raw_enter(void *ctx) { return 0; }

SEC("raw_tracepoint/sys_exit")
int floor_raw_exit(void *ctx) { return 0; }

SEC("tp_btf/sock_send_length")
int BPF_PROG(floor_sock_send, struct sock *sk, int ret, int flags) { return 0; }

SEC("tp_btf/sock_recv_length")
int BPF_PROG(floor_sock_recv, struct sock *sk, int ret, int flags) { return 0; }

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(floor_btf_sock_state, struct sock *sk, int oldstate, int newstate) { return 0; }
