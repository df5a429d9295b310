/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Where per-connection capture state (struct tg_conn) lives, for each way of capturing.
 *
 * Socket-layer build (TG_SOCK_LAYER): in the socket itself (BPF_MAP_TYPE_SK_STORAGE). The
 * tracepoints hand over a BTF-typed struct sock *, so the state is one pointer away, needs no
 * hash, cannot be evicted while the socket lives, and is freed by the kernel with the socket.
 * What the daemon needs to see from user space (which connections are still alive, after lost
 * close events) is kept apart in tg_conns: conn_id -> conn_id of the connections announced to it.
 *
 * Syscall build: the syscall tracepoints only give an fd, and the socket found through the fd
 * table is not a pointer the verifier trusts (no sk storage), so the state is in tg_conns, an
 * LRU hash keyed by the socket's address. An evicted connection starts over (the daemon sees a
 * new conn_id and resynchronises).
 *
 * tg_conns has --max-connections entries in both builds.
 */
#ifndef TRACEGAP_BPF_CONN_STORE_H
#define TRACEGAP_BPF_CONN_STORE_H

#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include "maps.h"
#include "sock_lookup.h"
#include "tls_maps.h"
#include "tracegap.h"

#ifdef TG_SOCK_LAYER

struct {
  __uint(type, BPF_MAP_TYPE_SK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct tg_conn);
} tg_sk_conns SEC(".maps");

/* The ids of the connections announced to the daemon and not closed yet. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, __u64);
  __type(value, __u64);
} tg_conns SEC(".maps");

static __always_inline struct tg_conn *tg_conn_find(tg_sk_t sk) {
  return bpf_sk_storage_get(&tg_sk_conns, sk, 0, 0);
}

static __always_inline struct tg_conn *tg_conn_insert(tg_sk_t sk, struct tg_conn *init) {
  return bpf_sk_storage_get(&tg_sk_conns, sk, init, BPF_SK_STORAGE_GET_F_CREATE);
}

static __always_inline void tg_conn_remove(tg_sk_t sk, const struct tg_conn *conn) {
  if (conn->announced) bpf_map_delete_elem(&tg_conns, &conn->conn_id);
  bpf_sk_storage_delete(&tg_sk_conns, sk);
}

/* The connection's first event went out: the daemon now holds state for it. */
static __always_inline void tg_conn_announced(struct tg_conn *conn) {
  bpf_map_update_elem(&tg_conns, &conn->conn_id, &conn->conn_id, BPF_ANY);
}

#else

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, __u64);
  __type(value, struct tg_conn);
} tg_conns SEC(".maps");

static __always_inline struct tg_conn *tg_conn_find(tg_sk_t sk) {
  return bpf_map_lookup_elem(&tg_conns, &sk);
}

static __always_inline struct tg_conn *tg_conn_insert(tg_sk_t sk, struct tg_conn *init) {
  return tg_conn_hash_insert(&tg_conns, &sk, init);
}

static __always_inline void tg_conn_remove(tg_sk_t sk, const struct tg_conn *conn) {
  bpf_map_delete_elem(&tg_conns, &sk);
}

static __always_inline void tg_conn_announced(struct tg_conn *conn) {}

#endif

/* The connection's state, created if it has none. Null if the socket has closed already, or the
 * state cannot be stored (counted). */
static __always_inline struct tg_conn *tg_conn_get_or_create(tg_sk_t sk, __u8 fresh) {
  struct tg_conn *conn = tg_conn_find(sk);
  if (conn) return conn;
  /* A socket already closed (a write that drew a reset) must not get an entry: its TCP_CLOSE has
   * passed, so nothing would remove it, and the next socket at this address would inherit it. */
  if (tg_sock_state(sk) == TG_TCP_CLOSE) return 0;
  struct tg_conn init = {.conn_id = __sync_fetch_and_add(&tg_next_conn_id, 1) + 1, .fresh = fresh};
  conn = tg_conn_insert(sk, &init);
  if (!conn) tg_count_drop(TG_DROP_CONN_MAP_FULL);
  return conn;
}

/* Tells the daemon that the connection `conn_id` it knows is gone. */
static __always_inline void tg_emit_close(__u64 conn_id) {
  struct tg_event_header *ev = bpf_ringbuf_reserve(&tg_events, sizeof(*ev), 0);
  if (!ev) {
    tg_count_drop(TG_DROP_RINGBUF_FULL);
    return;
  }
  __builtin_memset(ev, 0, sizeof(*ev));
  ev->kind = TG_EVENT_CLOSE;
  ev->conn_id = conn_id;
  ev->ts_ns = bpf_ktime_get_ns();
  bpf_ringbuf_submit(ev, BPF_RB_NO_WAKEUP);
}

/* The socket at `key` (its address) closed or began anew: its TLS plaintext stream, if any, ends.
 */
static __always_inline void tg_tls_conn_end(__u64 key) {
  if (!tg_tls_enabled) return;
  struct tg_conn *tls = bpf_map_lookup_elem(&tg_tls_conns, &key);
  if (!tls) return;
  if (tls->announced) {
    tg_emit_close(tls->conn_id);
#ifdef TG_SOCK_LAYER
    bpf_map_delete_elem(&tg_conns, &tls->conn_id);
#endif
  }
  bpf_map_delete_elem(&tg_tls_conns, &key);
}

/* Connection lifecycle, from inet_sock_set_state. ESTABLISHED: start tracking the connection from
 * its birth, so that HTTP/2 can be followed from its first frame (and a connection that was not
 * seen from birth is known to have been joined late). CLOSE: tell the daemon (if it knows the
 * connection) so that it drops its state, and forget it here. Every TCP socket passes through
 * TCP_CLOSE on its way out, whichever side or path closes it (tcp_set_state). */
static __always_inline void tg_conn_state_change(tg_sk_t sk, int newstate) {
  if (newstate != TG_TCP_ESTABLISHED && newstate != TG_TCP_CLOSE) return;
  /* At ESTABLISHED an entry can only be a leftover of an earlier socket at the same address
   * (or, in sk storage, of an earlier connection of the same socket): close it, start afresh. */
  struct tg_conn *conn = tg_conn_find(sk);
  if (conn) {
    if (conn->announced) tg_emit_close(conn->conn_id);
    tg_conn_remove(sk, conn);
  }
  tg_tls_conn_end((__u64)sk);
  if (newstate == TG_TCP_ESTABLISHED) tg_conn_get_or_create(sk, 1);
}

#endif /* TRACEGAP_BPF_CONN_STORE_H */
