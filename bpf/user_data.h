/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Reading what a syscall moved from the process's memory: the first bytes (to classify them), and
 * up to a bounded count of them into per-CPU scratch, from a flat buffer, an iovec array or a
 * msghdr. Every read is bounded by the count the syscall returned.
 */
#ifndef TRACEGAP_BPF_USER_DATA_H
#define TRACEGAP_BPF_USER_DATA_H

#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include "maps.h"
#include "bounds.h"
#include "tracegap.h"

#define TG_PEEK 24
/* A flat receive or send not classified yet has its first bytes (up to this many) copied into
 * scratch at once: one read serves the classification and, for a small header block, the copy. */
#define TG_PREFETCH 256

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
  if (n == 0 || bpf_probe_read_user(b, TG_CLAMP(n, TG_PEEK), (void *)seg)) return 0;
  return n;
}

/* Copies up to `want` bytes of the syscall's data into `dst`; returns the count copied.
 * `off_slot` is a word of map memory that holds the running offset of a vectored copy: each iovec
 * reloads it from there, so the verifier sees every iteration start alike (an offset carried in a
 * register is precise, differs on every path, and made the paths of the iterations multiply). */
static __always_inline __u32 tg_copy(const struct tg_stash *st, __u8 *dst, __u32 want,
                                     struct tg_user_iovec *iovs, volatile __u32 *off_slot) {
  if (want > TG_MAX_COPY) want = TG_MAX_COPY;
  if (st->shape == TG_SHAPE_FLAT) {
    if (bpf_probe_read_user(dst, TG_CLAMP(want, TG_MAX_COPY), (void *)st->buf)) return 0;
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
  if (bpf_probe_read_user(iovs, TG_CLAMP(have_iov, TG_MAX_IOV) * sizeof(struct tg_user_iovec),
                          (void *)iov))
    return 0;
  *off_slot = 0;
  for (int i = 0; i < TG_MAX_IOV; i++) {
    if ((__u32)i >= have_iov) break;
    __u32 off = *off_slot;
    if (off >= want) break;
    __u32 room = want - off;
    __u64 seg_len = iovs[i].len;
    __u32 n = seg_len < room ? seg_len : room;
    if (n > TG_MAX_COPY) n = TG_MAX_COPY;
    if (n && bpf_probe_read_user(dst + TG_MASK(off, TG_MAX_COPY - 1), TG_CLAMP(n, TG_MAX_COPY),
                                 (void *)iovs[i].base))
      break;
    *off_slot = off + n;
  }
  __u32 off = *off_slot;
  if (off < want && cnt > TG_MAX_IOV) tg_count_drop(TG_DROP_IOV_LIMIT);
  return off;
}

/* Completes a flat buffer's copy: bytes [have, want) after the first `have` (have <= TG_PREFETCH).
 */
static __always_inline __u32 tg_copy_rest(const struct tg_stash *st, __u8 *dst, __u32 have,
                                          __u32 want) {
  if (want > TG_MAX_COPY) want = TG_MAX_COPY;
  if (have > TG_PREFETCH || have >= want) return have;
  __u32 n = want - have;
  if (n > TG_MAX_COPY) n = TG_MAX_COPY;
  if (bpf_probe_read_user(dst + TG_MASK(have, 2 * TG_PREFETCH - 1), TG_CLAMP(n, TG_MAX_COPY),
                          (void *)(st->buf + have)))
    return have;
  return want;
}

#endif /* TRACEGAP_BPF_USER_DATA_H */
