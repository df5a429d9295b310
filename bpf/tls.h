/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * TLS plaintext, read where a TLS library hands it over: uprobes on OpenSSL's (libssl.so.3,
 * libssl.so.1.1) SSL_write, SSL_write_ex, SSL_read and SSL_read_ex, at entry (the buffer) and at
 * return (how many bytes), and on SSL_do_handshake (which SSL_connect and SSL_accept run; where a
 * session first meets its socket). The daemon attaches them to each libssl file
 * (daemon/capture/tls): a uprobe on a file serves every process that maps it, whenever it started.
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
/* Go's internal register ABI (Go 1.17+): arguments in AX, BX, CX, DI, ...; results in AX, ...;
 * the current goroutine's g in R14. */
#define TG_GOARG1(r) ((r)->ax)
#define TG_GOARG2(r) ((r)->bx)
#define TG_GOARG3(r) ((r)->cx)
#define TG_GORET1(r) ((r)->ax)
#define TG_GOG(r) ((r)->r14)
#elif defined(__TARGET_ARCH_arm64)
#define TG_UARG1(r) ((r)->regs[0])
#define TG_UARG2(r) ((r)->regs[1])
#define TG_UARG4(r) ((r)->regs[3])
#define TG_URET(r) ((r)->regs[0])
/* Go's internal register ABI on arm64: arguments and results in R0.., g in R28. */
#define TG_GOARG1(r) ((r)->regs[0])
#define TG_GOARG2(r) ((r)->regs[1])
#define TG_GOARG3(r) ((r)->regs[2])
#define TG_GORET1(r) ((r)->regs[0])
#define TG_GOG(r) ((r)->regs[28])
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
  conn = tg_conn_hash_insert(&tg_tls_conns, &key, &init);
  if (!conn) tg_count_drop(TG_DROP_CONN_MAP_FULL);
  return conn;
}

/* Follows `n` bytes of TLS plaintext at `buf` (direction `dir`) on the TLS stream of the socket
 * `where` describes. */
static __always_inline int tg_tls_capture(__u64 id, __u64 buf, long n, __u8 dir,
                                          const struct tg_tls_sock *where) {
  struct tg_conn *conn = tg_tls_conn(where);
  if (!conn) return 0;
  dir &= 1;
  if (conn->other & (1 << dir)) return 0;
  __u32 zero = 0;
  struct tg_scratch *scr = bpf_map_lookup_elem(&tg_scratch_map, &zero);
  if (!scr) return 0;
  struct tg_stash st = {.buf = buf, .shape = TG_SHAPE_FLAT, .direction = dir};
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

static __always_inline int tg_tls_return(struct pt_regs *ctx) {
  __u64 id = bpf_get_current_pid_tgid();
  if (tg_test_refuse_tls == 1) {
    __u32 zero = 0;
    struct tg_scratch *scr = bpf_map_lookup_elem(&tg_scratch_map, &zero);
    if (scr) scr->raw[id] = 0; /* no bound: every verifier refuses it */
  }
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
  return tg_tls_capture(id, call.buf, n, call.direction, where);
}

/* The end of a handshake call: its record goes (not that of an SSL_read it ran inside). */
static __always_inline int tg_tls_handshake_return(void) {
  __u64 id = bpf_get_current_pid_tgid();
  struct tg_tls_call *cp = bpf_map_lookup_elem(&tg_tls_calls, &id);
  if (cp && cp->kind == TG_TLS_CALL_HANDSHAKE) bpf_map_delete_elem(&tg_tls_calls, &id);
  return 0;
}

/*
 * Go's crypto/tls, compiled into the binary: uprobes on (*Conn).Write past its stack check, on
 * (*Conn).Read there and at each of its RET instructions (the daemon finds them by disassembling:
 * a uretprobe rewrites the return address on the stack, which Go moves when it grows a
 * goroutine's stack), and on (*Conn).clientHandshake and serverHandshake at entry. A call is keyed
 * by its goroutine (g), which may move between threads while the call blocks. The socket is found
 * from the tls.Conn at each call: c.conn (a net.Conn interface: its data word at offset 8) is a
 * *net.TCPConn, whose first word is its *netFD, whose poll.FD keeps the descriptor (Sysfd) at
 * offset 16 (after its fdMutex); a descriptor that is not a TCP socket of the process is no match.
 * These layouts have held from Go 1.12 to 1.23.
 */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, struct tg_tls_key); /* tgid, g */
  __type(value, struct tg_tls_call);
} tg_go_calls SEC(".maps");

/* The TCP socket under a *tls.Conn, or 0. */
static __always_inline __u64 tg_go_conn_sock(__u64 tls_conn) {
  __u64 tcp_conn = 0, net_fd = 0;
  __s64 fd = -1;
  if (bpf_probe_read_user(&tcp_conn, sizeof(tcp_conn), (void *)(tls_conn + 8)) || !tcp_conn)
    return 0;
  if (bpf_probe_read_user(&net_fd, sizeof(net_fd), (void *)tcp_conn) || !net_fd) return 0;
  if (bpf_probe_read_user(&fd, sizeof(fd), (void *)(net_fd + 16))) return 0;
  return tg_tcp_sock_of_fd(fd);
}

static __always_inline int tg_go_enter(struct pt_regs *ctx, __u8 dir) {
  __u64 id = bpf_get_current_pid_tgid();
  if (tg_is_self(id)) return 0;
  struct tg_tls_key key = {.tgid = id >> 32, .ssl = TG_GOG(ctx)};
  struct tg_tls_call call = {.ssl = TG_GOARG1(ctx), .buf = TG_GOARG2(ctx), .direction = dir};
  bpf_map_update_elem(&tg_go_calls, &key, &call, BPF_ANY);
  return 0;
}

/* (*Conn).Write(b): b is written whole or the connection fails, so it is read at entry (past
 * the function's stack check, so that a stack growth does not run the probe twice). */
static __always_inline int tg_go_write(struct pt_regs *ctx) {
  __u64 id = bpf_get_current_pid_tgid();
  if (tg_is_self(id)) return 0;
  const long n = (long)TG_GOARG3(ctx);
  if (n <= 0) return 0;
  struct tg_tls_sock where = {.sk = tg_go_conn_sock(TG_GOARG1(ctx))};
  if (!where.sk) {
    tg_count_drop(TG_DROP_TLS_UNMAPPED);
    return 0;
  }
  tg_read_tuple_core(where.sk, &where.tuple);
  return tg_tls_capture(id, TG_GOARG2(ctx), n > 0x7fffffff ? 0x7fffffff : n, TG_DIR_EGRESS, &where);
}

static __always_inline int tg_go_return(struct pt_regs *ctx) {
  __u64 id = bpf_get_current_pid_tgid();
  struct tg_tls_key key = {.tgid = id >> 32, .ssl = TG_GOG(ctx)};
  struct tg_tls_call *cp = bpf_map_lookup_elem(&tg_go_calls, &key);
  if (!cp) return 0;
  struct tg_tls_call call = *cp;
  bpf_map_delete_elem(&tg_go_calls, &key);
  const long n = (long)TG_GORET1(ctx);
  if (n <= 0) return 0;
  struct tg_tls_sock where = {.sk = tg_go_conn_sock(call.ssl)};
  if (!where.sk) {
    tg_count_drop(TG_DROP_TLS_UNMAPPED);
    return 0;
  }
  tg_read_tuple_core(where.sk, &where.tuple);
  return tg_tls_capture(id, call.buf, n > 0x7fffffff ? 0x7fffffff : n, call.direction, &where);
}

/* A handshake starts a new TLS stream on the socket: followed from its first byte. */
static __always_inline int tg_go_handshake(struct pt_regs *ctx) {
  __u64 id = bpf_get_current_pid_tgid();
  if (tg_is_self(id)) return 0;
  struct tg_tls_sock where = {.sk = tg_go_conn_sock(TG_GOARG1(ctx)), .handshake = 1};
  if (!where.sk) return 0;
  /* Called again on a connection whose handshake is done: nothing new begins. */
  if (bpf_map_lookup_elem(&tg_tls_conns, &where.sk)) return 0;
  tg_tls_conn(&where);
  return 0;
}

/* The programs, one per role; the daemon attaches each to the functions its name says. */
#define TG_TLS_PROGRAMS                                                                      \
  SEC("uprobe")                                                                              \
  int tg_tls_write_enter(struct pt_regs *ctx) {                                              \
    return tg_tls_enter(ctx, TG_TLS_CALL_IO, TG_DIR_EGRESS);                                 \
  }                                                                                          \
  SEC("uprobe")                                                                              \
  int tg_tls_read_enter(struct pt_regs *ctx) {                                               \
    return tg_tls_enter(ctx, TG_TLS_CALL_IO, TG_DIR_INGRESS);                                \
  }                                                                                          \
  SEC("uprobe")                                                                              \
  int tg_tls_write_ex_enter(struct pt_regs *ctx) {                                           \
    return tg_tls_enter(ctx, TG_TLS_CALL_IO_EX, TG_DIR_EGRESS);                              \
  }                                                                                          \
  SEC("uprobe")                                                                              \
  int tg_tls_read_ex_enter(struct pt_regs *ctx) {                                            \
    return tg_tls_enter(ctx, TG_TLS_CALL_IO_EX, TG_DIR_INGRESS);                             \
  }                                                                                          \
  SEC("uprobe")                                                                              \
  int tg_tls_handshake_enter(struct pt_regs *ctx) {                                          \
    return tg_tls_enter(ctx, TG_TLS_CALL_HANDSHAKE, TG_DIR_EGRESS);                          \
  }                                                                                          \
  SEC("uretprobe")                                                                           \
  int tg_tls_exit(struct pt_regs *ctx) { return tg_tls_return(ctx); }                        \
  SEC("uretprobe")                                                                           \
  int tg_tls_handshake_exit(struct pt_regs *ctx) { return tg_tls_handshake_return(); }       \
  SEC("uprobe")                                                                              \
  int tg_tls_go_write_enter(struct pt_regs *ctx) { return tg_go_write(ctx); }                \
  SEC("uprobe")                                                                              \
  int tg_tls_go_read_enter(struct pt_regs *ctx) { return tg_go_enter(ctx, TG_DIR_INGRESS); } \
  SEC("uprobe")                                                                              \
  int tg_tls_go_exit(struct pt_regs *ctx) { return tg_go_return(ctx); }                      \
  SEC("uprobe")                                                                              \
  int tg_tls_go_handshake_enter(struct pt_regs *ctx) { return tg_go_handshake(ctx); }

#endif /* TRACEGAP_BPF_TLS_H */
