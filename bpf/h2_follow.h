/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Following HTTP/2 frames across syscalls, copying only what the daemon needs.
 *
 * Per connection and direction the kernel keeps where it is in the frame stream: inside a frame
 * header (up to 8 of its 9 bytes held), or inside a payload (`remaining` bytes to go, copied or
 * skipped). Each syscall is walked step by step under bpf_loop: a step reads one frame header, or
 * passes over (or copies) one run of payload bytes. DATA payloads are never read at all: passing
 * over them costs one step however large they are. What is copied out is described in tracegap.h
 * ("HTTP/2 frame records"): every frame header, plus the payload of the frame types
 * TG_H2_PAYLOAD_COPIED accepts.
 *
 * When an event fills up (TG_MAX_COPY bytes), it is sent and a new one started, up to
 * TG_H2_MAX_FLUSHES per syscall; past that the direction's bytes are lost (and the daemon told).
 */
#ifndef TRACEGAP_BPF_H2_FOLLOW_H
#define TRACEGAP_BPF_H2_FOLLOW_H

#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include "tracegap.h"

#define TG_H2_MAX_FLUSHES 16
/* Upper bound of steps per syscall: a 64 KiB write of 9-byte frames is ~7300 frames. Past it the
 * rest of the syscall is not followed and the direction's sync is lost. */
#define TG_H2_MAX_STEPS 16384

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

/* A non-ACK SETTINGS frame on stream 0: how every endpoint's side of a connection begins. */
static __always_inline int tg_h2_settings_first(const __u8 *h, __u64 total) {
  return h[3] == TG_H2_SETTINGS && h[4] == 0 && tg_h2_plausible_frame(h, total);
}

/* Walk state for one syscall; in per-CPU map memory for the verifier's sake (see tg_scan). */
struct tg_h2_walk {
  __u64 seg;      /* user address of the next byte to walk */
  __u64 seg_left; /* bytes left in the current segment */
  __u64 iov;      /* user address of the iovec array; 0 for a flat buffer */
  __u32 iov_next; /* index of the next iovec to walk */
  __u32 left;     /* bytes of the syscall still to walk */
  __u32 skip;     /* bytes to pass over first (already handled as HTTP/1) */
  __u32 out;      /* bytes in the event being assembled */
  __u32 flushes;
  __u32 remaining; /* of the current frame's payload */
  __u8 copy;       /* the current frame's payload is copied */
  __u8 hdr_have;   /* bytes of the current frame header in hdr */
  __u8 failed;     /* sync lost: the direction stops being followed */
  __u8 lost;       /* an event could not be queued; the next one says so */
  __u8 announced;  /* an event of this connection went out */
  __u8 _pad;
  __u16 base_flags; /* tg_data_flags every event of this walk carries */
  __u8 hdr[24];     /* 9 used; room for any offset the verifier cannot narrow */
};

#endif /* TRACEGAP_BPF_H2_FOLLOW_H */
