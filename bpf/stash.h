/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The syscall path's enter/exit stash, shared by every hooked syscall.
 *
 * sys_enter: resolve the fd to a TCP socket (sock_lookup.h; nothing else is stashed, so files,
 * pipes and UNIX sockets cost one fd walk) and save the buffer arguments in the thread's task
 * storage. For sends, a buffer that starts like nothing tracegap follows, on a connection in no
 * known state, is passed over here already, with no stash.
 * sys_exit: take the stash and, for a successful call, hand it to tg_capture (capture.h).
 */
#ifndef TRACEGAP_BPF_STASH_H
#define TRACEGAP_BPF_STASH_H

#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include "capture.h"
#include "conn_store.h"
#include "maps.h"
#include "sock_lookup.h"
#include "tls.h"
#include "tracegap.h"
#include "user_data.h"

/* Syscall arguments saved at sys_enter for sys_exit, in the calling thread's task storage: one
 * slot per thread, created by its first stash, freed by the kernel when the thread exits (so
 * nothing can leak, and there is no table to fill). `armed` says the slot holds a pending call.
 * Why not a hash keyed by pid_tgid: every stash was an LRU insert and every exit a lookup plus a
 * delete, with the LRU's locks; task storage is a pointer held by the task (bench/BENCHMARKS). */
struct {
  __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct tg_stash);
} tg_stash_map SEC(".maps");

static __always_inline int tg_enter(__s64 fd, __u64 buf, __u64 count, __u8 shape, __u8 dir,
                                    long nr) {
  __u64 id = bpf_get_current_pid_tgid();
  __u64 sk = tg_tcp_sock_of_fd(fd);
  if (!sk || tg_is_self(id)) return 0;
  /* Ciphertext moved inside a probed TLS call (its plaintext is read at the call: tls.h). */
  if (tg_tls_learn(sk)) return 0;
  __u8 start = TG_START_NONE;
  if (dir == TG_DIR_EGRESS) {
    struct tg_conn *conn = tg_conn_find(sk);
    if (conn && (conn->other & (1 << TG_DIR_EGRESS))) return 0;
    int known = conn && (conn->dir[TG_DIR_EGRESS].in_headers || conn->frames[TG_DIR_EGRESS].proto ||
                         (conn->upgrading & (1 << TG_DIR_EGRESS)) ||
                         (conn->fresh && !conn->seen[TG_DIR_EGRESS]));
    if (!known) {
      __u8 b[TG_PEEK];
      __u64 total = shape == TG_SHAPE_FLAT ? count : ~0ULL;
      __u32 avail = tg_peek(shape, buf, total, b);
      start = tg_classify_start(conn, TG_DIR_EGRESS, b, avail, total);
      if (start == TG_START_NONE) return 0;
    }
  }
  struct tg_stash *st = bpf_task_storage_get(&tg_stash_map, bpf_get_current_task_btf(), 0,
                                             BPF_LOCAL_STORAGE_GET_F_CREATE);
  if (!st) {
    tg_count_drop(TG_DROP_STASH_FULL);
    return 0;
  }
  st->sk = sk;
  st->buf = buf;
  st->count = count;
  st->shape = shape;
  st->direction = dir;
  st->start = start;
  st->nr = (__u32)nr;
  st->armed = 1;
  return 0;
}

static __always_inline int tg_exit(long ret, long nr) {
  struct tg_stash *stp = bpf_task_storage_get(&tg_stash_map, bpf_get_current_task_btf(), 0, 0);
  if (!stp || !stp->armed) return 0;
  stp->armed = 0;
  /* Only the exit of the syscall that stashed: while probes are being attached or detached, an
   * enter can run without its exit, and its stash must not be taken for another call's. */
  if (stp->nr != (__u32)nr) return 0;
  if (ret <= 0) return 0;
  struct tg_stash st = *stp;
  struct tg_conn *conn = tg_conn_find(st.sk);
  if (conn && (conn->other & (1 << (st.direction & 1)))) return 0;
  return tg_capture(st, ret, st.sk, conn);
}

#endif /* TRACEGAP_BPF_STASH_H */
