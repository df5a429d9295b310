/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Events to the daemon: filling an event's header and queueing it on the ring buffer. */
#ifndef TRACEGAP_BPF_EMIT_H
#define TRACEGAP_BPF_EMIT_H

#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include "maps.h"
#include "sock_lookup.h"
#include "bounds.h"
#include "tracegap.h"

/* Fills the parts of an event that are the same for every event of this call, but the tuple. */
static __always_inline void tg_fill_event(struct tg_data_event *ev, const struct tg_conn *conn,
                                          __u8 dir, __u64 id, long ret) {
  ev->hdr.kind = TG_EVENT_DATA;
  ev->hdr.direction = dir;
  ev->hdr.flags = 0;
  ev->hdr.tgid = id >> 32;
  ev->hdr.tid = (__u32)id;
  ev->hdr.transport = TG_TRANSPORT_TCP;
  __builtin_memset(ev->hdr._pad, 0, sizeof(ev->hdr._pad));
  ev->hdr.conn_id = conn->conn_id;
  ev->hdr.ts_ns = bpf_ktime_get_ns();
  /* Plain loads through the BTF-typed task pointer: no helper call (comm is NUL-padded). */
  struct task_struct *leader = bpf_get_current_task_btf()->group_leader;
  __builtin_memcpy(ev->hdr.comm, leader->comm, sizeof(ev->hdr.comm));
  /* The tuple is the caller's: read from the socket (tg_read_tuple), or kept from where a TLS
   * session met its socket (tls.h). */
  ev->syscall_bytes = ret > 0xffffffffL ? 0xffffffffU : (__u32)ret;
}

/* Queues ev with `len` data bytes. No wake-up until a batch is waiting (see maps.h). */
static __always_inline int tg_output(struct tg_scratch *scr, struct tg_data_event *ev, __u32 len) {
  if (len > TG_MAX_COPY) len = TG_MAX_COPY;
  ev->data_len = len;
  /* The fill level is a helper call: look at it every 16th event of this CPU (at most 16 events
   * of 8 KiB past the threshold, far below the ring's size). */
  __u64 wake = BPF_RB_NO_WAKEUP;
  if ((++scr->outputs & 15) == 0 &&
      bpf_ringbuf_query(&tg_events, BPF_RB_AVAIL_DATA) >= tg_wakeup_bytes)
    wake = BPF_RB_FORCE_WAKEUP;
  if (bpf_ringbuf_output(&tg_events, ev, sizeof(*ev) + TG_CLAMP(len, TG_MAX_COPY), wake)) {
    tg_count_drop(TG_DROP_RINGBUF_FULL);
    return -1;
  }
  return 0;
}

#endif /* TRACEGAP_BPF_EMIT_H */
