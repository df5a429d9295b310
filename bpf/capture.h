/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The enter/exit stash pattern shared by every hooked syscall.
 *
 * sys_enter: resolve the fd to a TCP socket (nothing else is stashed, so files, pipes and UNIX
 * sockets cost one fd walk) and save the buffer arguments by pid_tgid. For sends, a buffer that
 * does not start like HTTP on a connection that is not inside a header block is passed over here
 * already, with no stash.
 * sys_exit: take the stash (always deleting it), and for a successful call copy at most
 * min(returned bytes, --max-header-bytes) into per-CPU scratch, find the header bytes, and emit
 * only those.
 */
#ifndef TRACEGAP_BPF_CAPTURE_H
#define TRACEGAP_BPF_CAPTURE_H

#include "kernel_types.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include "http1_scan.h"
#include "maps.h"
#include "sock_lookup.h"
#include "tracegap.h"

/* The first buffer segment of a syscall's data: the flat buffer, or the first iovec. */
static __always_inline int tg_first_segment(__u8 shape, __u64 buf, __u64 *seg, __u64 *seg_len,
                                            __u64 *iov) {
  if (shape == TG_SHAPE_FLAT) {
    *seg = buf;
    *seg_len = ~0ULL;
    *iov = 0;
    return 0;
  }
  if (shape == TG_SHAPE_MSGHDR) {
    struct tg_user_msghdr msg;
    if (bpf_probe_read_user(&msg, sizeof(msg), (void *)buf)) return -1;
    if (msg.msg_iovlen == 0) return -1;
    buf = msg.msg_iov;
  }
  struct tg_user_iovec v;
  if (bpf_probe_read_user(&v, sizeof(v), (void *)buf)) return -1;
  *seg = v.base;
  *seg_len = v.len;
  *iov = buf;
  return 0;
}

/* The first (up to) 8 bytes of the data, as a little-endian word; returns how many are valid. */
static __always_inline __u32 tg_peek(__u64 seg, __u64 seg_len, __u64 total, __u64 *word) {
  __u64 n = total < 8 ? total : 8;
  if (seg_len < n) n = seg_len;
  *word = 0;
  if (n == 0) return 0;
  if (bpf_probe_read_user(word, n & 15, (void *)seg)) return 0;
  return n;
}

static __always_inline int tg_enter(__s64 fd, __u64 buf, __u64 count, __u8 shape, __u8 dir) {
  __u64 id = bpf_get_current_pid_tgid();
  if ((__u32)(id >> 32) == tg_self_tgid) return 0;
  __u64 sk = tg_tcp_sock_of_fd(fd);
  if (!sk) return 0;
  if (dir == TG_DIR_EGRESS) {
    struct tg_conn *conn = bpf_map_lookup_elem(&tg_conns, &sk);
    if (!conn || !conn->dir[TG_DIR_EGRESS].in_headers) {
      __u64 seg, seg_len, iov, word;
      __u64 total = shape == TG_SHAPE_FLAT ? count : ~0ULL;
      if (tg_first_segment(shape, buf, &seg, &seg_len, &iov)) return 0;
      __u32 avail = tg_peek(seg, seg_len, total, &word);
      if (!tg_is_message_start(word, avail)) return 0;
    }
  }
  struct tg_stash st = {.sk = sk, .buf = buf, .count = count, .shape = shape, .direction = dir};
  if (bpf_map_update_elem(&tg_stash_map, &id, &st, BPF_ANY)) tg_count_drop(TG_DROP_STASH_FULL);
  return 0;
}

/* Copies up to `want` bytes of the syscall's data into `dst`; returns the count copied. */
static __always_inline __u32 tg_copy(const struct tg_stash *st, __u8 *dst, __u32 want) {
  if (want > TG_MAX_COPY) want = TG_MAX_COPY;
  if (st->shape == TG_SHAPE_FLAT) {
    if (bpf_probe_read_user(dst, want, (void *)st->buf)) return 0;
    return want;
  }
  __u64 seg, seg_len, iov;
  if (tg_first_segment(st->shape, st->buf, &seg, &seg_len, &iov)) return 0;
  __u32 off = 0;
  for (int i = 0; i < TG_MAX_IOV; i++) {
    if (i > 0) {
      struct tg_user_iovec v;
      if (bpf_probe_read_user(&v, sizeof(v), (void *)(iov + i * sizeof(v)))) return off;
      seg = v.base;
      seg_len = v.len;
    }
    __u32 room = want - off;
    __u32 n = seg_len < room ? seg_len : room;
    if (n > TG_MAX_COPY) n = TG_MAX_COPY;
    if (n && bpf_probe_read_user(dst + (off & (TG_MAX_COPY - 1)), n, (void *)seg)) return off;
    off += n;
    if (off >= want) return off;
  }
  tg_count_drop(TG_DROP_IOV_LIMIT);
  return off;
}

struct tg_scan_ctx {
  struct tg_scratch *scr;
};

static long tg_scan_step(__u32 index, struct tg_scan_ctx *ctx) {
  struct tg_scratch *scr = ctx->scr;
  return tg_scan_word(&scr->scan, scr->raw + sizeof(struct tg_data_event));
}

static __always_inline struct tg_conn *tg_conn_get_or_create(__u64 sk) {
  struct tg_conn *conn = bpf_map_lookup_elem(&tg_conns, &sk);
  if (conn) return conn;
  struct tg_conn fresh = {.conn_id = __sync_fetch_and_add(&tg_next_conn_id, 1) + 1};
  if (bpf_map_update_elem(&tg_conns, &sk, &fresh, BPF_NOEXIST) &&
      !bpf_map_lookup_elem(&tg_conns, &sk)) {
    tg_count_drop(TG_DROP_CONN_MAP_FULL);
    return 0;
  }
  return bpf_map_lookup_elem(&tg_conns, &sk);
}

static __always_inline int tg_exit(long ret) {
  __u64 id = bpf_get_current_pid_tgid();
  struct tg_stash *stp = bpf_map_lookup_elem(&tg_stash_map, &id);
  if (!stp) return 0;
  struct tg_stash st = *stp;
  bpf_map_delete_elem(&tg_stash_map, &id);
  if (ret <= 0) return 0;
  __u8 dir = st.direction & 1;

  struct tg_conn *conn = bpf_map_lookup_elem(&tg_conns, &st.sk);
  struct tg_dir_state ds = {};
  if (conn) ds = conn->dir[dir];
  if (!ds.in_headers) {
    /* Cheap check before copying anything: most TCP traffic is not an HTTP/1 message start. */
    __u64 seg, seg_len, iov, word;
    if (tg_first_segment(st.shape, st.buf, &seg, &seg_len, &iov)) return 0;
    __u32 avail = tg_peek(seg, seg_len, ret, &word);
    if (!tg_is_message_start(word, avail)) return 0;
  }

  __u32 zero = 0;
  struct tg_scratch *scr = bpf_map_lookup_elem(&tg_scratch_map, &zero);
  if (!scr) return 0;
  struct tg_data_event *ev = (struct tg_data_event *)scr->raw;
  __u8 *data = scr->raw + sizeof(struct tg_data_event);
  __u32 want = (__u64)ret < tg_max_header_bytes ? (__u32)ret : tg_max_header_bytes;
  __u32 got = tg_copy(&st, data, want);
  if (got == 0) {
    tg_count_drop(TG_DROP_READ_USER);
    return 0;
  }

  conn = tg_conn_get_or_create(st.sk);
  if (!conn) return 0;

  struct tg_scan *scan = &scr->scan;
  scan->len = got;
  scan->pos = 0;
  scan->emit = 0;
  scan->block_bytes = ds.block_bytes;
  scan->max_block = tg_max_header_bytes;
  scan->in_headers = ds.in_headers;
  scan->match = ds.crlf_match;
  scan->truncated = 0;
  struct tg_scan_ctx ctx = {.scr = scr};
  bpf_loop(TG_MAX_COPY + 1, tg_scan_step, &ctx, 0);
  /* Still inside a block at the end of what was copied, but the syscall moved more bytes than
   * that: the block's rest was not seen, so it can never be completed. */
  if (scan->in_headers && scan->pos >= scan->len && (__u64)ret > scan->len) {
    scan->truncated = 1;
    scan->in_headers = 0;
  }

  __u32 emit = scan->emit;
  if (emit > TG_MAX_COPY) emit = TG_MAX_COPY;
  if (emit > 0) {
    __u16 flags = 0;
    if (ds.in_headers) flags |= TG_DATA_CONTINUATION;
    if (scan->truncated) flags |= TG_DATA_TRUNCATED;
    if (conn->dir[dir].lost) flags |= TG_DATA_LOST_BEFORE;
    if (!conn->announced) flags |= TG_DATA_NEW_CONN;
    ev->hdr.kind = TG_EVENT_DATA;
    ev->hdr.direction = dir;
    ev->hdr.flags = flags;
    ev->hdr.tgid = id >> 32;
    ev->hdr.tid = (__u32)id;
    ev->hdr._pad = 0;
    ev->hdr.conn_id = conn->conn_id;
    ev->hdr.ts_ns = bpf_ktime_get_ns();
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    BPF_CORE_READ_STR_INTO(&ev->hdr.comm, task, group_leader, comm);
    __builtin_memset(&ev->tuple, 0, sizeof(ev->tuple));
    tg_read_tuple(st.sk, &ev->tuple);
    ev->syscall_bytes = ret > 0xffffffffL ? 0xffffffffU : (__u32)ret;
    ev->data_len = emit;
    __u64 wake = bpf_ringbuf_query(&tg_events, BPF_RB_AVAIL_DATA) >= tg_wakeup_bytes
                     ? BPF_RB_FORCE_WAKEUP
                     : BPF_RB_NO_WAKEUP;
    if (bpf_ringbuf_output(&tg_events, ev, sizeof(*ev) + emit, wake)) {
      tg_count_drop(TG_DROP_RINGBUF_FULL);
      conn->dir[dir].lost = 1;
    } else {
      conn->dir[dir].lost = 0;
      conn->announced = 1;
    }
  }
  conn->dir[dir].in_headers = scan->in_headers;
  conn->dir[dir].crlf_match = scan->in_headers ? scan->match : 0;
  conn->dir[dir].block_bytes = scan->in_headers ? scan->block_bytes : 0;
  return 0;
}

#endif /* TRACEGAP_BPF_CAPTURE_H */
