// SPDX-License-Identifier: GPL-2.0
/*
 * The benchmarks' "floor": the same tracepoints tracegapd attaches to, with programs that do
 * nothing. Its cost is the unavoidable price of hooking these syscalls at all.
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>

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
