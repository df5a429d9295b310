// SPDX-License-Identifier: GPL-2.0
/*
 * tracegap's socket-layer capture (Linux 6.3+): the same capture as tracegap.bpf.c, from hooks
 * that run only where a socket moves data.
 *
 * sock_send_length / sock_recv_length fire at the end of every sendmsg/recvmsg on a socket
 * (sock_sendmsg_nosec / sock_recvmsg_nosec), in the thread that made the call, with the socket,
 * the byte count and (for receives) the flags. Reads and writes of files, pipes and eventfds never
 * reach them, a failed or would-block call leaves at the first test, and a socket that is not
 * TCP after two loads. The user buffer comes from the syscall's registers (syscall_args.h), the
 * connection's state from the socket itself (conn_store.h), and the rest is tg_capture, shared
 * with the syscall path. BTF tracepoints (tp_btf): the socket is a pointer the verifier trusts,
 * which is what sk storage needs, and fields are read with plain loads.
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "capture.h"
#include "conn_store.h"
#include "maps.h"
#include "syscall_args.h"
#include "tls.h"
#include "tracegap.h"

char LICENSE[] SEC("license") = "GPL";

static __always_inline int tg_is_tcp(const struct sock *sk) {
  const __u16 family = sk->__sk_common.skc_family;
  return (family == TG_AF_INET || family == TG_AF_INET6) && sk->sk_protocol == TG_IPPROTO_TCP;
}

static __always_inline int tg_sock_io(struct sock *sk, int ret, __u8 dir) {
  if (ret <= 0 || !sk || !tg_is_tcp(sk)) return 0;
  /* A kernel thread's socket I/O (NFS, iSCSI, ...), or a kernel socket used from a process's
   * context: no user buffer belongs to it. */
  struct task_struct *task = bpf_get_current_task_btf();
  if (task->flags & TG_PF_KTHREAD) return 0;
  struct socket *sock = sk->sk_socket;
  if (!sock || !sock->file) return 0;
  if (tg_is_self(bpf_get_current_pid_tgid())) return 0;
  /* Ciphertext moved inside a probed TLS call (its plaintext is read at the call: tls.h). */
  if (tg_tls_learn(sk)) return 0;
  /* A connection known to carry another protocol in this direction leaves here. */
  struct tg_conn *conn = tg_conn_find(sk);
  if (conn && (conn->other & (1 << dir))) return 0;
  struct tg_stash st;
  int how = (task->flags & TG_PF_IO_WORKER) ? TG_CALL_UNREAD : tg_syscall_args(task, dir, &st);
  if (how != TG_CALL_READ) {
    /* Counted where it matters: on a connection that carries HTTP. */
    if (how == TG_CALL_UNREAD && conn && (conn->http1 || conn->frames[dir & 1].proto))
      tg_count_drop(TG_DROP_UNREAD_CALL);
    return 0;
  }
  st.sk = (__u64)sk;
  return tg_capture(st, ret, sk, conn);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(tp_btf__sock_send_length, struct sock *sk, int ret, int flags) {
  return tg_sock_io(sk, ret, TG_DIR_EGRESS);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(tp_btf__sock_recv_length, struct sock *sk, int ret, int flags) {
  /* A peek, MSG_TRUNC, the error queue: not the stream's next bytes (kernel_types.h). */
  if (flags & TG_MSG_NOT_STREAM) return 0;
  return tg_sock_io(sk, ret, TG_DIR_INGRESS);
}

/* Connection lifecycle (conn_store.h). */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tp_btf__inet_sock_set_state, struct sock *sk, int oldstate, int newstate) {
  if (!sk || sk->sk_protocol != TG_IPPROTO_TCP) return 0;
  tg_conn_state_change(sk, newstate);
  return 0;
}

/* TLS plaintext (tls.h): uprobes, attached by the daemon to each libssl it finds. */
TG_TLS_PROGRAMS
