/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * State for following a framed protocol (HTTP/2, AMQP 0-9-1, Kafka) across syscalls: per connection
 * and direction, where the kernel is in the frame stream (inside a frame header, up to 11 of its
 * bytes held; or inside a payload, `remaining` bytes to go, the first `copy_left` of them copied);
 * and, per call, the walk over the call's bytes (frame_walk.h). Plain data only: maps.h includes
 * it.
 */
#ifndef TRACEGAP_BPF_FRAME_STATE_H
#define TRACEGAP_BPF_FRAME_STATE_H

/* Which frames a direction carries. */
enum tg_frames {
  TG_FRAMES_NONE = 0,
  TG_FRAMES_HTTP2 = 1,
  TG_FRAMES_AMQP = 2,
  TG_FRAMES_KAFKA_REQUESTS = 3,
  TG_FRAMES_KAFKA_RESPONSES = 4,
  TG_FRAMES_NATS = 5, /* not frames: text lines (nats_walk.h), with the same payload handling */
};

/* Where a NATS direction is within a control line (nats_walk.h). */
enum tg_nats_line {
  TG_NATS_LINE_START = 0, /* at the start of a line */
  TG_NATS_LINE_COPY = 1,  /* inside a line that is copied */
  TG_NATS_LINE_SKIP = 2,  /* inside an INFO or CONNECT line, passed over */
};

/* The longest frame header of these protocols (a Kafka request's). */
#define TG_FRAME_MAX_HEADER_LEN 12

/* When an event fills up (TG_MAX_COPY bytes) it is sent and a new one started, up to
 * TG_FRAME_MAX_FLUSHES per call; past that the direction's bytes are lost (and the daemon told). */
#define TG_FRAME_MAX_FLUSHES 16
/* Upper bound of steps per call: a 64 KiB write of 9-byte frames is ~7300 frames. Past it the
 * rest of the call is not followed and the direction's sync is lost. */
#define TG_FRAME_MAX_STEPS 16384

struct tg_frame_dir {
  __u32 remaining; /* payload bytes of the current frame still to pass */
  __u32 copy_left; /* ...of which the first copy_left are copied */
  __u8 proto;      /* enum tg_frames; TG_FRAMES_NONE: not followed as frames */
  __u8 from_start; /* followed from its first frame (HTTP/2: HPACK state decodable) */
  __u8 hdr_have;   /* bytes of a frame header split across syscalls, held in hdr */
  __u8 line;       /* NATS: enum tg_nats_line */
  __u8 hdr[16];    /* NATS: the last 16 bytes of the current line, a ring (line_len says where) */
  __u32 line_len;  /* NATS: bytes of the current line so far */
  __u32 head;      /* NATS: the current line's first 4 bytes (its operation) */
};

/* Walk state for one call; in per-CPU map memory for the verifier's sake (see tg_scan). */
struct tg_frame_walk {
  __u64 seg;      /* user address of the next byte to walk */
  __u64 seg_left; /* bytes left in the current segment */
  __u64 iov;      /* user address of the iovec array; 0 for a flat buffer */
  __u32 iov_next; /* index of the next iovec to walk */
  __u32 left;     /* bytes of the call still to walk */
  __u32 skip;     /* bytes to pass over first (already handled as HTTP/1, or a protocol header) */
  __u32 out;      /* bytes in the event being assembled */
  __u32 flushes;
  __u32 remaining;  /* of the current frame's payload */
  __u32 copy_left;  /* of `remaining`, still to copy */
  __u8 proto;       /* enum tg_frames */
  __u8 hdr_len;     /* the protocol's frame header length */
  __u8 hdr_have;    /* bytes of the current frame header in hdr */
  __u8 failed;      /* sync lost: the direction stops being followed */
  __u8 lost;        /* an event could not be queued; the next one says so */
  __u8 announced;   /* an event of this connection went out */
  __u8 mid_record;  /* the event being assembled begins inside a record (TG_DATA_CONTINUATION) */
  __u8 line;        /* NATS: enum tg_nats_line */
  __u16 base_flags; /* tg_data_flags every event of this walk carries */
  __u32 line_len;   /* NATS: bytes of the current line so far */
  __u32 head;       /* NATS: the current line's first 4 bytes */
  __u8 hdr[32];     /* TG_FRAME_MAX_HEADER_LEN used at most; room for any offset the verifier
                     * cannot narrow */
};

#endif /* TRACEGAP_BPF_FRAME_STATE_H */
