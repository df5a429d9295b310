/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The enter/exit stash pattern shared by every hooked syscall.
 *
 * sys_enter: resolve the fd to a TCP socket (sock_lookup.h; nothing else is stashed, so files,
 * pipes and UNIX sockets cost one fd walk) and save the buffer arguments in the thread's task
 * storage. For sends, a buffer that starts like nothing tracegap follows, on a connection in no
 * known state, is passed over here already, with no stash.
 * sys_exit: take the stash; for a successful call, classify its first bytes (user_data.h), then
 * either follow HTTP/2 frames (h2_walk.h) or find HTTP/1 header bytes (http1_scan.h), and emit
 * only those (emit.h).
 */
#ifndef TRACEGAP_BPF_CAPTURE_H
#define TRACEGAP_BPF_CAPTURE_H

#include "kernel_types.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include "emit.h"
#include "h2_follow.h"
#include "h2_walk.h"
#include "http1_scan.h"
#include "maps.h"
#include "sock_lookup.h"
#include "bounds.h"
#include "tracegap.h"
#include "user_data.h"

/* How the data of a syscall begins, for a direction in no known state. */
enum tg_start {
  TG_START_NONE = 0,        /* nothing tracegap follows */
  TG_START_HTTP1 = 1,       /* a request or status line */
  TG_START_H2_PREFACE = 2,  /* the HTTP/2 client preface */
  TG_START_H2 = 3,          /* the first frame of this direction of a connection seen from birth */
  TG_START_H2_UNSYNCED = 4, /* a plausible frame on a connection joined late */
};

/* `b` holds the first `avail` bytes (at most TG_PEEK) of a syscall moving `total` bytes. */
static __always_inline int tg_classify_start(const struct tg_conn *conn, __u8 dir, const __u8 *b,
                                             __u32 avail, __u64 total) {
  __u64 w0 = *(const __u64 *)b;
  if (!tg_follow_http2) return tg_is_message_start(w0, avail) ? TG_START_HTTP1 : TG_START_NONE;
  if (avail >= TG_H2_PREFACE_LEN && w0 == TG_H2_PREFACE_W0 &&
      *(const __u64 *)(b + 8) == TG_H2_PREFACE_W1 && *(const __u64 *)(b + 16) == TG_H2_PREFACE_W2)
    return TG_START_H2_PREFACE;
  if (tg_is_message_start(w0, avail)) return TG_START_HTTP1;
  if (avail < TG_H2_FRAME_HEADER_LEN) return TG_START_NONE;
  if (conn && conn->fresh) {
    /* Seen from birth: a direction's first data that is a SETTINGS frame starts HTTP/2 (a server
     * may send its SETTINGS before it has read the client's preface). */
    if (!conn->seen[dir & 1] && tg_h2_settings_first(b, total)) return TG_START_H2;
    return TG_START_NONE;
  }
  /* Joined late, and not HTTP/1 so far: frame boundaries still align with writes in practice. */
  if ((!conn || !conn->http1) && tg_h2_plausible_frame(b, total)) return TG_START_H2_UNSYNCED;
  return TG_START_NONE;
}

/* Directions (bits 1 << direction) of a connection to pass over from now on, given that the data
 * `b` of direction `dir` starts like nothing tracegap follows. Both directions once a TLS record
 * header starts a syscall on a connection that never carried HTTP/1 (nothing in TLS is readable
 * here). This direction, when these are its first bytes since the TCP handshake (a database, a
 * cache, a message broker), unless they could be a prelude after which HTTP still comes on the
 * same connection: a PROXY protocol header (v1 "PROXY ", v2 "\r\n\r\n\0\r\nQUIT\n") or a
 * SOCKS greeting (first byte 4 or 5). Such a connection costs two map lookups per syscall. */
static __always_inline __u8 tg_other_protocol(const struct tg_conn *conn, __u8 dir, const __u8 *b,
                                              __u32 avail) {
  if (avail < 5) return 0;
  __u64 w0 = *(const __u64 *)b;
  if (!conn->http1 && b[0] >= 0x14 && b[0] <= 0x17 && b[1] == 0x03 && b[2] <= 0x04) return 3;
  if (!conn->fresh || conn->seen[dir & 1]) return 0;
  if ((w0 & 0xffffffffffffULL) == TG_W8('P', 'R', 'O', 'X', 'Y', ' ', 0, 0)) return 0;
  if ((w0 & 0xffffffffULL) == TG_W4('\r', '\n', '\r', '\n')) return 0;
  if (b[0] == 4 || b[0] == 5) return 0;
  return 1 << (dir & 1);
}

static __always_inline int tg_enter(__s64 fd, __u64 buf, __u64 count, __u8 shape, __u8 dir,
                                    long nr) {
  __u64 id = bpf_get_current_pid_tgid();
  __u64 sk = tg_tcp_sock_of_fd(fd);
  if (!sk || tg_is_self(id)) return 0;
  __u8 start = TG_START_NONE;
  if (dir == TG_DIR_EGRESS) {
    struct tg_conn *conn = bpf_map_lookup_elem(&tg_conns, &sk);
    if (conn && (conn->other & (1 << TG_DIR_EGRESS))) return 0;
    int known = conn && (conn->dir[TG_DIR_EGRESS].in_headers || conn->h2[TG_DIR_EGRESS].active ||
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

static long tg_scan_step(__u32 index, struct tg_scan_ctx *ctx) {
  struct tg_scratch *scr = ctx->scr;
  return tg_scan_words(&scr->scan, scr->raw + sizeof(struct tg_data_event));
}

static __always_inline struct tg_conn *tg_conn_get_or_create(__u64 sk, __u8 fresh) {
  struct tg_conn *conn = bpf_map_lookup_elem(&tg_conns, &sk);
  if (conn) return conn;
  /* A socket already closed (a write that drew a reset) must not get an entry: its TCP_CLOSE has
   * passed, so nothing would remove it, and the next socket at this address would inherit it. */
  if (tg_sock_state(sk) == TG_TCP_CLOSE) return 0;
  struct tg_conn init = {.conn_id = __sync_fetch_and_add(&tg_next_conn_id, 1) + 1, .fresh = fresh};
  if (bpf_map_update_elem(&tg_conns, &sk, &init, BPF_NOEXIST) &&
      !bpf_map_lookup_elem(&tg_conns, &sk)) {
    tg_count_drop(TG_DROP_CONN_MAP_FULL);
    return 0;
  }
  return bpf_map_lookup_elem(&tg_conns, &sk);
}

/* Finds and emits the HTTP/1 header bytes of this syscall. Returns the byte offset where HTTP/2
 * frames begin if the bytes end with a 101 (h2c) response, else 0. */
static __always_inline __u32 tg_http1(struct tg_scratch *scr, struct tg_conn *conn, __u8 dir,
                                      const struct tg_stash *st, long ret, __u32 have) {
  struct tg_data_event *ev = (struct tg_data_event *)scr->raw;
  __u8 *data = scr->raw + sizeof(struct tg_data_event);
  struct tg_dir_state *ds = &conn->dir[dir & 1];
  __u32 want = (__u64)ret < tg_max_header_bytes ? (__u32)ret : tg_max_header_bytes;
  /* `have` bytes of a flat buffer are in scratch already (tg_exit's first read). */
  __u32 got = have >= want ? want
              : have > 0   ? tg_copy_rest(st, data, have, want)
                           : tg_copy(st, data, want, scr->iovs, &scr->copy_off);
  if (got == 0) {
    tg_count_drop(TG_DROP_READ_USER);
    return 0;
  }
  struct tg_scan *scan = &scr->scan;
  scan->len = got;
  scan->pos = 0;
  scan->emit = 0;
  scan->block_bytes = ds->block_bytes;
  scan->max_block = tg_max_header_bytes;
  scan->in_headers = ds->in_headers;
  scan->match = ds->crlf_match;
  scan->truncated = 0;
  scan->upgrade = 0;
  scan->switch_h2 = 0;
  struct tg_scan_ctx ctx = {.scr = scr};
  bpf_loop(TG_MAX_COPY / (8 * TG_SCAN_WORDS_PER_STEP) + 1, tg_scan_step, &ctx, 0);
  /* Still inside a block at the end of what was copied, but the syscall moved more bytes than
   * that: the block's rest was not seen, so it can never be completed. */
  if (scan->in_headers && scan->pos >= scan->len && (__u64)ret > scan->len) {
    scan->truncated = 1;
    scan->in_headers = 0;
  }
  __u32 emit = scan->emit;
  if (emit > 0) {
    ev->hdr.flags = (ds->in_headers ? TG_DATA_CONTINUATION : 0) |
                    (scan->truncated ? TG_DATA_TRUNCATED : 0) |
                    (ds->lost ? TG_DATA_LOST_BEFORE : 0) | (conn->announced ? 0 : TG_DATA_NEW_CONN);
    if (tg_output(scr, ev, emit)) {
      ds->lost = 1;
    } else {
      ds->lost = 0;
      conn->announced = 1;
    }
  }
  conn->http1 = 1;
  ds->in_headers = scan->in_headers;
  ds->crlf_match = scan->in_headers ? scan->match : 0;
  ds->block_bytes = scan->in_headers ? scan->block_bytes : 0;
  return scan->switch_h2 ? emit : 0;
}

/* tg_http1 as a global function: the verifier checks a global function once, on its own, from
 * its arguments' types, instead of once for every state its callers reach it in (the scan loop
 * inside was verified anew for each of the exit's copy paths). Its inputs are in scratch. */
__noinline int tg_http1_block(struct tg_scratch *scr, struct tg_conn *conn) {
  if (!scr || !conn) return 0;
  return tg_http1(scr, conn, scr->dir & 1, &scr->st, scr->ret, scr->have);
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
  __u8 dir = st.direction & 1;

  struct tg_conn *conn = bpf_map_lookup_elem(&tg_conns, &st.sk);
  if (conn && (conn->other & (1 << dir))) return 0;
  __u32 zero = 0;
  struct tg_scratch *scr = bpf_map_lookup_elem(&tg_scratch_map, &zero);
  if (!scr) return 0;
  int start = TG_START_NONE;
  __u32 have = 0; /* bytes of a flat buffer already in scratch */
  if (!conn || (!conn->dir[dir].in_headers && !conn->h2[dir].active)) {
    if (st.start == TG_START_HTTP1 && ret >= TG_PEEK) {
      start = TG_START_HTTP1; /* sys_enter saw the same first TG_PEEK bytes */
    } else {
      /* Classify before copying much: most TCP traffic is neither HTTP/1 nor HTTP/2. */
      __u8 *b;
      __u32 avail;
      if (st.shape == TG_SHAPE_FLAT) {
        __u32 n = (__u64)ret < tg_max_header_bytes ? (__u32)ret : tg_max_header_bytes;
        if (n > TG_PREFETCH) n = TG_PREFETCH;
        b = scr->raw + sizeof(struct tg_data_event);
        if (n == 0 || bpf_probe_read_user(b, TG_CLAMP(n, TG_PREFETCH), (void *)st.buf)) return 0;
        have = n;
        avail = n < TG_PEEK ? n : TG_PEEK;
      } else {
        b = scr->peek;
        avail = tg_peek(st.shape, st.buf, ret, b);
      }
      start = tg_classify_start(conn, dir, b, avail, ret);
      if (start == TG_START_NONE) {
        if (conn) {
          conn->other |= tg_other_protocol(conn, dir, b, avail);
          conn->seen[dir] = 1;
        }
        return 0;
      }
    }
  }
  if (!conn) conn = tg_conn_get_or_create(st.sk, 0);
  if (!conn) return 0;
  tg_fill_event((struct tg_data_event *)scr->raw, conn, dir, bpf_get_current_pid_tgid(), st.sk,
                ret);

  __u32 skip = 0;
  if (start == TG_START_H2_PREFACE) {
    /* The preface starts HTTP/2 in both directions of this socket. */
    tg_h2_begin(conn, dir, 1);
    if (!conn->h2[dir ^ 1].active) tg_h2_begin(conn, dir ^ 1, 1);
    skip = TG_H2_PREFACE_LEN;
  } else if (start == TG_START_H2 || start == TG_START_H2_UNSYNCED) {
    tg_h2_begin(conn, dir, start == TG_START_H2);
  } else if (!conn->h2[dir].active) {
    scr->st = st;
    scr->ret = ret;
    scr->have = have;
    scr->dir = dir;
    skip = tg_http1_block(scr, conn);
    if (skip == 0 || !tg_follow_http2) {
      conn->seen[dir] = 1;
      return 0;
    }
    tg_h2_begin(conn, dir, 1); /* after "101 Switching Protocols" */
  }
  conn->seen[dir] = 1;
  if (tg_follow_http2) tg_h2_walk(scr, conn, dir, &st, ret, skip);
  return 0;
}

#endif /* TRACEGAP_BPF_CAPTURE_H */
