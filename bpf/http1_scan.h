/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Which bytes of a send/recv are HTTP/1 header bytes.
 *
 * A header block starts at a request line (a known method and a space) or a status line
 * ("HTTP/1.") at the start of a syscall buffer, or right after the end of a previous block in the
 * same buffer (pipelining), and ends at CRLFCRLF, possibly several syscalls later. Everything else
 * (bodies, other protocols) is never copied out of the kernel. The daemon validates everything
 * again: this is a cheap filter, not a parser.
 */
#ifndef TRACEGAP_BPF_HTTP1_SCAN_H
#define TRACEGAP_BPF_HTTP1_SCAN_H

#ifdef __bpf__
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#else
/* Built into user space too, for tests/unit/http1_scan_test.cc: only plain integer code here. */
#include <linux/types.h>
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#endif
#include "bounds.h"
#include "tracegap.h"

#define TG_W4(a, b, c, d) ((__u64)(a) | (__u64)(b) << 8 | (__u64)(c) << 16 | (__u64)(d) << 24)
#define TG_W8(a, b, c, d, e, f, g, h) (TG_W4(a, b, c, d) | TG_W4(e, f, g, h) << 32)

/* Low `n` bytes of a little-endian word. */
static __always_inline __u64 tg_low_bytes(__u32 n) {
  return n >= 8 ? ~0ULL : ((1ULL << (n * 8)) - 1);
}

/* The same for 1 <= n <= 8, without a branch (a branch is a path more for the verifier). */
static __always_inline __u64 tg_low_bytes_1to8(__u32 n) { return ~0ULL >> ((64 - n * 8) & 63); }

/* Does the buffer whose first (up to 8) bytes are `word`, `avail` of them valid, start like an
 * HTTP/1 message? With fewer than a token's bytes available (a client writing byte by byte), a
 * prefix of the token is enough: the daemon sees the whole line once it is complete. */
static __always_inline int tg_is_message_start(__u64 word, __u32 avail) {
  if (avail == 0) return 0;
  /* The bytes to compare for a token of `len` bytes: min(avail, len) low bytes, which is the AND
   * of the two masks: computed once, not per token. */
  __u64 have = tg_low_bytes_1to8(avail < 8 ? avail : 8);
#define TG_TOKEN(w, len) \
  if (((word ^ (w)) & have & tg_low_bytes(len)) == 0) return 1;
  TG_TOKEN(TG_W8('G', 'E', 'T', ' ', 0, 0, 0, 0), 4);
  TG_TOKEN(TG_W8('P', 'O', 'S', 'T', ' ', 0, 0, 0), 5);
  TG_TOKEN(TG_W8('P', 'U', 'T', ' ', 0, 0, 0, 0), 4);
  TG_TOKEN(TG_W8('H', 'T', 'T', 'P', '/', '1', '.', 0), 7);
  TG_TOKEN(TG_W8('H', 'E', 'A', 'D', ' ', 0, 0, 0), 5);
  TG_TOKEN(TG_W8('D', 'E', 'L', 'E', 'T', 'E', ' ', 0), 7);
  TG_TOKEN(TG_W8('P', 'A', 'T', 'C', 'H', ' ', 0, 0), 6);
  TG_TOKEN(TG_W8('O', 'P', 'T', 'I', 'O', 'N', 'S', ' '), 8);
  TG_TOKEN(TG_W8('C', 'O', 'N', 'N', 'E', 'C', 'T', ' '), 8);
  TG_TOKEN(TG_W8('T', 'R', 'A', 'C', 'E', ' ', 0, 0), 6);
#undef TG_TOKEN
  return 0;
}

/* Unaligned little-endian loads: plain loads in BPF (the JITs allow them), memcpy in C. */
#ifdef __bpf__
#define tg_load64(p) (*(const __u64 *)(p))
#define tg_load32(p) (*(const __u32 *)(p))
#else
#include <string.h>
static inline __u64 tg_load64(const __u8 *p) {
  __u64 v;
  memcpy(&v, p, sizeof(v));
  return v;
}
static inline __u32 tg_load32(const __u8 *p) {
  __u32 v;
  memcpy(&v, p, sizeof(v));
  return v;
}
#endif

#define TG_BYTES_01 0x0101010101010101ULL
#define TG_BYTES_7F 0x7f7f7f7f7f7f7f7fULL
#define TG_BYTES_80 0x8080808080808080ULL

/* The high bit of each byte of `word` that equals `c`, and no other bit (exact: no false
 * positives, unlike the classic has-zero-byte test). */
static __always_inline __u64 tg_eq_bytes(__u64 word, __u8 c) {
  __u64 x = word ^ (TG_BYTES_01 * c);
  return ~(((x & TG_BYTES_7F) + TG_BYTES_7F) | x) & TG_BYTES_80;
}

/* Index (0..7) of the lowest byte whose high bit is set in `m` (m != 0). */
static __always_inline __u32 tg_first_byte(__u64 m) {
  __u64 low = m & (~m + 1);
  return ((low >> 7) * 0x0001020304050607ULL) >> 56;
}

/* The CR and LF masks of the bytes just before a word, rebuilt from `match` (how many bytes of
 * "\r\n\r\n" the stream's tail matched): exactly what a CRLFCRLF spanning the boundary needs. */
static __always_inline void tg_tail_masks(__u8 match, __u64 *cr, __u64 *lf) {
  /* Without branches: match 1 = "\r", 2 = "\r\n", 3 = "\r\n\r" (the last byte at bit 63). */
  __u64 m = match & 3;
  __u64 is1 = m & ~(m >> 1) & 1, is2 = (m >> 1) & ~m & 1, is3 = m & (m >> 1) & 1;
  *cr = (is1 | is3) << 63 | is2 << 55 | is3 << 47;
  *lf = is2 << 63 | is3 << 55;
}

/* How a header block can end HTTP/1 on its connection: the bytes after it are not HTTP/1. */
enum tg_switch {
  TG_SWITCH_NONE = 0,
  TG_SWITCH_UPGRADE = 1, /* a 101 Switching Protocols response (h2c, WebSocket, ...) */
  TG_SWITCH_TUNNEL = 2,  /* a 2xx response to CONNECT */
};

/* State of one scan over the copied bytes, advanced by tg_scan_step under bpf_loop.
 *
 * It lives in per-CPU map memory, not on the stack, on purpose: the verifier does not track
 * values loaded from map memory, so every iteration of the callback looks alike to it and
 * verification converges after a few passes. On the stack, `pos` would be a known constant per
 * iteration and the verifier would walk all TG_MAX_COPY iterations (and hit its 1M limit). */
struct tg_scan {
  __u32 len;         /* bytes copied */
  __u32 pos;         /* next byte to look at */
  __u32 emit;        /* bytes [0, emit) are header bytes to send to the daemon */
  __u32 block_bytes; /* bytes of the current header block, including earlier syscalls */
  __u32 max_block;   /* --max-header-bytes */
  __u8 in_headers;
  __u8 match;
  __u8 truncated;
  __u8 status;   /* the current block is a response: its status's first digit ('1'..'9'); else 0 */
  __u8 upgrade;  /* the current block is a "HTTP/1.1 101" response */
  __u8 connect;  /* a CONNECT request awaits its response (carried across calls by the caller) */
  __u8 switched; /* enum tg_switch: a block ended the connection's HTTP/1; `emit` is where */
  __u8 _pad;
};

/* Looks at the next (up to) 8 bytes of `data`. Returns 1 to stop the loop. The word is tested
 * for CRLFCRLF all at once, with byte masks (no loop over its bytes): that keeps each word to a
 * few dozen instructions without data-dependent loops, so that the verifier can check several
 * words per bpf_loop step. `data` must have TG_MAX_COPY + 8 readable bytes. */
static __always_inline long tg_scan_word(struct tg_scan *s, __u8 *data) {
  __u32 pos = s->pos;
  if (pos >= s->len || pos >= TG_MAX_COPY) return 1;
  __u64 word = tg_load64(data + TG_MASK(pos, TG_MAX_COPY - 1));
  __u32 avail = s->len - pos;
  if (!s->in_headers) {
    if (!tg_is_message_start(word, avail)) return 1; /* a body or something else: stop */
    s->in_headers = 1;
    s->match = 0;
    s->block_bytes = 0;
    /* "HTTP/1.1 101": the protocol switches once this block ends. A "HTTP/1.x 2.." block ends
     * HTTP/1 too when it answers a CONNECT (the connection becomes a tunnel). */
    __u32 next = tg_load32(data + TG_MASK(pos + 8, TG_MAX_COPY - 1));
    int response = avail >= 10 &&
                   (word & 0xffffffffffffffULL) == TG_W8('H', 'T', 'T', 'P', '/', '1', '.', 0) &&
                   (next & 0xff) == ' ';
    s->status = response ? (__u8)(next >> 8) : 0;
    s->upgrade = avail >= 12 && word == TG_W8('H', 'T', 'T', 'P', '/', '1', '.', '1') &&
                 next == (__u32)TG_W4(' ', '1', '0', '1');
    if (avail >= 8 && word == TG_W8('C', 'O', 'N', 'N', 'E', 'C', 'T', ' ')) s->connect = 1;
  }
  __u32 n = avail < 8 ? avail : 8;
  __u64 valid = tg_low_bytes_1to8(n);
  __u64 lf = tg_eq_bytes(word, '\n') & valid;
  if (lf == 0 && n == 8) {
    /* Most words of a block (three in four on common requests) hold no LF: no CRLFCRLF can end
     * in them, and the new tail can only be a CR, the word's last byte. */
    s->match = (word >> 56) == '\r';
  } else {
    __u64 cr = tg_eq_bytes(word, '\r') & valid;
    __u64 pcr, plf;
    tg_tail_masks(s->match, &pcr, &plf);
    /* CRLFCRLF ends at byte k: LF at k, CR at k-1, LF at k-2, CR at k-3 (earlier bytes from the
     * tail before this word). */
    __u64 end = lf & (cr << 8 | pcr >> 56) & (lf << 16 | plf >> 48) & (cr << 24 | pcr >> 40);
    if (end) {
      __u32 used = tg_first_byte(end) + 1;
      pos += used;
      s->block_bytes += used;
      s->pos = pos;
      s->emit = pos;
      s->in_headers = 0;
      s->match = 0;
      if (s->upgrade) {
        s->switched = TG_SWITCH_UPGRADE;
        return 1;
      }
      if (s->connect && s->status == '2') {
        s->switched = TG_SWITCH_TUNNEL;
        return 1;
      }
      if (s->status > '1') s->connect = 0; /* CONNECT refused: HTTP/1 goes on */
      return 0;
    }
    /* No end here: how much of "\r\n\r\n" the new tail matches. Line the last valid byte up
     * with byte 7 (bringing in the earlier tail for a short word) and look at bytes 5..7. */
    __u64 tcr = cr, tlf = lf;
    if (n < 8) {
      tcr = cr << ((8 - n) * 8) | pcr >> (n * 8);
      tlf = lf << ((8 - n) * 8) | plf >> (n * 8);
    }
    /* Branch-free: "\r" at the end is 1, "\r\n" is 2, "\r\n\r" is 3 (which ends in "\r" too). */
    __u64 m1 = tcr >> 63, m2 = (tlf >> 63) & (tcr >> 55) & 1,
          m3 = m1 & (tlf >> 55) & (tcr >> 47) & 1;
    s->match = (__u8)(m1 + 2 * m2 + 2 * m3);
  }
  pos += n;
  s->block_bytes += n;
  s->pos = pos;
  s->emit = pos;
  if (s->block_bytes >= s->max_block) {
    s->truncated = 1;
    s->in_headers = 0;
    return 1;
  }
  return 0;
}

/* Words looked at per bpf_loop step. Each step is a call into the callback, and on CPUs whose
 * return-stack mitigation makes every `ret` expensive (AMD's SRSO "safe RET"), calls dominated
 * the scan when a step held one word: 8 words (64 bytes) per step takes a typical request's
 * header block in two or three steps (docs/BENCHMARKS.md). */
#define TG_SCAN_WORDS_PER_STEP 8

static __always_inline long tg_scan_words(struct tg_scan *s, __u8 *data) {
#ifdef __bpf__
#pragma unroll
#endif
  for (int i = 0; i < TG_SCAN_WORDS_PER_STEP; i++) {
    if (tg_scan_word(s, data)) return 1;
    /* Every word starts from the state in memory, not from values the compiler kept in registers:
     * the verifier then sees each word begin in the same state and prunes the paths of the one
     * before (without this, `pos` stays a precise register whose value differs on every path, and
     * the paths of the words multiply: 1M instructions, E2BIG, on some kernels). */
    asm volatile("" ::: "memory");
  }
  return 0;
}

#endif /* TRACEGAP_BPF_HTTP1_SCAN_H */
