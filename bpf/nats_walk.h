/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Following a NATS client connection's protocol (text control lines, some followed by a payload)
 * and copying only what the daemon needs: every control line but INFO and CONNECT (long, and
 * carrying no message), and the header block of HPUB and HMSG. Payloads never leave the kernel.
 * What is emitted is described in tracegap.h ("NATS records").
 *
 * A step reads the next (up to) 8 bytes of the current line and finds its LF with byte masks. The
 * line's first 4 bytes (its operation) and its last 16 bytes (a ring) are kept, across calls too;
 * at a PUB, HPUB, MSG or HMSG line's end, the payload's size (the last number on the line) and,
 * for HPUB and HMSG, the header block's size (the one before) are read back from the ring. The
 * payload, its trailing CRLF included, is then passed over like a frame's payload (walk_common.h),
 * its first min(header size, --max-header-bytes) bytes copied.
 */
#ifndef TRACEGAP_BPF_NATS_WALK_H
#define TRACEGAP_BPF_NATS_WALK_H

#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include "frame_state.h"
#include "http1_scan.h"
#include "maps.h"
#include "walk_common.h"
#include "bounds.h"
#include "tracegap.h"

/* A copied line longer than this, or any line longer than TG_NATS_MAX_SKIPPED_LINE (an INFO with
 * a long list of cluster URLs), loses sync: the direction stops being followed. */
#define TG_NATS_MAX_LINE 1024
#define TG_NATS_MAX_SKIPPED_LINE 65536

/* The server's first line ("INFO {") or the client's ("CONNECT {"): how a NATS connection
 * begins. */
static __always_inline int tg_nats_start(__u64 w0, const __u8 *b, __u32 avail) {
  if (avail >= 6 && (w0 & 0xffffffffffffULL) == TG_W8('I', 'N', 'F', 'O', ' ', '{', 0, 0)) return 1;
  return avail >= 9 && w0 == TG_W8('C', 'O', 'N', 'N', 'E', 'C', 'T', ' ') && b[8] == '{';
}

/* Which message operation a line's first 4 bytes name (any case): 1 PUB, 2 HPUB, 3 MSG, 4 HMSG,
 * else 0. */
static __always_inline int tg_nats_op(__u32 head) {
  __u32 up = head & ~0x20202020u; /* letters to upper case ("PUB " keeps its space as 0x00) */
  if (up == (__u32)TG_W4('P', 'U', 'B', 0)) return 1;
  if (up == (__u32)TG_W4('H', 'P', 'U', 'B')) return 2;
  if (up == (__u32)TG_W4('M', 'S', 'G', 0)) return 3;
  if (up == (__u32)TG_W4('H', 'M', 'S', 'G')) return 4;
  return 0;
}

/* The last 16 bytes of a line (frame_state.h: tg_frame_walk.hdr), as a type of known size for the
 * global function below. */
struct tg_nats_ring {
  __u8 b[16];
};

#define TG_NATS_NO_SIZES (~0ULL)

/* Reads the last number (and, with `two`, the one before it) of the line whose last bytes are in
 * ring `r`, ending at `end` (exclusive; the line ends "\r\n"). Returns last | before << 32, or
 * TG_NATS_NO_SIZES if they are not there (or longer than 9 digits, or not within the ring's 16
 * bytes). A global function: the verifier checks its loops once, on their own, instead of at
 * every state of the walk's step. */
__noinline __u64 tg_nats_sizes(const struct tg_nats_ring *r, __u32 end, __u32 two) {
  if (!r || r->b[(end - 1) & 15] != '\n' || r->b[(end - 2) & 15] != '\r') return TG_NATS_NO_SIZES;
  __u32 i = 3, digits = 0, blanks = 0;
  __u64 last = 0, before = 0, mult = 1;
  for (; i <= 16; i++) {
    __u8 c = r->b[(end - i) & 15];
    if (c < '0' || c > '9' || digits == 9) break;
    last += (c - '0') * mult;
    mult *= 10;
    digits++;
  }
  if (digits == 0) return TG_NATS_NO_SIZES;
  if (!two) return last;
  for (; i <= 16; i++) {
    __u8 c = r->b[(end - i) & 15];
    if (c != ' ' && c != '\t') break;
    blanks++;
  }
  mult = 1;
  digits = 0;
  for (; i <= 16; i++) {
    __u8 c = r->b[(end - i) & 15];
    if (c < '0' || c > '9' || digits == 9) break;
    before += (c - '0') * mult;
    mult *= 10;
    digits++;
  }
  if (blanks == 0 || digits == 0) return TG_NATS_NO_SIZES;
  return last | before << 32;
}

/* One step of a NATS walk: the next (up to) 8 bytes of a control line. */
static long tg_nats_step(__u32 index, struct tg_scan_ctx *ctx) {
  struct tg_scratch *scr = ctx->scr;
  struct tg_frame_walk *w = &scr->walk;
  __u8 *data = scr->raw + sizeof(struct tg_data_event);
  __u32 avail;
  long r = tg_walk_common(scr, &avail);
  if (r != TG_WALK_ON) return r == TG_WALK_STOP;
  __u32 n = avail < 8 ? avail : 8;
  __u64 word = 0;
  if (bpf_probe_read_user(&word, TG_CLAMP(n, 8), (void *)w->seg)) {
    w->failed = 1;
    return 1;
  }
  __u64 lf = tg_eq_bytes(word, '\n') & tg_low_bytes_1to8(n);
  __u32 take = lf ? tg_first_byte(lf) + 1 : n; /* this line's bytes in the word, LF included */
  if (w->line == TG_NATS_LINE_START) {
    __u8 c = (word & 0xff) | 0x20;
    w->line = c == 'i' || c == 'c' ? TG_NATS_LINE_SKIP : TG_NATS_LINE_COPY;
    w->line_len = 0;
    w->head = 0;
  }
  __u32 len = w->line_len;
  if (len < 4) w->head |= (__u32)(word << ((len & 3) * 8));
    /* The ring: the word's bytes at the line's position; bytes past `take` are overwritten by the
     * line's next bytes before they are ever read. */
#pragma unroll
  for (int i = 0; i < 8; i++) w->hdr[(len + i) & 15] = (__u8)(word >> (i * 8));
  if (w->line == TG_NATS_LINE_COPY) {
    if (len + take > TG_NATS_MAX_LINE) {
      w->failed = 1;
      return 1;
    }
    if (w->out + 8 > TG_MAX_COPY && tg_frame_flush(scr, len > 0)) return 1;
    *(__u64 *)(data + TG_MASK(w->out, TG_MAX_COPY - 1)) = word;
    w->out += take;
  } else if (len + take > TG_NATS_MAX_SKIPPED_LINE) {
    w->failed = 1;
    return 1;
  }
  tg_frame_consume(w, take);
  len += take;
  w->line_len = len;
  if (!lf) return 0;
  /* The line ended. */
  int op = w->line == TG_NATS_LINE_COPY ? tg_nats_op(w->head) : 0;
  w->line = TG_NATS_LINE_START;
  if (!op) return 0;
  int with_headers = op == 2 || op == 4;
  __u64 sizes = tg_nats_sizes((const struct tg_nats_ring *)w->hdr, len, with_headers);
  __u32 total = (__u32)sizes, hdr = (__u32)(sizes >> 32);
  if (sizes == TG_NATS_NO_SIZES || hdr > total) {
    w->failed = 1;
    return 1;
  }
  w->remaining = total + 2; /* the payload and its CRLF */
  w->copy_left = with_headers ? tg_min_cap(hdr) : 0;
  return 0;
}

#endif /* TRACEGAP_BPF_NATS_WALK_H */
