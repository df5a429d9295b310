/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What every walk over a call's bytes does, whatever the protocol (frame_walk.h: length-prefixed
 * frames; nats_walk.h: NATS text lines): moving to the call's next iovec, copying or passing over
 * the payload bytes of the current record (`remaining`, the first `copy_left` of them copied), and
 * sending an event when it fills up. The protocol's step runs only when none of this applies.
 */
#ifndef TRACEGAP_BPF_WALK_COMMON_H
#define TRACEGAP_BPF_WALK_COMMON_H

#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include "emit.h"
#include "frame_state.h"
#include "maps.h"
#include "user_data.h"
#include "bounds.h"
#include "tracegap.h"

/* How much of a record's `len` payload bytes are copied when the rule is "a prefix". */
static __always_inline __u32 tg_min_cap(__u32 len) {
  return len < tg_max_header_bytes ? len : tg_max_header_bytes;
}

/* Sends the event being assembled and starts the next; `mid_record`: the next one begins inside a
 * record. */
static __always_inline int tg_frame_flush(struct tg_scratch *scr, __u8 mid_record) {
  struct tg_frame_walk *w = &scr->walk;
  struct tg_data_event *ev = (struct tg_data_event *)scr->raw;
  ev->hdr.flags = w->base_flags | (w->mid_record ? TG_DATA_CONTINUATION : 0) |
                  (w->lost ? TG_DATA_LOST_BEFORE : 0) | (w->announced ? 0 : TG_DATA_NEW_CONN);
  if (tg_output(scr, ev, w->out)) {
    w->lost = 1;
  } else {
    w->lost = 0;
    w->announced = 1;
  }
  w->out = 0;
  w->mid_record = mid_record;
  if (++w->flushes > TG_FRAME_MAX_FLUSHES) {
    w->failed = 1;
    return -1;
  }
  return 0;
}

static __always_inline void tg_frame_consume(struct tg_frame_walk *w, __u32 n) {
  w->seg += n;
  w->seg_left -= n;
  w->left -= n;
}

/* What tg_walk_common did. */
enum tg_walk_result {
  TG_WALK_ON = 0,   /* nothing: the protocol's step reads its next bytes (`*avail` of them here) */
  TG_WALK_DONE = 1, /* a step was taken: the loop goes on */
  TG_WALK_STOP = 2, /* the call is walked, or sync is lost: the loop stops */
};

/* The part of a walk step every protocol shares: the next iovec, and payload bytes. */
static __always_inline long tg_walk_common(struct tg_scratch *scr, __u32 *avail_out) {
  struct tg_frame_walk *w = &scr->walk;
  __u8 *data = scr->raw + sizeof(struct tg_data_event);
  if (w->left == 0 || w->failed) return TG_WALK_STOP;
  if (w->seg_left == 0) {
    struct tg_user_iovec v;
    if (!w->iov || w->iov_next >= TG_H2_MAX_IOV ||
        bpf_probe_read_user(&v, sizeof(v), (void *)(w->iov + w->iov_next * sizeof(v)))) {
      w->failed = 1;
      return TG_WALK_STOP;
    }
    w->iov_next++;
    w->seg = v.base;
    w->seg_left = v.len;
    return TG_WALK_DONE;
  }
  __u32 avail = w->seg_left < w->left ? w->seg_left : w->left;
  if (w->skip) {
    __u32 n = w->skip < avail ? w->skip : avail;
    tg_frame_consume(w, n);
    w->skip -= n;
    return TG_WALK_DONE;
  }
  if (w->remaining) {
    __u32 n = w->remaining < avail ? w->remaining : avail;
    if (w->copy_left) {
      if (w->out >= TG_MAX_COPY && tg_frame_flush(scr, 1)) return TG_WALK_STOP;
      __u32 room = TG_MAX_COPY - w->out;
      if (n > w->copy_left) n = w->copy_left;
      if (n > room) n = room;
      if (n > TG_MAX_COPY) n = TG_MAX_COPY;
      if (bpf_probe_read_user(data + TG_MASK(w->out, TG_MAX_COPY - 1), TG_CLAMP(n, TG_MAX_COPY),
                              (void *)w->seg)) {
        w->failed = 1;
        return TG_WALK_STOP;
      }
      w->out += n;
      w->copy_left -= n;
    }
    tg_frame_consume(w, n);
    w->remaining -= n;
    return TG_WALK_DONE;
  }
  *avail_out = avail;
  return TG_WALK_ON;
}

#endif /* TRACEGAP_BPF_WALK_COMMON_H */
