// SPDX-License-Identifier: GPL-2.0
/*
 * tracegap's syscall-path BPF programs: syscall tracepoints that capture HTTP header bytes on TCP
 * sockets, and a socket-state tracepoint that reports closed connections. The daemon's fallback
 * for kernels without the socket layer's tracepoints (before 6.3; tracegap_sock.bpf.c).
 *
 * Why syscall tracepoints: they exist on every kernel with BPF, need neither kprobes nor fentry
 * (both missing on some hardened or virtualised kernels), and see plaintext at the boundary
 * where a process hands it to the kernel. Their cost: every read and write of every process
 * (files, pipes too) runs a program at entry and at exit. sendmmsg/recvmmsg are not hooked: they
 * batch datagrams, and no HTTP/1 or HTTP/2 client or server in common use sends TCP through them.
 * sendfile/splice carry bodies only; io_uring bypasses these tracepoints (see docs/internals.md).
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include "conn_store.h"
#include "maps.h"
#include "stash.h"
#include "tls.h"
#include "tracegap.h"

char LICENSE[] SEC("license") = "GPL";

/* `flags`: the receive flags (recvfrom, recvmsg); receives of bytes that are not the stream's
 * next ones (TG_MSG_NOT_STREAM: a peek, MSG_TRUNC, the error queue) are not captured. */
#define TG_ENTER(name, shape, dir, count_arg, flags)                                    \
  SEC("tracepoint/syscalls/sys_enter_" #name)                                           \
  int tracepoint__syscalls__sys_enter_##name(struct trace_event_raw_sys_enter *ctx) {   \
    if ((flags)&TG_MSG_NOT_STREAM) return 0;                                            \
    return tg_enter((__s64)ctx->args[0], ctx->args[1], count_arg, shape, dir, ctx->id); \
  }

TG_ENTER(write, TG_SHAPE_FLAT, TG_DIR_EGRESS, ctx->args[2], 0)
TG_ENTER(sendto, TG_SHAPE_FLAT, TG_DIR_EGRESS, ctx->args[2], 0)
TG_ENTER(writev, TG_SHAPE_IOVEC, TG_DIR_EGRESS, ctx->args[2], 0)
TG_ENTER(sendmsg, TG_SHAPE_MSGHDR, TG_DIR_EGRESS, 0, 0)
TG_ENTER(read, TG_SHAPE_FLAT, TG_DIR_INGRESS, ctx->args[2], 0)
TG_ENTER(recvfrom, TG_SHAPE_FLAT, TG_DIR_INGRESS, ctx->args[2], ctx->args[3])
TG_ENTER(readv, TG_SHAPE_IOVEC, TG_DIR_INGRESS, ctx->args[2], 0)
TG_ENTER(recvmsg, TG_SHAPE_MSGHDR, TG_DIR_INGRESS, 0, ctx->args[2])

/* One exit program for all eight syscalls (the stash says what the call was), attached by the
 * daemon to each sys_exit_* tracepoint: the scanner is verified once, not eight times. */
SEC("tracepoint")
int tracepoint__syscalls__sys_exit(struct trace_event_raw_sys_exit *ctx) {
  return tg_exit(ctx->ret, ctx->id);
}

/* Connection lifecycle (conn_store.h). */
SEC("tracepoint/sock/inet_sock_set_state")
int tracepoint__sock__inet_sock_set_state(struct trace_event_raw_inet_sock_set_state *ctx) {
  if (ctx->protocol != TG_IPPROTO_TCP) return 0;
  tg_conn_state_change((__u64)ctx->skaddr, ctx->newstate);
  return 0;
}

/* TLS plaintext (tls.h): uprobes, attached by the daemon to each libssl it finds. */
TG_TLS_PROGRAMS
