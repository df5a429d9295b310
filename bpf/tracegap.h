/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The ABI between tracegap's BPF programs and the daemon: event layouts, flags and counters.
 *
 * This header is included by both sides (clang -target bpf and the C++20 daemon). It uses only
 * fixed-width types and explicit enum values; every layout is pinned by tests/unit/abi_test.cc.
 * Change it only together with that test, and bump TG_ABI_VERSION when a layout changes.
 */
#ifndef TRACEGAP_BPF_TRACEGAP_H
#define TRACEGAP_BPF_TRACEGAP_H

#ifdef __bpf__
/* kernel_types.h (included first by the BPF sources) provides __u8.. __u64. */
#else
#include <linux/types.h>
#endif

#define TG_ABI_VERSION 2

#define TG_COMM_LEN 16
/* Largest number of bytes one data event can carry; --max-header-bytes must not exceed it.
 * A power of two, so the BPF side can bound offsets with a mask. */
#define TG_MAX_COPY 8192
#define TG_DEFAULT_MAX_HEADER_BYTES 4096
/* How many iovec entries of a writev/readv/sendmsg/recvmsg call are looked at: for HTTP/1
 * header bytes (copied up front), and for HTTP/2 frames (walked one entry per step; gRPC C-core
 * writes one iovec per slice, 30 and more per call). UIO_MAXIOV is 1024. */
#define TG_MAX_IOV 8
#define TG_H2_MAX_IOV 1024

enum tg_event_kind {
  TG_EVENT_DATA = 1,  /* struct tg_data_event: header bytes sent or received on a connection */
  TG_EVENT_CLOSE = 2, /* struct tg_event_header only: a tracked connection reached TCP_CLOSE */
  /* struct tg_data_event with no data: a connection seen from birth began with a TLS handshake
   * record outside every probed TLS library call, so its plaintext is not seen (conn_id is the TCP
   * connection's). Sent once per such connection; the daemon finds out why (daemon/capture/tls). */
  TG_EVENT_TLS_UNSEEN = 3,
};

/* tg_event_header.transport: where the bytes of a DATA event were read. */
enum tg_transport {
  TG_TRANSPORT_TCP = 0, /* the socket's own bytes (syscall or socket-layer hooks) */
  /* The plaintext of a TLS connection, read at a TLS library's read/write calls (uprobes:
   * bpf/tls.h). The connection id is the TLS stream's own, distinct from its TCP socket's. */
  TG_TRANSPORT_TLS = 1,
};

enum tg_direction {
  TG_DIR_EGRESS = 0,  /* the process sent the bytes (write, writev, sendto, sendmsg) */
  TG_DIR_INGRESS = 1, /* the process received the bytes (read, readv, recvfrom, recvmsg) */
};

/* tg_data_event.flags */
enum tg_data_flags {
  /* The bytes continue a header block begun in an earlier event of this connection and
   * direction. Without it, the bytes start at a message start (request or status line). */
  TG_DATA_CONTINUATION = 1 << 0,
  /* The last header block in the event ran past --max-header-bytes (or past what one syscall
   * copy could hold): the rest of that block was not copied and never will be. */
  TG_DATA_TRUNCATED = 1 << 1,
  /* Events of this connection and direction were lost before this one (ring buffer full):
   * whatever the daemon had pending for it is incomplete. */
  TG_DATA_LOST_BEFORE = 1 << 2,
  /* This event is the first the kernel side emits for the connection. */
  TG_DATA_NEW_CONN = 1 << 3,
  /* The bytes are HTTP/2 frame records, not HTTP/1 header bytes (see below). */
  TG_DATA_HTTP2 = 1 << 4,
  /* HTTP/2 only: this direction has been followed from its first frame (after the client
   * preface, or after a 101 Switching Protocols), so its HPACK state can be decoded. Without it
   * the connection was joined late ("unsynced"): frame boundaries are known, HPACK state is not. */
  TG_DATA_H2_FROM_START = 1 << 5,
  /* The bytes are AMQP 0-9-1 frame records (see below). */
  TG_DATA_AMQP = 1 << 6,
  /* The bytes are Kafka records (see below); with KAFKA_REQUESTS, of the client's requests. */
  TG_DATA_KAFKA = 1 << 7,
  TG_DATA_KAFKA_REQUESTS = 1 << 8,
  /* The bytes are NATS records (see below). */
  TG_DATA_NATS = 1 << 9,
};
/* Frame records (HTTP/2, AMQP): TG_DATA_CONTINUATION means the event begins inside a record (its
 * copied bytes were split across events); after TG_DATA_LOST_BEFORE the daemon resumes at the
 * next event without it. */

/*
 * HTTP/2 frame records. For a connection the kernel follows as HTTP/2, the data of each direction
 * is a continuous byte stream across events (split anywhere; LOST_BEFORE marks a break) made of,
 * for every frame on the wire, its 9-byte frame header followed by its payload if and only if
 * TG_H2_PAYLOAD_COPIED(type). DATA payloads (bodies) never leave the kernel. The client preface
 * itself is not emitted.
 */
#define TG_H2_FRAME_HEADER_LEN 9
#define TG_H2_PREFACE_LEN 24
#define TG_H2_DATA 0x0
#define TG_H2_HEADERS 0x1
#define TG_H2_PRIORITY 0x2
#define TG_H2_RST_STREAM 0x3
#define TG_H2_SETTINGS 0x4
#define TG_H2_PUSH_PROMISE 0x5
#define TG_H2_PING 0x6
#define TG_H2_GOAWAY 0x7
#define TG_H2_WINDOW_UPDATE 0x8
#define TG_H2_CONTINUATION 0x9
/* Frames whose payload the daemon needs: header blocks (HPACK state), SETTINGS (table size),
 * RST_STREAM and GOAWAY (stream ends). */
#define TG_H2_PAYLOAD_COPIED(type)                                                        \
  ((type) == TG_H2_HEADERS || (type) == TG_H2_CONTINUATION || (type) == TG_H2_SETTINGS || \
   (type) == TG_H2_PUSH_PROMISE || (type) == TG_H2_RST_STREAM || (type) == TG_H2_GOAWAY)

/*
 * AMQP 0-9-1 frame records. A connection whose client sends the protocol header
 * "AMQP\0\0\x09\x01" is followed as AMQP in both directions from there on (the header itself is
 * not emitted). For every frame on the wire, its 7-byte header (type u8, channel u16 and size u32,
 * big-endian) followed, for METHOD and HEADER frames only, by the first
 * min(size + 1, --max-header-bytes) bytes of the payload and its frame-end octet. BODY payloads
 * (message bodies) and heartbeats never leave the kernel.
 */
#define TG_AMQP_FRAME_HEADER_LEN 7
#define TG_AMQP_PROTOCOL_HEADER_LEN 8
#define TG_AMQP_METHOD 1
#define TG_AMQP_HEADER 2
#define TG_AMQP_BODY 3
#define TG_AMQP_HEARTBEAT 8
#define TG_AMQP_FRAME_END 0xce
#define TG_AMQP_PAYLOAD_COPIED(type) ((type) == TG_AMQP_METHOD || (type) == TG_AMQP_HEADER)

/*
 * Kafka records. A connection whose first bytes in a direction are a Kafka request (ApiVersions,
 * what clients send first; or Produce, Fetch, Metadata, FindCoordinator, SaslHandshake, which a
 * client that knows the broker's versions may send first: capture.h) is followed as Kafka: that
 * direction carries requests, the other responses. Per request: a 12-byte header (size, api_key,
 * api_version, correlation_id, as on the wire, big-endian), then for Produce (api_key 0) only the
 * first min(size - 8, --max-header-bytes) bytes of the rest. Per response: an 8-byte header (size,
 * correlation_id), then the first min(size - 4, --max-header-bytes) bytes of the rest. Record
 * headers sit after each record's value, so the copied prefix holds message values too: see
 * docs/carriers.md for what that means and how much.
 */
#define TG_KAFKA_REQUEST_HEADER_LEN 12
#define TG_KAFKA_RESPONSE_HEADER_LEN 8
#define TG_KAFKA_PRODUCE 0
#define TG_KAFKA_API_VERSIONS 18

/*
 * NATS records. A connection that starts with the server's "INFO {" or the client's "CONNECT {"
 * line is followed as NATS in both directions. Emitted, in wire order: every control line but
 * INFO and CONNECT, with its CRLF (PUB, HPUB, MSG, HMSG, SUB, PING, +OK, ...), and after HPUB and
 * HMSG lines the first min(header bytes, --max-header-bytes) bytes of the header block
 * ("NATS/1.0\r\n" + fields + "\r\n"). No payload byte. PUB and MSG must be followed by a space,
 * as every client writes them; a line over 1024 bytes (64 KiB for INFO and CONNECT) ends capture
 * on that direction.
 */

/* Index into the kernel-side failure counter map (tg_drops, a per-CPU array). */
enum tg_drop_reason {
  TG_DROP_RINGBUF_FULL = 0,  /* bpf_ringbuf_output failed: an event was lost */
  TG_DROP_READ_USER = 1,     /* bpf_probe_read_user of the syscall buffer failed */
  TG_DROP_CONN_MAP_FULL = 2, /* could not store a connection's state (conn_store.h) */
  TG_DROP_STASH_FULL = 3,    /* could not stash syscall arguments at sys_enter */
  TG_DROP_IOV_LIMIT = 4,     /* a vectored call had more than TG_MAX_IOV entries to copy */
  /* Socket-layer capture: data moved on a connection that carries HTTP by a call whose buffers
   * it does not read (io_uring, sendmmsg/recvmmsg, a 32-bit process); sendfile/splice (bodies)
   * are not counted. */
  TG_DROP_UNREAD_CALL = 5,
  /* A TLS library call's plaintext could not be tied to a TCP socket: no socket I/O happened
   * inside any of that TLS session's calls (a memory BIO, as Node.js uses), so it was not read. */
  TG_DROP_TLS_UNMAPPED = 6,
  TG_DROP_REASON_COUNT = 7,
};

/* Connection endpoints as the observed process sees them. Ports in host byte order; addresses
 * in network byte order, IPv4 in the first 4 bytes. family is AF_INET (2) or AF_INET6 (10). */
struct tg_tuple {
  __u16 family;
  __u16 local_port;
  __u16 remote_port;
  __u16 _pad;
  __u8 local_addr[16];
  __u8 remote_addr[16];
};

struct tg_event_header {
  __u8 kind;      /* enum tg_event_kind */
  __u8 direction; /* enum tg_direction (DATA only) */
  __u16 flags;    /* enum tg_data_flags (DATA only) */
  __u32 tgid;     /* process id */
  __u32 tid;      /* thread id */
  __u8 transport; /* enum tg_transport (DATA only) */
  __u8 _pad[3];
  __u64 conn_id;          /* unique per tracked connection for the life of the loaded programs */
  __u64 ts_ns;            /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) at syscall exit */
  char comm[TG_COMM_LEN]; /* the process's command name (its main thread's comm) */
};

struct tg_data_event {
  struct tg_event_header hdr;
  struct tg_tuple tuple;
  __u32 syscall_bytes; /* bytes the syscall returned (may exceed data_len) */
  __u32 data_len;      /* bytes in data[] */
  __u8 data[];         /* header bytes only; never more than TG_MAX_COPY */
};

#endif /* TRACEGAP_BPF_TRACEGAP_H */
