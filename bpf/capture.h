/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What every capture path does with the bytes of one call on a TCP socket, once it knows the call
 * (struct tg_stash) and what it returned: classify its first bytes (user_data.h), then either
 * follow HTTP/2 or AMQP frames (frame_walk.h) or find HTTP/1 header bytes (http1_scan.h), and
 * emit only those (emit.h). The syscall path (stash.h) calls it at sys_exit, the socket-layer path
 * (tracegap_sock.bpf.c) at the end of the socket's sendmsg/recvmsg.
 */
#ifndef TRACEGAP_BPF_CAPTURE_H
#define TRACEGAP_BPF_CAPTURE_H

#include "kernel_types.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include "conn_store.h"
#include "emit.h"
#include "frame_walk.h"
#include "h2_follow.h"
#include "http1_scan.h"
#include "maps.h"
#include "sock_lookup.h"
#include "bounds.h"
#include "tracegap.h"
#include "user_data.h"

/* How the data of a syscall begins, for a direction in no known state. */
enum tg_start {
  TG_START_NONE = 0,        /* nothing tracegap follows */
  TG_START_HTTP1 = 1,       /* a request or status line */
  TG_START_H2_PREFACE = 2,  /* the HTTP/2 client preface */
  TG_START_H2 = 3,          /* the first frame of this direction of a connection seen from birth */
  TG_START_H2_UNSYNCED = 4, /* a plausible frame on a connection joined late */
  TG_START_AMQP = 5,        /* the AMQP 0-9-1 protocol header */
  TG_START_KAFKA = 6,       /* a Kafka request, first on a connection seen from birth */
  TG_START_NATS = 7,        /* a NATS server's INFO or a client's CONNECT line */
};

/* A Kafka request as a connection's first bytes: a request header whose size fits the call, of
 * an API a client opens a connection with (ApiVersions; or, when it knows the broker's versions
 * already, as kafkajs does on its second connection: Produce, Fetch, Metadata, FindCoordinator,
 * SaslHandshake), a version below 16, a non-negative correlation id and a client id that fits.
 * Metadata v0 is left out: a PostgreSQL startup message has that shape. */
static __always_inline int tg_kafka_first_request(const __u8 *b, __u32 avail, __u64 total) {
  if (avail < 14) return 0;
  __u32 size = (__u32)b[0] << 24 | (__u32)b[1] << 16 | (__u32)b[2] << 8 | b[3];
  if (size < 10 || size > (1 << 20) || (__u64)size + 4 > total) return 0;
  if (b[4] != 0 || b[6] != 0 || b[7] > 15 || (b[8] & 0x80)) return 0;
  __u8 key = b[5];
  if (key == 3 && b[7] == 0) return 0;
  if (key != TG_KAFKA_API_VERSIONS && key != TG_KAFKA_PRODUCE && key != 1 && key != 3 &&
      key != 10 && key != 17)
    return 0;
  __u32 client_id = (__u32)b[12] << 8 | b[13];
  return client_id == 0xffff || client_id <= size - 10;
}

/* `b` holds the first `avail` bytes (at most TG_PEEK) of a syscall moving `total` bytes. */
static __always_inline int tg_classify_start(const struct tg_conn *conn, __u8 dir, const __u8 *b,
                                             __u32 avail, __u64 total) {
  __u64 w0 = *(const __u64 *)b;
  if (!tg_follow_http2) return tg_is_message_start(w0, avail) ? TG_START_HTTP1 : TG_START_NONE;
  if (avail >= TG_AMQP_PROTOCOL_HEADER_LEN && w0 == TG_AMQP_PROTOCOL_W0) return TG_START_AMQP;
  if (tg_nats_start(w0, b, avail)) return TG_START_NATS; /* before HTTP's "CONNECT " */
  if (conn && (conn->upgrading & (1 << (dir & 1)))) {
    /* The first bytes after a 101: HTTP/2 for h2c (the client's preface, the server's SETTINGS);
     * anything else (WebSocket, TLS, ...) is TG_START_NONE, and ends capture (tg_capture). */
    if (avail >= TG_H2_PREFACE_LEN && w0 == TG_H2_PREFACE_W0 &&
        *(const __u64 *)(b + 8) == TG_H2_PREFACE_W1 && *(const __u64 *)(b + 16) == TG_H2_PREFACE_W2)
      return TG_START_H2_PREFACE;
    if (avail >= TG_H2_FRAME_HEADER_LEN && tg_h2_settings_first(b, total)) return TG_START_H2;
    return TG_START_NONE;
  }
  if (avail >= TG_H2_PREFACE_LEN && w0 == TG_H2_PREFACE_W0 &&
      *(const __u64 *)(b + 8) == TG_H2_PREFACE_W1 && *(const __u64 *)(b + 16) == TG_H2_PREFACE_W2)
    return TG_START_H2_PREFACE;
  if (tg_is_message_start(w0, avail)) return TG_START_HTTP1;
  if (avail < TG_H2_FRAME_HEADER_LEN) return TG_START_NONE;
  if (conn && conn->fresh) {
    /* Seen from birth: a direction's first data that is a SETTINGS frame starts HTTP/2 (a server
     * may send its SETTINGS before it has read the client's preface); an ApiVersions request
     * starts Kafka. */
    if (conn->seen[dir & 1]) return TG_START_NONE;
    if (tg_h2_settings_first(b, total)) return TG_START_H2;
    if (tg_kafka_first_request(b, avail, total)) return TG_START_KAFKA;
    return TG_START_NONE;
  }
  /* Joined late, and not HTTP/1 so far: frame boundaries still align with writes in practice. */
  if ((!conn || !conn->http1) && tg_h2_plausible_frame(b, total)) return TG_START_H2_UNSYNCED;
  return TG_START_NONE;
}

/* Directions (bits 1 << direction) of a connection to pass over from now on, given that the data
 * `b` of direction `dir` starts like nothing tracegap follows. Both directions once a TLS record
 * header starts a syscall on a connection that never carried HTTP/1 (nothing in TLS is readable
 * here). This direction, when these are its first bytes since the TCP handshake (a database, a
 * cache, a message broker), unless they could be a prelude after which HTTP still comes on the
 * same connection: a PROXY protocol header (v1 "PROXY ", v2 "\r\n\r\n\0\r\nQUIT\n") or a
 * SOCKS greeting (first byte 4 or 5). Such a connection costs two map lookups per syscall. */
static __always_inline __u8 tg_other_protocol(const struct tg_conn *conn, __u8 dir, const __u8 *b,
                                              __u32 avail) {
  if (avail < 5) return 0;
  __u64 w0 = *(const __u64 *)b;
  if (!conn->http1 && b[0] >= 0x14 && b[0] <= 0x17 && b[1] == 0x03 && b[2] <= 0x04) return 3;
  if (!conn->fresh || conn->seen[dir & 1]) return 0;
  if ((w0 & 0xffffffffffffULL) == TG_W8('P', 'R', 'O', 'X', 'Y', ' ', 0, 0)) return 0;
  if ((w0 & 0xffffffffULL) == TG_W4('\r', '\n', '\r', '\n')) return 0;
  if (b[0] == 4 || b[0] == 5) return 0;
  return 1 << (dir & 1);
}

static long tg_scan_step(__u32 index, struct tg_scan_ctx *ctx) {
  struct tg_scratch *scr = ctx->scr;
  return tg_scan_words(&scr->scan, scr->raw + sizeof(struct tg_data_event));
}

/* Finds and emits the HTTP/1 header bytes of this syscall. When a block ends HTTP/1 on the
 * connection (enum tg_switch), marks it: after a 101, each direction's next bytes say what
 * follows (conn->upgrading; tg_classify_start); a tunnel is passed over in both directions.
 * Returns the offset of the bytes that follow a 101 in this call, if any, else 0. */
static __always_inline __u32 tg_http1(struct tg_scratch *scr, struct tg_conn *conn, __u8 dir,
                                      const struct tg_stash *st, long ret, __u32 have) {
  struct tg_data_event *ev = (struct tg_data_event *)scr->raw;
  __u8 *data = scr->raw + sizeof(struct tg_data_event);
  struct tg_dir_state *ds = &conn->dir[dir & 1];
  __u32 want = (__u64)ret < tg_max_header_bytes ? (__u32)ret : tg_max_header_bytes;
  /* `have` bytes of a flat buffer are in scratch already (tg_exit's first read). */
  __u32 got = have >= want ? want
              : have > 0   ? tg_copy_rest(st, data, have, want)
                           : tg_copy(st, data, want, scr->iovs, &scr->copy_off);
  if (got == 0) {
    tg_count_drop(TG_DROP_READ_USER);
    return 0;
  }
  struct tg_scan *scan = &scr->scan;
  scan->len = got;
  scan->pos = 0;
  scan->emit = 0;
  scan->block_bytes = ds->block_bytes;
  scan->max_block = tg_max_header_bytes;
  scan->in_headers = ds->in_headers;
  scan->match = ds->crlf_match;
  scan->truncated = 0;
  scan->status = ds->in_headers ? ds->status : 0;
  scan->upgrade = ds->in_headers ? ds->upgrade : 0;
  scan->connect = conn->connect;
  scan->switched = TG_SWITCH_NONE;
  struct tg_scan_ctx ctx = {.scr = scr};
  bpf_loop(TG_MAX_COPY / (8 * TG_SCAN_WORDS_PER_STEP) + 1, tg_scan_step, &ctx, 0);
  /* Still inside a block at the end of what was copied, but the syscall moved more bytes than
   * that: the block's rest was not seen, so it can never be completed. */
  if (scan->in_headers && scan->pos >= scan->len && (__u64)ret > scan->len) {
    scan->truncated = 1;
    scan->in_headers = 0;
  }
  __u32 emit = scan->emit;
  if (emit > 0) {
    ev->hdr.flags = (ds->in_headers ? TG_DATA_CONTINUATION : 0) |
                    (scan->truncated ? TG_DATA_TRUNCATED : 0) |
                    (ds->lost ? TG_DATA_LOST_BEFORE : 0) | (conn->announced ? 0 : TG_DATA_NEW_CONN);
    if (tg_output(scr, ev, emit)) {
      ds->lost = 1;
    } else {
      ds->lost = 0;
      conn->announced = 1;
    }
  }
  conn->http1 = 1;
  conn->connect = scan->connect;
  ds->in_headers = scan->in_headers;
  ds->crlf_match = scan->in_headers ? scan->match : 0;
  ds->block_bytes = scan->in_headers ? scan->block_bytes : 0;
  ds->status = scan->in_headers ? scan->status : 0;
  ds->upgrade = scan->in_headers ? scan->upgrade : 0;
  if (scan->switched == TG_SWITCH_TUNNEL) {
    conn->other = 3;
  } else if (scan->switched == TG_SWITCH_UPGRADE) {
    conn->upgrading = 3;
    if ((__u64)ret > emit) return emit;
  }
  return 0;
}

/* tg_http1 as a global function: the verifier checks a global function once, on its own, from
 * its arguments' types, instead of once for every state its callers reach it in (the scan loop
 * inside was verified anew for each of the exit's copy paths). Its inputs are in scratch. */
__noinline int tg_http1_block(struct tg_scratch *scr, struct tg_conn *conn) {
  if (!scr || !conn) return 0;
  return tg_http1(scr, conn, scr->dir & 1, &scr->st, scr->ret, scr->have);
}

/* How the bytes of a call begin, for a direction in no known state (else TG_START_NONE, with
 * nothing to do: the caller follows the direction's state). TG_START_NONE with *passed set: the
 * bytes start like nothing tracegap follows, the connection is marked (conn->other) and the call
 * is done; *tls_hello is set when they are the first bytes of a connection seen from birth and a
 * TLS handshake record (a TLS session whose plaintext no probe reads: tls.h). `have` bytes of a
 * flat buffer are left in scratch for the copy. */
static __always_inline int tg_capture_classify(struct tg_scratch *scr, const struct tg_stash *st,
                                               long ret, struct tg_conn *conn, __u8 dir,
                                               __u32 *have, __u8 *passed, __u8 *tls_hello) {
  *have = 0;
  *passed = 0;
  *tls_hello = 0;
  if (conn && (conn->dir[dir].in_headers || conn->frames[dir].proto)) return TG_START_NONE;
  if (st->start == TG_START_HTTP1 && ret >= TG_PEEK) return TG_START_HTTP1;
  /* Classify before copying much: most TCP traffic is neither HTTP/1 nor HTTP/2. */
  __u8 *b;
  __u32 avail;
  if (st->shape == TG_SHAPE_FLAT) {
    __u32 n = (__u64)ret < tg_max_header_bytes ? (__u32)ret : tg_max_header_bytes;
    if (n > TG_PREFETCH) n = TG_PREFETCH;
    b = scr->raw + sizeof(struct tg_data_event);
    *passed = 1;
    if (n == 0 || bpf_probe_read_user(b, TG_CLAMP(n, TG_PREFETCH), (void *)st->buf))
      return TG_START_NONE;
    *have = n;
    avail = n < TG_PEEK ? n : TG_PEEK;
  } else {
    b = scr->peek;
    avail = tg_peek(st->shape, st->buf, ret, b);
  }
  int start = tg_classify_start(conn, dir, b, avail, ret);
  if (start != TG_START_NONE) {
    *passed = 0;
    return start;
  }
  *passed = 1;
  if (conn) {
    *tls_hello = conn->fresh && !conn->seen[dir] && avail >= 5 && b[0] == 0x16 && b[1] == 0x03;
    /* After a 101, bytes that are not HTTP/2 end capture on the connection. */
    conn->other |= conn->upgrading & (1 << dir) ? 3 : tg_other_protocol(conn, dir, b, avail);
    conn->seen[dir] = 1;
  }
  return TG_START_NONE;
}

/* Follows the bytes of one call on `conn` from their start `start` (TG_START_NONE: the direction's
 * state says what they are), with the event header filled but for the tuple's caller-specific
 * parts (tg_fill_event). */
static __always_inline void tg_capture_conn(struct tg_scratch *scr, const struct tg_stash *st,
                                            long ret, struct tg_conn *conn, __u8 dir, int start,
                                            __u32 have) {
  const __u8 announced = conn->announced;
  __u32 skip = 0;
  if (start == TG_START_H2_PREFACE) {
    /* The preface starts HTTP/2 in both directions of this socket. */
    tg_frames_begin(conn, dir, TG_FRAMES_HTTP2, 1);
    if (!conn->frames[dir ^ 1].proto) tg_frames_begin(conn, dir ^ 1, TG_FRAMES_HTTP2, 1);
    conn->upgrading = 0;
    skip = TG_H2_PREFACE_LEN;
  } else if (start == TG_START_H2 || start == TG_START_H2_UNSYNCED) {
    tg_frames_begin(conn, dir, TG_FRAMES_HTTP2, start == TG_START_H2);
    conn->upgrading &= ~(1 << dir);
  } else if (start == TG_START_AMQP) {
    /* The client's protocol header: both directions carry AMQP frames from here on. */
    tg_frames_begin(conn, dir, TG_FRAMES_AMQP, 1);
    tg_frames_begin(conn, dir ^ 1, TG_FRAMES_AMQP, 1);
    skip = TG_AMQP_PROTOCOL_HEADER_LEN;
  } else if (start == TG_START_NATS) {
    /* Both directions are NATS from this line on (the line itself is passed over). */
    tg_frames_begin(conn, dir, TG_FRAMES_NATS, 1);
    tg_frames_begin(conn, dir ^ 1, TG_FRAMES_NATS, 1);
  } else if (start == TG_START_KAFKA) {
    /* This direction carries the client's requests, the other the broker's responses. */
    tg_frames_begin(conn, dir, TG_FRAMES_KAFKA_REQUESTS, 1);
    tg_frames_begin(conn, dir ^ 1, TG_FRAMES_KAFKA_RESPONSES, 1);
  } else if (!conn->frames[dir].proto) {
    scr->st = *st;
    scr->ret = ret;
    scr->have = have;
    scr->dir = dir;
    skip = tg_http1_block(scr, conn);
    /* Bytes after a 101 in the same call: HTTP/2 frames if they begin with SETTINGS (h2c), else
     * the connection is no longer followed. */
    if (skip) {
      __u8 *rest = scr->raw + sizeof(struct tg_data_event) + TG_MASK(skip, TG_MAX_COPY - 1);
      if (tg_follow_http2 && skip + TG_H2_FRAME_HEADER_LEN <= scr->scan.len &&
          tg_h2_settings_first(rest, ret - skip)) {
        tg_frames_begin(conn, dir, TG_FRAMES_HTTP2, 1);
        conn->upgrading &= ~(1 << dir);
      } else {
        conn->other = 3;
      }
    }
  }
  conn->seen[dir] = 1;
  if (tg_follow_http2 && conn->frames[dir].proto) tg_frame_walk(scr, conn, dir, st, ret, skip);
  if (!announced && conn->announced) tg_conn_announced(conn);
}

/* Tells the daemon that `conn`, seen from birth, began with a TLS handshake outside every probed
 * TLS call (struct tg_data_event with no data, kind TG_EVENT_TLS_UNSEEN). */
static __always_inline void tg_tls_unseen(struct tg_scratch *scr, struct tg_conn *conn, __u8 dir,
                                          tg_sk_t sk, long ret) {
  struct tg_data_event *ev = (struct tg_data_event *)scr->raw;
  tg_fill_event(ev, conn, dir, bpf_get_current_pid_tgid(), ret);
  tg_read_tuple(sk, &ev->tuple);
  ev->hdr.kind = TG_EVENT_TLS_UNSEEN;
  tg_output(scr, ev, 0);
}

/* The bytes of one successful call (`ret` > 0) on TCP socket `sk`, described by `st`; `conn` is
 * the socket's state (tg_conn_find), null if it has none yet. The caller has passed over a
 * direction known to carry another protocol (conn->other), as early as its hook allows. */
static __always_inline int tg_capture(struct tg_stash st, long ret, tg_sk_t sk,
                                      struct tg_conn *conn) {
  __u8 dir = st.direction & 1;
  __u32 zero = 0;
  struct tg_scratch *scr = bpf_map_lookup_elem(&tg_scratch_map, &zero);
  if (!scr) return 0;
  __u32 have;
  __u8 passed, tls_hello;
  int start = tg_capture_classify(scr, &st, ret, conn, dir, &have, &passed, &tls_hello);
  if (passed) {
    if (tg_tls_enabled && tls_hello && conn) tg_tls_unseen(scr, conn, dir, sk, ret);
    return 0;
  }
  if (!conn) conn = tg_conn_get_or_create(sk, 0);
  if (!conn) return 0;
  struct tg_data_event *ev = (struct tg_data_event *)scr->raw;
  tg_fill_event(ev, conn, dir, bpf_get_current_pid_tgid(), ret);
  tg_read_tuple(sk, &ev->tuple);
  tg_capture_conn(scr, &st, ret, conn, dir, start, have);
  return 0;
}

#endif /* TRACEGAP_BPF_CAPTURE_H */
