/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The enter/exit stash pattern shared by every hooked syscall.
 *
 * sys_enter: resolve the fd to a TCP socket (nothing else is stashed, so files, pipes and UNIX
 * sockets cost one fd walk) and save the buffer arguments by pid_tgid. For sends, a buffer that
 * starts like nothing tracegap follows, on a connection in no known state, is passed over here
 * already, with no stash.
 * sys_exit: take the stash (always deleting it); for a successful call, either follow HTTP/2
 * frames (h2_follow.h) or find HTTP/1 header bytes (http1_scan.h), and emit only those.
 */
#ifndef TRACEGAP_BPF_CAPTURE_H
#define TRACEGAP_BPF_CAPTURE_H

#include "kernel_types.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include "h2_follow.h"
#include "http1_scan.h"
#include "maps.h"
#include "sock_lookup.h"
#include "tracegap.h"

#define TG_PEEK 24
/* A flat receive or send not classified yet has its first bytes (up to this many) copied into
 * scratch at once: one read serves the classification and, for a small header block, the copy. */
#define TG_PREFETCH 256

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

/* Reads the first (up to) TG_PEEK bytes of the data into `b`; returns how many are valid. */
static __always_inline __u32 tg_peek(__u8 shape, __u64 buf, __u64 total, __u8 *b) {
  __u64 seg, seg_len, iov;
  __builtin_memset(b, 0, TG_PEEK);
  if (tg_first_segment(shape, buf, &seg, &seg_len, &iov)) return 0;
  __u64 n = total < TG_PEEK ? total : TG_PEEK;
  if (seg_len < n) n = seg_len;
  if (n == 0 || bpf_probe_read_user(b, n & 31, (void *)seg)) return 0;
  return n;
}

static __always_inline int tg_enter(__s64 fd, __u64 buf, __u64 count, __u8 shape, __u8 dir) {
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
  st->armed = 1;
  return 0;
}

/* Copies up to `want` bytes of the syscall's data into `dst`; returns the count copied. */
static __always_inline __u32 tg_copy(const struct tg_stash *st, __u8 *dst, __u32 want,
                                     struct tg_user_iovec *iovs) {
  if (want > TG_MAX_COPY) want = TG_MAX_COPY;
  if (st->shape == TG_SHAPE_FLAT) {
    if (bpf_probe_read_user(dst, want, (void *)st->buf)) return 0;
    return want;
  }
  /* The iovec array (its first TG_MAX_IOV entries) in one read, then one read per segment. */
  __u64 iov = st->buf, cnt = st->count;
  if (st->shape == TG_SHAPE_MSGHDR) {
    struct tg_user_msghdr msg;
    if (bpf_probe_read_user(&msg, sizeof(msg), (void *)st->buf)) return 0;
    iov = msg.msg_iov;
    cnt = msg.msg_iovlen;
  }
  if (cnt == 0) return 0;
  __u32 have_iov = cnt < TG_MAX_IOV ? (__u32)cnt : TG_MAX_IOV;
  if (bpf_probe_read_user(iovs, have_iov * sizeof(struct tg_user_iovec), (void *)iov)) return 0;
  __u32 off = 0;
  for (int i = 0; i < TG_MAX_IOV; i++) {
    if ((__u32)i >= have_iov) break;
    __u32 room = want - off;
    __u64 seg_len = iovs[i].len;
    __u32 n = seg_len < room ? seg_len : room;
    if (n > TG_MAX_COPY) n = TG_MAX_COPY;
    if (n && bpf_probe_read_user(dst + (off & (TG_MAX_COPY - 1)), n, (void *)iovs[i].base)) return off;
    off += n;
    if (off >= want) return off;
  }
  if (cnt > TG_MAX_IOV) tg_count_drop(TG_DROP_IOV_LIMIT);
  return off;
}

/* Completes a flat buffer's copy: bytes [have, want) after the first `have` (have <= TG_PREFETCH). */
static __always_inline __u32 tg_copy_rest(const struct tg_stash *st, __u8 *dst, __u32 have, __u32 want) {
  if (want > TG_MAX_COPY) want = TG_MAX_COPY;
  if (have > TG_PREFETCH || have >= want) return have;
  __u32 n = want - have;
  if (n > TG_MAX_COPY) n = TG_MAX_COPY;
  if (bpf_probe_read_user(dst + (have & (2 * TG_PREFETCH - 1)), n, (void *)(st->buf + have))) return have;
  return want;
}

struct tg_scan_ctx {
  struct tg_scratch *scr;
};

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

/* Fills the parts of an event header that are the same for every event of this syscall. */
static __always_inline void tg_fill_event(struct tg_data_event *ev, const struct tg_conn *conn,
                                          __u8 dir, __u64 id, __u64 sk, long ret) {
  ev->hdr.kind = TG_EVENT_DATA;
  ev->hdr.direction = dir;
  ev->hdr.flags = 0;
  ev->hdr.tgid = id >> 32;
  ev->hdr.tid = (__u32)id;
  ev->hdr._pad = 0;
  ev->hdr.conn_id = conn->conn_id;
  ev->hdr.ts_ns = bpf_ktime_get_ns();
  /* Plain loads through the BTF-typed task pointer: no helper call (comm is NUL-padded). */
  struct task_struct *leader = bpf_get_current_task_btf()->group_leader;
  __builtin_memcpy(ev->hdr.comm, leader->comm, sizeof(ev->hdr.comm));
  __builtin_memset(&ev->tuple, 0, sizeof(ev->tuple));
  tg_read_tuple(sk, &ev->tuple);
  ev->syscall_bytes = ret > 0xffffffffL ? 0xffffffffU : (__u32)ret;
}

/* Queues ev with `len` data bytes. No wake-up until a batch is waiting (see maps.h). */
static __always_inline int tg_output(struct tg_scratch *scr, struct tg_data_event *ev, __u32 len) {
  if (len > TG_MAX_COPY) len = TG_MAX_COPY;
  ev->data_len = len;
  /* The fill level is a helper call: look at it every 16th event of this CPU (at most 16 events
   * of 8 KiB past the threshold, far below the ring's size). */
  __u64 wake = BPF_RB_NO_WAKEUP;
  if ((++scr->outputs & 15) == 0 && bpf_ringbuf_query(&tg_events, BPF_RB_AVAIL_DATA) >= tg_wakeup_bytes)
    wake = BPF_RB_FORCE_WAKEUP;
  if (bpf_ringbuf_output(&tg_events, ev, sizeof(*ev) + len, wake)) {
    tg_count_drop(TG_DROP_RINGBUF_FULL);
    return -1;
  }
  return 0;
}

/* Sends the HTTP/2 event being assembled and starts the next. */
static __always_inline int tg_h2_flush(struct tg_scratch *scr) {
  struct tg_h2_walk *w = &scr->walk;
  struct tg_data_event *ev = (struct tg_data_event *)scr->raw;
  ev->hdr.flags = w->base_flags | (w->lost ? TG_DATA_LOST_BEFORE : 0) |
                  (w->announced ? 0 : TG_DATA_NEW_CONN);
  if (tg_output(scr, ev, w->out)) {
    w->lost = 1;
  } else {
    w->lost = 0;
    w->announced = 1;
  }
  w->out = 0;
  if (++w->flushes > TG_H2_MAX_FLUSHES) {
    w->failed = 1;
    return -1;
  }
  return 0;
}

static __always_inline void tg_h2_consume(struct tg_h2_walk *w, __u32 n) {
  w->seg += n;
  w->seg_left -= n;
  w->left -= n;
}

/* One step of the frame walk: a frame header (or part of one), or one run of payload bytes. */
static long tg_h2_step(__u32 index, struct tg_scan_ctx *ctx) {
  struct tg_scratch *scr = ctx->scr;
  struct tg_h2_walk *w = &scr->walk;
  __u8 *data = scr->raw + sizeof(struct tg_data_event);
  if (w->left == 0 || w->failed) return 1;
  if (w->seg_left == 0) {
    struct tg_user_iovec v;
    if (!w->iov || w->iov_next >= TG_H2_MAX_IOV ||
        bpf_probe_read_user(&v, sizeof(v), (void *)(w->iov + w->iov_next * sizeof(v)))) {
      w->failed = 1;
      return 1;
    }
    w->iov_next++;
    w->seg = v.base;
    w->seg_left = v.len;
    return 0;
  }
  __u32 avail = w->seg_left < w->left ? w->seg_left : w->left;
  if (w->skip) {
    __u32 n = w->skip < avail ? w->skip : avail;
    tg_h2_consume(w, n);
    w->skip -= n;
    return 0;
  }
  if (w->remaining) {
    __u32 n = w->remaining < avail ? w->remaining : avail;
    if (w->copy) {
      if (w->out >= TG_MAX_COPY && tg_h2_flush(scr)) return 1;
      __u32 room = TG_MAX_COPY - w->out;
      if (n > room) n = room;
      if (n > TG_MAX_COPY) n = TG_MAX_COPY;
      if (bpf_probe_read_user(data + (w->out & (TG_MAX_COPY - 1)), n, (void *)w->seg)) {
        w->failed = 1;
        return 1;
      }
      w->out += n;
    }
    tg_h2_consume(w, n);
    w->remaining -= n;
    return 0;
  }
  __u32 have = w->hdr_have;
  if (have >= TG_H2_FRAME_HEADER_LEN) have = 0;
  __u32 n = TG_H2_FRAME_HEADER_LEN - have;
  if (n > avail) n = avail;
  if (n > TG_H2_FRAME_HEADER_LEN) n = TG_H2_FRAME_HEADER_LEN;
  if (bpf_probe_read_user(w->hdr + have, n, (void *)w->seg)) {
    w->failed = 1;
    return 1;
  }
  tg_h2_consume(w, n);
  w->hdr_have = have + n;
  if (w->hdr_have < TG_H2_FRAME_HEADER_LEN) return 0;
  if (w->out + TG_H2_FRAME_HEADER_LEN > TG_MAX_COPY && tg_h2_flush(scr)) return 1;
  __builtin_memcpy(data + (w->out & (TG_MAX_COPY - 1)), w->hdr, TG_H2_FRAME_HEADER_LEN);
  w->out += TG_H2_FRAME_HEADER_LEN;
  w->remaining = tg_h2_len(w->hdr);
  w->copy = TG_H2_PAYLOAD_COPIED(w->hdr[3]);
  w->hdr_have = 0;
  return 0;
}

/* Follows this syscall's HTTP/2 frames from byte `skip` on and emits the frame records. */
static __always_inline void tg_h2_walk(struct tg_scratch *scr, struct tg_conn *conn, __u8 dir,
                                       const struct tg_stash *st, long ret, __u32 skip) {
  struct tg_h2_walk *w = &scr->walk;
  struct tg_h2_dir *h = &conn->h2[dir & 1];
  __u64 seg, seg_len, iov;
  if (tg_first_segment(st->shape, st->buf, &seg, &seg_len, &iov)) {
    tg_count_drop(TG_DROP_READ_USER);
    return;
  }
  w->seg = seg;
  w->seg_left = seg_len;
  w->iov = iov;
  w->iov_next = 1;
  w->left = ret > 0x7fffffffL ? 0x7fffffff : (__u32)ret;
  w->skip = skip;
  w->out = 0;
  w->flushes = 0;
  w->remaining = h->remaining;
  w->copy = h->copy;
  w->hdr_have = h->hdr_have;
  __builtin_memcpy(w->hdr, h->hdr, sizeof(h->hdr));
  w->failed = 0;
  w->lost = conn->dir[dir & 1].lost;
  w->announced = conn->announced;
  w->base_flags = TG_DATA_HTTP2 | (h->from_start ? TG_DATA_H2_FROM_START : 0);
  struct tg_scan_ctx ctx = {.scr = scr};
  bpf_loop(TG_H2_MAX_STEPS, tg_h2_step, &ctx, 0);
  if (w->left > 0 && !w->failed) w->failed = 1; /* ran out of steps */
  if (w->out > 0) tg_h2_flush(scr);
  conn->announced = w->announced;
  if (w->failed) {
    /* Frame boundaries are lost: stop following; the daemon learns it from LOST_BEFORE. */
    h->active = 0;
    h->remaining = 0;
    h->hdr_have = 0;
    conn->dir[dir & 1].lost = 1;
    return;
  }
  conn->dir[dir & 1].lost = w->lost;
  h->remaining = w->remaining;
  h->copy = w->copy;
  h->hdr_have = w->hdr_have;
  __builtin_memcpy(h->hdr, w->hdr, sizeof(h->hdr));
}

static __always_inline void tg_h2_begin(struct tg_conn *conn, __u8 dir, __u8 from_start) {
  struct tg_h2_dir *h = &conn->h2[dir & 1];
  h->active = 1;
  h->from_start = from_start;
  h->remaining = 0;
  h->copy = 0;
  h->hdr_have = 0;
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
  __u32 got = have >= want   ? want
              : have > 0     ? tg_copy_rest(st, data, have, want)
                             : tg_copy(st, data, want, scr->iovs);
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

static __always_inline int tg_exit(long ret) {
  __u64 id = bpf_get_current_pid_tgid();
  struct tg_stash *stp = bpf_task_storage_get(&tg_stash_map, bpf_get_current_task_btf(), 0, 0);
  if (!stp || !stp->armed) return 0;
  stp->armed = 0;
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
        if (n == 0 || bpf_probe_read_user(b, n & (2 * TG_PREFETCH - 1), (void *)st.buf)) return 0;
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
  tg_fill_event((struct tg_data_event *)scr->raw, conn, dir, id, st.sk, ret);

  __u32 skip = 0;
  if (start == TG_START_H2_PREFACE) {
    /* The preface starts HTTP/2 in both directions of this socket. */
    tg_h2_begin(conn, dir, 1);
    if (!conn->h2[dir ^ 1].active) tg_h2_begin(conn, dir ^ 1, 1);
    skip = TG_H2_PREFACE_LEN;
  } else if (start == TG_START_H2 || start == TG_START_H2_UNSYNCED) {
    tg_h2_begin(conn, dir, start == TG_START_H2);
  } else if (!conn->h2[dir].active) {
    skip = tg_http1(scr, conn, dir, &st, ret, have);
    if (skip == 0) {
      conn->seen[dir] = 1;
      return 0;
    }
    tg_h2_begin(conn, dir, 1); /* after "101 Switching Protocols" */
  }
  conn->seen[dir] = 1;
  tg_h2_walk(scr, conn, dir, &st, ret, skip);
  return 0;
}

#endif /* TRACEGAP_BPF_CAPTURE_H */
