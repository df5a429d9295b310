/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Following a call's frames (HTTP/2, AMQP 0-9-1, Kafka) and copying only what the daemon needs.
 *
 * Each call is walked step by step under bpf_loop: a step reads one frame header (or the part of
 * it this call holds), or copies or passes over one run of payload bytes. Payloads that are not
 * copied (HTTP/2 DATA, AMQP bodies) are never read at all: passing over one costs a step however
 * large it is. The position within a frame is carried to the connection's next call
 * (struct tg_frame_dir). What is copied is each protocol's "frame records" (tracegap.h): every
 * frame header, then the first bytes of the payloads the protocol's rule keeps (tg_frame_rule).
 * A record that does not fit in the rest of an event starts the next event, so that events begin
 * at a record whenever a record fits in one; an event that begins inside a record says so
 * (TG_DATA_CONTINUATION), which lets the daemon resume at the next record after a loss.
 */
#ifndef TRACEGAP_BPF_FRAME_WALK_H
#define TRACEGAP_BPF_FRAME_WALK_H

#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include "emit.h"
#include "frame_state.h"
#include "h2_follow.h"
#include "maps.h"
#include "nats_walk.h"
#include "user_data.h"
#include "walk_common.h"
#include "bounds.h"
#include "tracegap.h"

/* The client's AMQP 0-9-1 protocol header, "AMQP\0\0\x09\x01", as a little-endian word. */
#define TG_AMQP_PROTOCOL_W0 TG_W8('A', 'M', 'Q', 'P', 0, 0, 9, 1)

static __always_inline __u8 tg_frame_header_len(__u8 proto) {
  switch (proto) {
    case TG_FRAMES_AMQP:
      return TG_AMQP_FRAME_HEADER_LEN;
    case TG_FRAMES_KAFKA_REQUESTS:
      return TG_KAFKA_REQUEST_HEADER_LEN;
    case TG_FRAMES_KAFKA_RESPONSES:
      return TG_KAFKA_RESPONSE_HEADER_LEN;
  }
  return TG_H2_FRAME_HEADER_LEN;
}

/* The tg_data_flags that say what an event of this direction carries. */
static __always_inline __u16 tg_frame_flags(const struct tg_frame_dir *f) {
  switch (f->proto) {
    case TG_FRAMES_AMQP:
      return TG_DATA_AMQP;
    case TG_FRAMES_KAFKA_REQUESTS:
      return TG_DATA_KAFKA | TG_DATA_KAFKA_REQUESTS;
    case TG_FRAMES_KAFKA_RESPONSES:
      return TG_DATA_KAFKA;
    case TG_FRAMES_NATS:
      return TG_DATA_NATS;
  }
  return TG_DATA_HTTP2 | (f->from_start ? TG_DATA_H2_FROM_START : 0);
}

static __always_inline __u32 tg_be32(const __u8 *p) {
  return (__u32)p[0] << 24 | (__u32)p[1] << 16 | (__u32)p[2] << 8 | p[3];
}

/* From a complete frame header: the payload bytes that follow it on the wire (*remaining), and how
 * many of them are copied (*copy). AMQP counts the frame-end octet as payload. */
static __always_inline void tg_frame_rule(__u8 proto, const __u8 *h, __u32 *remaining,
                                          __u32 *copy) {
  if (proto == TG_FRAMES_AMQP) {
    __u32 size = tg_be32(h + 3);
    /* A size near 2^32 is garbage; the walk then passes over the rest of the call. */
    __u32 len = size < 0x7fffffff ? size + 1 : 0x7fffffff;
    *remaining = len;
    *copy = TG_AMQP_PAYLOAD_COPIED(h[0]) ? tg_min_cap(len) : 0;
    return;
  }
  if (proto == TG_FRAMES_KAFKA_REQUESTS || proto == TG_FRAMES_KAFKA_RESPONSES) {
    /* The size counts the bytes after it, the rest of the header included; read as unsigned (a
     * negative size is huge: the rest of the call is passed over), a short one as no payload. */
    __u32 size = tg_be32(h);
    __u32 after = proto == TG_FRAMES_KAFKA_REQUESTS ? TG_KAFKA_REQUEST_HEADER_LEN - 4
                                                    : TG_KAFKA_RESPONSE_HEADER_LEN - 4;
    __u32 len = size >= after ? size - after : 0; /* as the daemon's RecordBodyLength */
    __u32 api_key = (__u32)h[4] << 8 | h[5];
    *remaining = len;
    *copy = proto == TG_FRAMES_KAFKA_RESPONSES || api_key == TG_KAFKA_PRODUCE ? tg_min_cap(len) : 0;
    return;
  }
  __u32 len = tg_h2_len(h);
  *remaining = len;
  *copy = TG_H2_PAYLOAD_COPIED(h[3]) ? len : 0;
}

/* One step of the walk: a frame header (or part of one), or one run of payload bytes. */
static long tg_frame_step(__u32 index, struct tg_scan_ctx *ctx) {
  struct tg_scratch *scr = ctx->scr;
  struct tg_frame_walk *w = &scr->walk;
  __u8 *data = scr->raw + sizeof(struct tg_data_event);
  __u32 avail;
  long r = tg_walk_common(scr, &avail);
  if (r != TG_WALK_ON) return r == TG_WALK_STOP;
  __u32 hdr_len = w->hdr_len;
  if (hdr_len > TG_FRAME_MAX_HEADER_LEN) hdr_len = TG_FRAME_MAX_HEADER_LEN;
  __u32 have = w->hdr_have;
  if (have >= hdr_len) have = 0;
  __u32 n = hdr_len - have;
  if (n > avail) n = avail;
  if (n > TG_FRAME_MAX_HEADER_LEN) n = TG_FRAME_MAX_HEADER_LEN;
  if (bpf_probe_read_user(w->hdr + TG_CLAMP(have, TG_FRAME_MAX_HEADER_LEN - 1),
                          TG_CLAMP(n, TG_FRAME_MAX_HEADER_LEN), (void *)w->seg)) {
    w->failed = 1;
    return 1;
  }
  tg_frame_consume(w, n);
  w->hdr_have = have + n;
  if (w->hdr_have < hdr_len) return 0;
  __u32 remaining, copy;
  tg_frame_rule(w->proto, w->hdr, &remaining, &copy);
  /* Start the record in a new event when the whole of it would not fit in this one. */
  if (w->out > 0 && w->out + hdr_len + copy > TG_MAX_COPY && tg_frame_flush(scr, 0)) return 1;
  __builtin_memcpy(data + TG_MASK(w->out, TG_MAX_COPY - 1), w->hdr, TG_FRAME_MAX_HEADER_LEN);
  w->out += hdr_len;
  w->remaining = remaining;
  w->copy_left = copy;
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

/* Follows this call's frames from byte `skip` on and emits the frame records. */
static __always_inline void tg_frame_walk(struct tg_scratch *scr, struct tg_conn *conn, __u8 dir,
                                          const struct tg_stash *st, long ret, __u32 skip) {
  struct tg_frame_walk *w = &scr->walk;
  struct tg_frame_dir *f = &conn->frames[dir & 1];
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
  w->proto = f->proto;
  w->hdr_len = tg_frame_header_len(f->proto);
  w->remaining = f->remaining;
  w->copy_left = f->copy_left;
  /* Inside a copied payload, or inside a copied NATS line. */
  w->mid_record = f->copy_left > 0 || f->line == TG_NATS_LINE_COPY;
  w->hdr_have = f->hdr_have;
  __builtin_memcpy(w->hdr, f->hdr, sizeof(f->hdr));
  w->line = f->line;
  w->line_len = f->line_len;
  w->head = f->head;
  w->failed = 0;
  w->lost = conn->dir[dir & 1].lost;
  w->announced = conn->announced;
  w->base_flags = tg_frame_flags(f);
  struct tg_scan_ctx ctx = {.scr = scr};
  if (tg_test_refuse_http2 == 1) tg_overcomplex(scr);
  /* Test-only (tg_test_refuse_http2 == 2): an offset with no bound, which every verifier refuses
   * (EACCES), to test that the refusal is reported with its source line. */
  if (tg_test_refuse_http2 == 2) scr->raw[w->left] = 0;
  if (f->proto == TG_FRAMES_NATS)
    bpf_loop(TG_FRAME_MAX_STEPS, tg_nats_step, &ctx, 0);
  else
    bpf_loop(TG_FRAME_MAX_STEPS, tg_frame_step, &ctx, 0);
  if (w->left > 0 && !w->failed) w->failed = 1; /* ran out of steps */
  if (w->out > 0) tg_frame_flush(scr, 0);
  conn->announced = w->announced;
  if (w->failed) {
    /* Frame boundaries are lost: stop following; the daemon learns it from LOST_BEFORE. An HTTP/2
     * direction may be found again (a plausible frame, unsynced); the others have no such marks. */
    if (f->proto != TG_FRAMES_HTTP2) conn->other |= 1 << (dir & 1);
    f->proto = TG_FRAMES_NONE;
    f->remaining = 0;
    f->copy_left = 0;
    f->hdr_have = 0;
    f->line = TG_NATS_LINE_START;
    conn->dir[dir & 1].lost = 1;
    return;
  }
  conn->dir[dir & 1].lost = w->lost;
  f->remaining = w->remaining;
  f->copy_left = w->copy_left;
  f->hdr_have = w->hdr_have;
  __builtin_memcpy(f->hdr, w->hdr, sizeof(f->hdr));
  f->line = w->line;
  f->line_len = w->line_len;
  f->head = w->head;
}

static __always_inline void tg_frames_begin(struct tg_conn *conn, __u8 dir, __u8 proto,
                                            __u8 from_start) {
  struct tg_frame_dir *f = &conn->frames[dir & 1];
  f->proto = proto;
  f->from_start = from_start;
  f->remaining = 0;
  f->copy_left = 0;
  f->hdr_have = 0;
  f->line = TG_NATS_LINE_START;
  f->line_len = 0;
  f->head = 0;
}

#endif /* TRACEGAP_BPF_FRAME_WALK_H */
