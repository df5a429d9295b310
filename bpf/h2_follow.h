/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Recognising HTTP/2: the client preface, and frames that can begin a direction's bytes (from a
 * connection's birth, after a 101, or on a connection joined late). Following the frames is
 * frame_walk.h's work; what is copied out is described in tracegap.h ("HTTP/2 frame records").
 */
#ifndef TRACEGAP_BPF_H2_FOLLOW_H
#define TRACEGAP_BPF_H2_FOLLOW_H

#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include "tracegap.h"

/* The client connection preface, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", in three little-endian words.
 */
#define TG_H2_PREFACE_W0 TG_W8('P', 'R', 'I', ' ', '*', ' ', 'H', 'T')
#define TG_H2_PREFACE_W1 TG_W8('T', 'P', '/', '2', '.', '0', '\r', '\n')
#define TG_H2_PREFACE_W2 TG_W8('\r', '\n', 'S', 'M', '\r', '\n', '\r', '\n')

/* Frame header fields from its first bytes (the 24-bit length is big-endian). */
static __always_inline __u32 tg_h2_len(const __u8 *h) {
  return ((__u32)h[0] << 16) | ((__u32)h[1] << 8) | h[2];
}

/* Could these 9 bytes start an HTTP/2 frame, in a syscall moving `total` bytes, on a connection
 * joined late? Only frame types that begin writes in practice, a length within the default
 * SETTINGS_MAX_FRAME_SIZE that fits in the syscall, the reserved bit clear, and stream 0 exactly
 * for connection-level frames. */
static __always_inline int tg_h2_plausible_frame(const __u8 *h, __u64 total) {
  __u32 len = tg_h2_len(h);
  __u8 type = h[3], flags = h[4];
  if (len > 16384 || len + TG_H2_FRAME_HEADER_LEN > total || (h[5] & 0x80)) return 0;
  int stream0 = h[5] == 0 && h[6] == 0 && h[7] == 0 && h[8] == 0;
  switch (type) {
    case TG_H2_DATA:
      return !stream0 && (flags & ~0x09) == 0;
    case TG_H2_HEADERS:
      return !stream0 && (flags & ~0x2d) == 0;
    case TG_H2_RST_STREAM:
      return !stream0 && len == 4;
    case TG_H2_SETTINGS:
      return stream0 && (flags & ~0x01) == 0 && len % 6 == 0;
    case TG_H2_PING:
      return stream0 && (flags & ~0x01) == 0 && len == 8;
    case TG_H2_GOAWAY:
      return stream0 && len >= 8;
    case TG_H2_WINDOW_UPDATE:
      return len == 4;
  }
  return 0;
}

/* A non-ACK SETTINGS frame on stream 0 that fits in the `total` bytes of the call: how every
 * endpoint's side of an HTTP/2 connection begins. Written without the switch above: it is checked
 * on paths (after a 101) where every branch multiplies the verifier's work. */
static __always_inline int tg_h2_settings_first(const __u8 *h, __u64 total) {
  __u64 w0 = *(const __u64 *)h;
  __u32 len = tg_h2_len(h);
  /* type 4, flags 0, stream id 0 (bytes 3..8) */
  return (w0 >> 24) == TG_H2_SETTINGS && h[8] == 0 && len % 6 == 0 && len <= 16384 &&
         len + TG_H2_FRAME_HEADER_LEN <= total;
}

#endif /* TRACEGAP_BPF_H2_FOLLOW_H */
