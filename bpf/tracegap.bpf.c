// SPDX-License-Identifier: GPL-2.0
/*
 * tracegap's BPF programs: syscall tracepoints that capture HTTP/1 header bytes on TCP sockets,
 * and a socket-state tracepoint that reports closed connections.
 *
 * Why syscall tracepoints: they exist on every kernel with BPF, need neither kprobes nor fentry
 * (both missing on some hardened or virtualised kernels), and see plaintext at the boundary
 * where a process hands it to the kernel. sendmmsg/recvmmsg are not hooked: they batch datagrams,
 * and no HTTP/1 or HTTP/2 client or server in common use sends TCP through them.
 * sendfile/splice carry bodies only; io_uring bypasses these tracepoints (see docs/internals.md).
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include "capture.h"
#include "maps.h"
#include "tracegap.h"

char LICENSE[] SEC("license") = "GPL";

#define TG_ENTER(name, shape, dir, count_arg)                                           \
  SEC("tracepoint/syscalls/sys_enter_" #name)                                           \
  int tracepoint__syscalls__sys_enter_##name(struct trace_event_raw_sys_enter *ctx) {   \
    return tg_enter((__s64)ctx->args[0], ctx->args[1], count_arg, shape, dir, ctx->id); \
  }

TG_ENTER(write, TG_SHAPE_FLAT, TG_DIR_EGRESS, ctx->args[2])
TG_ENTER(sendto, TG_SHAPE_FLAT, TG_DIR_EGRESS, ctx->args[2])
TG_ENTER(writev, TG_SHAPE_IOVEC, TG_DIR_EGRESS, ctx->args[2])
TG_ENTER(sendmsg, TG_SHAPE_MSGHDR, TG_DIR_EGRESS, 0)
TG_ENTER(read, TG_SHAPE_FLAT, TG_DIR_INGRESS, ctx->args[2])
TG_ENTER(recvfrom, TG_SHAPE_FLAT, TG_DIR_INGRESS, ctx->args[2])
TG_ENTER(readv, TG_SHAPE_IOVEC, TG_DIR_INGRESS, ctx->args[2])
TG_ENTER(recvmsg, TG_SHAPE_MSGHDR, TG_DIR_INGRESS, 0)

/* One exit program for all eight syscalls (the stash says what the call was), attached by the
 * daemon to each sys_exit_* tracepoint: the scanner is verified once, not eight times. */
SEC("tracepoint")
int tracepoint__syscalls__sys_exit(struct trace_event_raw_sys_exit *ctx) {
  return tg_exit(ctx->ret, ctx->id);
}

/* Connection lifecycle. ESTABLISHED: start tracking the connection from its birth, so that
 * HTTP/2 can be followed from its first frame (and a connection that was not seen from birth is
 * known to have been joined late). CLOSE: tell the daemon (if it knows the connection) so that it
 * drops its state, and forget it here. Every TCP socket passes through TCP_CLOSE on its way out,
 * whichever side or path closes it (tcp_set_state -> trace_inet_sock_set_state). */
SEC("tracepoint/sock/inet_sock_set_state")
int tracepoint__sock__inet_sock_set_state(struct trace_event_raw_inet_sock_set_state *ctx) {
  if (ctx->protocol != TG_IPPROTO_TCP) return 0;
  if (ctx->newstate != TG_TCP_ESTABLISHED && ctx->newstate != TG_TCP_CLOSE) return 0;
  __u64 sk = (__u64)ctx->skaddr;
  /* At ESTABLISHED an entry can only be a leftover of an earlier socket at the same address:
   * close it too, then start afresh. */
  struct tg_conn *conn = bpf_map_lookup_elem(&tg_conns, &sk);
  if (conn) {
    if (conn->announced) {
      struct tg_event_header *ev = bpf_ringbuf_reserve(&tg_events, sizeof(*ev), 0);
      if (ev) {
        __builtin_memset(ev, 0, sizeof(*ev));
        ev->kind = TG_EVENT_CLOSE;
        ev->conn_id = conn->conn_id;
        ev->ts_ns = bpf_ktime_get_ns();
        bpf_ringbuf_submit(ev, BPF_RB_NO_WAKEUP);
      } else {
        tg_count_drop(TG_DROP_RINGBUF_FULL);
      }
    }
    bpf_map_delete_elem(&tg_conns, &sk);
  }
  if (ctx->newstate == TG_TCP_ESTABLISHED) tg_conn_get_or_create(sk, 1);
  return 0;
}
