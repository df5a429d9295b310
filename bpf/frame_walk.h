/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Following a syscall's HTTP/2 frames (the rules are in h2_follow.h): frame headers and
 * HEADERS/CONTINUATION/SETTINGS payloads are copied into frame records, DATA payloads are passed
 * over, and the position within a frame is carried to the connection's next syscall.
 */
#ifndef TRACEGAP_BPF_H2_WALK_H
#define TRACEGAP_BPF_H2_WALK_H

#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include "emit.h"
#include "h2_follow.h"
#include "maps.h"
#include "user_data.h"
#include "bounds.h"
#include "tracegap.h"

/* Sends the HTTP/2 event being assembled and starts the next. */
static __always_inline int tg_h2_flush(struct tg_scratch *scr) {
  struct tg_h2_walk *w = &scr->walk;
  struct tg_data_event *ev = (struct tg_data_event *)scr->raw;
  ev->hdr.flags =
      w->base_flags | (w->lost ? TG_DATA_LOST_BEFORE : 0) | (w->announced ? 0 : TG_DATA_NEW_CONN);
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
      if (bpf_probe_read_user(data + TG_MASK(w->out, TG_MAX_COPY - 1), TG_CLAMP(n, TG_MAX_COPY),
                              (void *)w->seg)) {
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
  if (bpf_probe_read_user(w->hdr + TG_CLAMP(have, TG_H2_FRAME_HEADER_LEN - 1),
                          TG_CLAMP(n, TG_H2_FRAME_HEADER_LEN), (void *)w->seg)) {
    w->failed = 1;
    return 1;
  }
  tg_h2_consume(w, n);
  w->hdr_have = have + n;
  if (w->hdr_have < TG_H2_FRAME_HEADER_LEN) return 0;
  if (w->out + TG_H2_FRAME_HEADER_LEN > TG_MAX_COPY && tg_h2_flush(scr)) return 1;
  __builtin_memcpy(data + TG_MASK(w->out, TG_MAX_COPY - 1), w->hdr, TG_H2_FRAME_HEADER_LEN);
  w->out += TG_H2_FRAME_HEADER_LEN;
  w->remaining = tg_h2_len(w->hdr);
  w->copy = TG_H2_PAYLOAD_COPIED(w->hdr[3]);
  w->hdr_have = 0;
  return 0;
}

/* Test-only (tg_test_refuse_http2 == 1): 2^30 paths, each with its own offset, which the verifier
 * must all walk: over its 1M-instruction budget (E2BIG) on every kernel. */
static __always_inline void tg_overcomplex(struct tg_scratch *scr) {
  __u32 x = 0;
#pragma unroll
  for (int i = 0; i < 30; i++) {
    if (scr->raw[i] > 7) {
      x += 1u << i;
      asm volatile("" : "+r"(x)); /* a real branch: no if-conversion into arithmetic */
    }
  }
  scr->raw[TG_MASK(x, TG_MAX_COPY - 1)] = 0;
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
  if (tg_test_refuse_http2 == 1) tg_overcomplex(scr);
  /* Test-only (tg_test_refuse_http2 == 2): an offset with no bound, which every verifier refuses
   * (EACCES), to test that the refusal is reported with its source line. */
  if (tg_test_refuse_http2 == 2) scr->raw[w->left] = 0;
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

#endif /* TRACEGAP_BPF_H2_WALK_H */
