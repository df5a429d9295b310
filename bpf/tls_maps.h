/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The state that ties a TLS library's plaintext to its TCP connection (tls.h has the programs).
 *
 * A uprobe on SSL_read/SSL_write sees an SSL pointer and a buffer, not a socket. The socket is
 * learned where the two meet: while a probed TLS call is in progress on a thread (tg_tls_calls),
 * the socket I/O that thread does (the socket BIO's read or write of ciphertext, seen by the
 * capture hooks) belongs to that SSL session (tg_tls_ssl). Every session does socket I/O inside a
 * probed call (its handshake, or the read that first finds no buffered data) before it moves
 * plaintext, so the tie is known before the first byte is read; a session that never does (a
 * memory BIO, as Node.js uses) is counted (TG_DROP_TLS_UNMAPPED), never guessed.
 */
#ifndef TRACEGAP_BPF_TLS_MAPS_H
#define TRACEGAP_BPF_TLS_MAPS_H

#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include "maps.h"
#include "tracegap.h"

enum tg_tls_call_kind {
  TG_TLS_CALL_IO = 0,        /* SSL_read, SSL_write: the return value is the byte count */
  TG_TLS_CALL_IO_EX = 1,     /* SSL_read_ex, SSL_write_ex: 1 on success, the count at *count_ptr */
  TG_TLS_CALL_HANDSHAKE = 2, /* SSL_do_handshake, SSL_connect, SSL_accept: no plaintext */
};

/* A probed TLS call in progress on a thread, from its entry to its return. */
struct tg_tls_call {
  __u64 ssl;       /* the SSL * (first argument) */
  __u64 buf;       /* the plaintext buffer */
  __u64 count_ptr; /* _ex calls: where the byte count is written */
  __u8 kind;       /* enum tg_tls_call_kind */
  __u8 direction;  /* enum tg_direction */
  __u8 _pad[6];
};

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, __u64); /* pid_tgid */
  __type(value, struct tg_tls_call);
} tg_tls_calls SEC(".maps");

struct tg_tls_key {
  __u32 tgid;
  __u32 _pad;
  __u64 ssl;
};

/* Where a TLS session's ciphertext goes: its socket, and the socket's endpoints as read there (a
 * uprobe cannot read a socket with plain loads). */
struct tg_tls_sock {
  __u64 sk;
  struct tg_tuple tuple;
  __u8 handshake; /* learned during the handshake: the plaintext is seen from its first byte */
  __u8 _pad[7];
};

/* Sized to a quarter of --max-connections (at least 1024) by the daemon. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, struct tg_tls_key);
  __type(value, struct tg_tls_sock);
} tg_tls_ssl SEC(".maps");

/* The plaintext stream's capture state, keyed by its socket's address (a uprobe has no sk
 * storage); removed when the socket reaches TCP_CLOSE (conn_store.h). Sized like tg_tls_ssl. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, __u64);
  __type(value, struct tg_conn);
} tg_tls_conns SEC(".maps");

#endif /* TRACEGAP_BPF_TLS_MAPS_H */
