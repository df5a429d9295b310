/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Settings, maps and the kernel-side failure counters. Sizes are documented in docs/internals.md;
 * the daemon may resize tg_events and tg_conns (conn_store.h) before load. */
#ifndef TRACEGAP_BPF_MAPS_H
#define TRACEGAP_BPF_MAPS_H

#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include "frame_state.h"
#include "http1_scan.h"
#include "tracegap.h"

/* Set by the daemon between open and load. */
const volatile __u32 tg_self_tgid = 0; /* the daemon: its own traffic is ignored */
/* Set when the daemon runs in a pid namespace of its own (a container): tg_self_tgid is then the
 * tgid as that namespace sees it, and the namespace's nsfs device and inode identify it. */
const volatile __u64 tg_self_pidns_dev = 0;
const volatile __u64 tg_self_pidns_ino = 0;
const volatile __u32 tg_max_header_bytes = TG_DEFAULT_MAX_HEADER_BYTES; /* <= TG_MAX_COPY */
const volatile __u64 tg_wakeup_bytes = 256 * 1024; /* wake the reader once this much is queued */
/* 0: no framed protocol (HTTP/2, AMQP) is followed (the daemon's fallback variant when a kernel
 * rejects the programs with the frame walk). The verifier knows read-only values, so with 0 the
 * HTTP/2 code is never verified. */
const volatile __u8 tg_follow_http2 = 1;
/* 1: TLS plaintext is read through the uprobes of tls.h (--tls auto); 0: the TLS code is never
 * verified, and the capture hooks do not look for TLS calls in progress. */
const volatile __u8 tg_tls_enabled = 1;
/* Test-only (TRACEGAP_TEST_REFUSE_HTTP2 in the daemon's environment), to test the daemon's
 * fallback to HTTP/1 only and its diagnostics: 1 makes the HTTP/2 code too complex for any
 * verifier (E2BIG), 2 makes it read out of bounds (EACCES). */
const volatile __u8 tg_test_refuse_http2 = 0;
/* Test-only (TRACEGAP_TEST_REFUSE_TLS in the daemon's environment): 1 makes the OpenSSL return
 * program read out of bounds (EACCES), to test that a kernel refusing the TLS programs gets the
 * same capture without them, and says why. */
const volatile __u8 tg_test_refuse_tls = 0;

/* Header bytes and connection closes, to the daemon. Size: --ring-buffer-bytes. */
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 8 * 1024 * 1024);
} tg_events SEC(".maps");

/* What a capture program knows of the call that moved the bytes: the socket, and the user
 * memory the data is in (as the syscall took it). The syscall build saves it at sys_enter in the
 * thread's task storage for sys_exit (stash.h); the socket-layer build reads it from the
 * syscall's saved registers (syscall_args.h). */
struct tg_stash {
  __u64 sk;    /* struct sock * of the fd, resolved at enter */
  __u64 buf;   /* user buffer, iovec array or msghdr, as the syscall took it */
  __u32 count; /* iovcnt for readv/writev; unused otherwise */
  __u8 shape;  /* enum tg_buf_shape */
  __u8 direction;
  __u8 armed; /* set at sys_enter, cleared at sys_exit */
  __u8 start; /* enum tg_start of the data, when sys_enter already classified it (sends); else 0 */
  __u32 nr;   /* the syscall's number: checked at sys_exit */
  __u32 _pad;
};

enum tg_buf_shape {
  TG_SHAPE_FLAT = 0,   /* read, write, recvfrom, sendto */
  TG_SHAPE_IOVEC = 1,  /* readv, writev */
  TG_SHAPE_MSGHDR = 2, /* recvmsg, sendmsg */
};

/* Per-connection capture state (stored per socket: conn_store.h). Created when a connection is
 * established (so that HTTP/2 can be followed from its first frame) or first shows an HTTP message
 * start, removed when it reaches TCP_CLOSE. */
struct tg_dir_state {
  __u32 block_bytes; /* bytes of the current header block seen so far */
  __u8 in_headers;   /* inside a header block not yet ended by CRLFCRLF */
  __u8 crlf_match;   /* how many bytes of "\r\n\r\n" the block's tail has matched (0..3) */
  __u8 lost;         /* an event of this direction was lost; tell the daemon with the next one */
  /* The current block, when it spans calls: a response's first status digit, a 101 (the scan's
   * `status` and `upgrade`, carried to the call where the block ends). */
  __u8 status;
  __u8 upgrade;
  __u8 _pad[3];
};

struct tg_conn {
  __u64 conn_id;
  __u8 announced; /* an event carrying TG_DATA_NEW_CONN went out */
  __u8 fresh;     /* seen from its TCP handshake on: no byte of it was missed */
  __u8 seen[2];   /* data has passed in this direction (by enum tg_direction) */
  __u8 http1;     /* an HTTP/1 message has been seen on it */
  __u8 other;     /* bit (1 << direction): that direction carries another protocol; passed over */
  /* bits (1 << direction): a 101 response ended HTTP/1 here; the direction's next bytes say what
   * follows (HTTP/2 for h2c; anything else ends capture on the connection: capture.h) */
  __u8 upgrading;
  __u8 connect; /* a CONNECT request awaits its response: a 2xx makes the connection a tunnel */
  struct tg_dir_state dir[2];    /* HTTP/1 scan state, by enum tg_direction */
  struct tg_frame_dir frames[2]; /* HTTP/2 or AMQP frames, by enum tg_direction */
};

/* Kernel-side failures, per reason (enum tg_drop_reason). Exported as
 * tracegap_kernel_drops_total{reason}. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, TG_DROP_REASON_COUNT);
  __type(key, __u32);
  __type(value, __u64);
} tg_drops SEC(".maps");

/* Room to assemble one event: the header, then up to TG_MAX_COPY bytes of data, plus TG_MAX_COPY
 * of slack so that the verifier can bound a copy at any offset below TG_MAX_COPY. */
struct tg_scratch {
  __u32 outputs;  /* events this CPU sent: the ring buffer's fill level is checked every 16th */
  __u32 copy_off; /* running offset of a vectored copy (user_data.h: tg_copy) */
  __u8 peek[32];  /* the first bytes of a vectored call, to classify it */
  struct tg_user_iovec iovs[TG_MAX_IOV]; /* a vectored call's iovec array */
  struct tg_scan scan;
  struct tg_frame_walk walk;
  /* The arguments of tg_http1_block (capture.h), which the verifier checks on its own. */
  struct tg_stash st; /* the syscall's stash */
  __s64 ret;          /* what the syscall returned (> 0) */
  __u32 have;         /* bytes of a flat buffer already in raw's data */
  __u32 dir;          /* enum tg_direction */
  __u8 raw[sizeof(struct tg_data_event) + 2 * TG_MAX_COPY];
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct tg_scratch);
} tg_scratch_map SEC(".maps");

/* The context of the bpf_loop callbacks (the HTTP/1 scan, the frame walk): this CPU's scratch. */
struct tg_scan_ctx {
  struct tg_scratch *scr;
};

/* Connection ids: unique for the life of the loaded programs. */
__u64 tg_next_conn_id = 0;

static __always_inline int tg_is_self(__u64 pid_tgid) {
  if (!tg_self_pidns_ino) return (__u32)(pid_tgid >> 32) == tg_self_tgid;
  struct bpf_pidns_info ns;
  if (bpf_get_ns_current_pid_tgid(tg_self_pidns_dev, tg_self_pidns_ino, &ns, sizeof(ns))) return 0;
  return ns.tgid == tg_self_tgid;
}

/* Inserts `init` at `key` in the hash `map` of struct tg_conn, or takes the entry another CPU
 * inserted in between; null if neither can be had (the map is full). */
static __always_inline struct tg_conn *tg_conn_hash_insert(void *map, const __u64 *key,
                                                           const struct tg_conn *init) {
  if (bpf_map_update_elem(map, key, init, BPF_NOEXIST) && !bpf_map_lookup_elem(map, key)) return 0;
  return bpf_map_lookup_elem(map, key);
}

static __always_inline void tg_count_drop(__u32 reason) {
  __u64 *n = bpf_map_lookup_elem(&tg_drops, &reason);
  if (n) *n += 1;
}

#endif /* TRACEGAP_BPF_MAPS_H */
