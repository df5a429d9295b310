/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * TLS plaintext, read where a TLS library hands it over: uprobes on OpenSSL's (libssl.so.3,
 * libssl.so.1.1) SSL_write, SSL_write_ex, SSL_read and SSL_read_ex, at entry (the buffer) and at
 * return (how many bytes), and on SSL_do_handshake, SSL_connect and SSL_accept (where a session
 * first meets its socket). The daemon attaches them to each libssl file (daemon/capture/tls):
 * a uprobe on a file serves every process that maps it, whenever it started.
 *
 * The plaintext goes through the same code as a socket's bytes (capture.h: classification, HTTP/1
 * header scan, HTTP/2 and message-queue frame walks) with a capture state of its own per TLS
 * stream (tls_maps.h), and its events say TG_TRANSPORT_TLS. The socket's own bytes (ciphertext)
 * are passed over by the capture hooks: those moved inside a probed call at once (tg_tls_learn),
 * the others (a library not probed) by their TLS record header (capture.h: tg_other_protocol).
 */
#ifndef TRACEGAP_BPF_TLS_H
#define TRACEGAP_BPF_TLS_H

#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include "capture.h"
#include "conn_store.h"
#include "emit.h"
#include "maps.h"
#include "sock_lookup.h"
#include "tls_maps.h"
#include "tracegap.h"

/* A probed function's arguments and return value, by the platform's C calling convention. */
#if defined(__TARGET_ARCH_x86)
#define TG_UARG1(r) ((r)->di)
#define TG_UARG2(r) ((r)->si)
#define TG_UARG4(r) ((r)->cx)
#define TG_URET(r) ((r)->ax)
#elif defined(__TARGET_ARCH_arm64)
#define TG_UARG1(r) ((r)->regs[0])
#define TG_UARG2(r) ((r)->regs[1])
#define TG_UARG4(r) ((r)->regs[3])
#define TG_URET(r) ((r)->regs[0])
#endif

/* Called by the capture hooks for every successful call on TCP socket `sk`, before anything else:
 * whether the call is a probed TLS call's socket I/O (ciphertext: the caller passes over it). The
 * first time, it ties the session to the socket. */
static __always_inline int tg_tls_learn(tg_sk_t sk) {
  if (!tg_tls_enabled) return 0;
  __u64 id = bpf_get_current_pid_tgid();
  struct tg_tls_call *call = bpf_map_lookup_elem(&tg_tls_calls, &id);
  if (!call) return 0;
  struct tg_tls_key key = {.tgid = id >> 32, .ssl = call->ssl};
  const __u8 handshake = call->kind == TG_TLS_CALL_HANDSHAKE;
  struct tg_tls_sock *known = bpf_map_lookup_elem(&tg_tls_ssl, &key);
  if (known && known->sk == (__u64)sk) {
    if (handshake) known->handshake = 1;
    return 1;
  }
  struct tg_tls_sock where = {.sk = (__u64)sk, .handshake = handshake};
  tg_read_tuple(sk, &where.tuple);
  bpf_map_update_elem(&tg_tls_ssl, &key, &where, BPF_ANY);
  return 1;
}

static __always_inline int tg_tls_enter(struct pt_regs *ctx, __u8 kind, __u8 dir) {
  __u64 id = bpf_get_current_pid_tgid();
  if (tg_is_self(id)) return 0;
  if (kind == TG_TLS_CALL_HANDSHAKE) {
    /* A handshake run from inside SSL_read or SSL_write leaves that call's record alone. */
    struct tg_tls_call *outer = bpf_map_lookup_elem(&tg_tls_calls, &id);
    if (outer && outer->kind != TG_TLS_CALL_HANDSHAKE) return 0;
  }
  struct tg_tls_call call = {
      .ssl = TG_UARG1(ctx),
      .buf = TG_UARG2(ctx),
      .count_ptr = kind == TG_TLS_CALL_IO_EX ? TG_UARG4(ctx) : 0,
      .kind = kind,
      .direction = dir,
  };
  bpf_map_update_elem(&tg_tls_calls, &id, &call, BPF_ANY);
  return 0;
}

/* The plaintext stream's state for the session's socket, created on first use. */
static __always_inline struct tg_conn *tg_tls_conn(const struct tg_tls_sock *where) {
  __u64 key = where->sk;
  struct tg_conn *conn = bpf_map_lookup_elem(&tg_tls_conns, &key);
  if (conn) return conn;
  struct tg_conn init = {.conn_id = __sync_fetch_and_add(&tg_next_conn_id, 1) + 1,
                         .fresh = where->handshake};
  if (bpf_map_update_elem(&tg_tls_conns, &key, &init, BPF_NOEXIST) &&
      !bpf_map_lookup_elem(&tg_tls_conns, &key)) {
    tg_count_drop(TG_DROP_CONN_MAP_FULL);
    return 0;
  }
  return bpf_map_lookup_elem(&tg_tls_conns, &key);
}

static __always_inline int tg_tls_return(struct pt_regs *ctx) {
  __u64 id = bpf_get_current_pid_tgid();
  struct tg_tls_call *cp = bpf_map_lookup_elem(&tg_tls_calls, &id);
  if (!cp || cp->kind == TG_TLS_CALL_HANDSHAKE) return 0;
  struct tg_tls_call call = *cp;
  bpf_map_delete_elem(&tg_tls_calls, &id);
  /* int SSL_read(), SSL_write(): the count, or <= 0; int SSL_*_ex(): 1 and the count. */
  const int rc = (int)TG_URET(ctx);
  long n = rc;
  if (call.kind == TG_TLS_CALL_IO_EX) {
    __u64 count = 0;
    if (rc != 1 || bpf_probe_read_user(&count, sizeof(count), (void *)call.count_ptr)) return 0;
    n = count > 0x7fffffff ? 0x7fffffff : (long)count;
  }
  if (n <= 0) return 0;
  struct tg_tls_key key = {.tgid = id >> 32, .ssl = call.ssl};
  struct tg_tls_sock *where = bpf_map_lookup_elem(&tg_tls_ssl, &key);
  if (!where) {
    tg_count_drop(TG_DROP_TLS_UNMAPPED);
    return 0;
  }
  struct tg_conn *conn = tg_tls_conn(where);
  if (!conn) return 0;
  const __u8 dir = call.direction & 1;
  if (conn->other & (1 << dir)) return 0;
  __u32 zero = 0;
  struct tg_scratch *scr = bpf_map_lookup_elem(&tg_scratch_map, &zero);
  if (!scr) return 0;
  struct tg_stash st = {.buf = call.buf, .shape = TG_SHAPE_FLAT, .direction = dir};
  __u32 have;
  __u8 passed, tls_hello;
  int start = tg_capture_classify(scr, &st, n, conn, dir, &have, &passed, &tls_hello);
  if (passed) return 0;
  struct tg_data_event *ev = (struct tg_data_event *)scr->raw;
  tg_fill_event(ev, conn, dir, id, n);
  ev->hdr.transport = TG_TRANSPORT_TLS;
  __builtin_memcpy(&ev->tuple, &where->tuple, sizeof(ev->tuple));
  tg_capture_conn(scr, &st, n, conn, dir, start, have);
  return 0;
}

/* The end of a handshake call: its record goes (not that of an SSL_read it ran inside). */
static __always_inline int tg_tls_handshake_return(void) {
  __u64 id = bpf_get_current_pid_tgid();
  struct tg_tls_call *cp = bpf_map_lookup_elem(&tg_tls_calls, &id);
  if (cp && cp->kind == TG_TLS_CALL_HANDSHAKE) bpf_map_delete_elem(&tg_tls_calls, &id);
  return 0;
}

/* The programs, one per role; the daemon attaches each to the functions its name says. */
#define TG_TLS_PROGRAMS                                               \
  SEC("uprobe")                                                       \
  int tg_tls_write_enter(struct pt_regs *ctx) {                       \
    return tg_tls_enter(ctx, TG_TLS_CALL_IO, TG_DIR_EGRESS);          \
  }                                                                   \
  SEC("uprobe")                                                       \
  int tg_tls_read_enter(struct pt_regs *ctx) {                        \
    return tg_tls_enter(ctx, TG_TLS_CALL_IO, TG_DIR_INGRESS);         \
  }                                                                   \
  SEC("uprobe")                                                       \
  int tg_tls_write_ex_enter(struct pt_regs *ctx) {                    \
    return tg_tls_enter(ctx, TG_TLS_CALL_IO_EX, TG_DIR_EGRESS);       \
  }                                                                   \
  SEC("uprobe")                                                       \
  int tg_tls_read_ex_enter(struct pt_regs *ctx) {                     \
    return tg_tls_enter(ctx, TG_TLS_CALL_IO_EX, TG_DIR_INGRESS);      \
  }                                                                   \
  SEC("uprobe")                                                       \
  int tg_tls_handshake_enter(struct pt_regs *ctx) {                   \
    return tg_tls_enter(ctx, TG_TLS_CALL_HANDSHAKE, TG_DIR_EGRESS);   \
  }                                                                   \
  SEC("uretprobe")                                                    \
  int tg_tls_exit(struct pt_regs *ctx) { return tg_tls_return(ctx); } \
  SEC("uretprobe")                                                    \
  int tg_tls_handshake_exit(struct pt_regs *ctx) { return tg_tls_handshake_return(); }

#endif /* TRACEGAP_BPF_TLS_H */
