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

#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include "tracegap.h"

#define TG_W4(a, b, c, d) ((__u64)(a) | (__u64)(b) << 8 | (__u64)(c) << 16 | (__u64)(d) << 24)
#define TG_W8(a, b, c, d, e, f, g, h) (TG_W4(a, b, c, d) | TG_W4(e, f, g, h) << 32)

/* Low `n` bytes of a little-endian word. */
static __always_inline __u64 tg_low_bytes(__u32 n) {
  return n >= 8 ? ~0ULL : ((1ULL << (n * 8)) - 1);
}

/* Does the buffer whose first (up to 8) bytes are `word`, `avail` of them valid, start like an
 * HTTP/1 message? With fewer than a token's bytes available (a client writing byte by byte), a
 * prefix of the token is enough: the daemon sees the whole line once it is complete. */
static __always_inline int tg_is_message_start(__u64 word, __u32 avail) {
  if (avail == 0) return 0;
#define TG_TOKEN(w, len)                                                        \
  if (((word ^ (w)) & tg_low_bytes(avail < (len) ? avail : (len))) == 0) return 1;
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

/* Non-zero if some byte of `word` equals '\n'. */
static __always_inline int tg_has_lf(__u64 word) {
  __u64 x = word ^ 0x0a0a0a0a0a0a0a0aULL;
  return ((x - 0x0101010101010101ULL) & ~x & 0x8080808080808080ULL) != 0;
}

/* One byte of the CRLFCRLF matcher: `match` counts the bytes of "\r\n\r\n" matched so far. */
static __always_inline __u8 tg_crlf_step(__u8 match, __u8 c) {
  __u8 expect = (match & 1) ? '\n' : '\r';
  if (c == expect) return match + 1;
  return c == '\r' ? 1 : 0;
}

/* State of one scan over the copied bytes, advanced by tg_scan_step under bpf_loop.
 *
 * It lives in per-CPU map memory, not on the stack, on purpose: the verifier does not track
 * values loaded from map memory, so every iteration of the callback looks alike to it and
 * verification converges after a few passes. On the stack, `pos` would be a known constant per
 * iteration and the verifier would walk all TG_MAX_COPY iterations (and hit its 1M limit). */
struct tg_scan {
  __u32 len;          /* bytes copied */
  __u32 pos;          /* next byte to look at */
  __u32 emit;         /* bytes [0, emit) are header bytes to send to the daemon */
  __u32 block_bytes;  /* bytes of the current header block, including earlier syscalls */
  __u32 max_block;    /* --max-header-bytes */
  __u8 in_headers;
  __u8 match;
  __u8 truncated;
  __u8 upgrade;       /* the current block is a "HTTP/1.1 101" response */
  __u8 switch_h2;     /* a 101 block ended: the rest of the bytes are HTTP/2 frames */
  __u8 _pad[3];
};

/* Looks at the next (up to) 8 bytes of `data`. Returns 1 to stop the loop. Header lines are
 * mostly longer than 8 bytes, so most words hold no LF and are passed over in one step.
 * `data` must have TG_MAX_COPY + 8 readable bytes. */
static __always_inline long tg_scan_word(struct tg_scan *s, __u8 *data) {
  __u32 pos = s->pos;
  if (pos >= s->len || pos >= TG_MAX_COPY) return 1;
  __u64 word = *(__u64 *)(data + (pos & (TG_MAX_COPY - 1)));
  __u32 avail = s->len - pos;
  if (!s->in_headers) {
    if (!tg_is_message_start(word, avail)) return 1; /* a body or something else: stop */
    s->in_headers = 1;
    s->match = 0;
    s->block_bytes = 0;
    /* "HTTP/1.1 101": the protocol switches (h2c) once this block ends. */
    __u32 next = *(__u32 *)(data + ((pos + 8) & (TG_MAX_COPY - 1)));
    s->upgrade = avail >= 12 && word == TG_W8('H', 'T', 'T', 'P', '/', '1', '.', '1') &&
                 next == (__u32)TG_W4(' ', '1', '0', '1');
  }
  __u32 n = avail < 8 ? avail : 8;
  if (n == 8 && !tg_has_lf(word)) {
    s->match = (word >> 56) == '\r' ? 1 : 0;
    pos += 8;
    s->block_bytes += 8;
  } else {
    __u8 match = s->match;
    for (int k = 0; k < 8; k++) {
      if ((__u32)k >= n) break;
      match = tg_crlf_step(match, (word >> (k * 8)) & 0xff);
      pos++;
      if (match == 4) {
        s->in_headers = 0;
        s->emit = pos;
        match = 0;
        break;
      }
    }
    s->block_bytes += pos - s->pos;
    s->match = match;
    if (!s->in_headers && s->upgrade) {
      s->pos = pos;
      s->switch_h2 = 1;
      return 1;
    }
  }
  s->pos = pos;
  if (s->in_headers) {
    s->emit = pos;
    if (s->block_bytes >= s->max_block) {
      s->truncated = 1;
      s->in_headers = 0;
      return 1;
    }
  }
  return 0;
}

#endif /* TRACEGAP_BPF_HTTP1_SCAN_H */
