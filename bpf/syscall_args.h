/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The socket-layer path's view of the call that moved the bytes: the tracepoints at the end of a
 * socket's sendmsg/recvmsg give the socket, the byte count and the flags, but not the user
 * buffer. The thread is still inside its syscall there, so the registers it entered with (saved
 * at the top of its kernel stack, bpf_task_pt_regs) hold the syscall's number and arguments:
 * the buffer, iovec array or msghdr, as the syscall path's sys_enter sees them.
 *
 * Calls whose buffers are not read this way: sendmmsg/recvmmsg (an array of msghdrs), io_uring
 * (submitted from io_uring_enter or an io worker), sendfile/splice (kernel pages: bodies), and
 * 32-bit processes (their syscall numbers are the ia32 table's, none of which is in the list
 * below as a socket call).
 */
#ifndef TRACEGAP_BPF_SYSCALL_ARGS_H
#define TRACEGAP_BPF_SYSCALL_ARGS_H

#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include "maps.h"
#include "tracegap.h"

#if defined(__TARGET_ARCH_x86)
#define TG_NR_READ 0
#define TG_NR_WRITE 1
#define TG_NR_READV 19
#define TG_NR_WRITEV 20
#define TG_NR_SENDFILE 40
#define TG_NR_SENDTO 44
#define TG_NR_RECVFROM 45
#define TG_NR_SENDMSG 46
#define TG_NR_RECVMSG 47
#define TG_NR_SPLICE 275
#define TG_REGS_NR(r) ((long)(r)->orig_ax)
#define TG_REGS_ARG2(r) ((r)->si)
#define TG_REGS_ARG3(r) ((r)->dx)
#elif defined(__TARGET_ARCH_arm64)
/* The generic syscall table (include/uapi/asm-generic/unistd.h). Built, not tested here. */
#define TG_NR_READ 63
#define TG_NR_WRITE 64
#define TG_NR_READV 65
#define TG_NR_WRITEV 66
#define TG_NR_SENDFILE 71
#define TG_NR_SPLICE 76
#define TG_NR_SENDTO 206
#define TG_NR_RECVFROM 207
#define TG_NR_SENDMSG 211
#define TG_NR_RECVMSG 212
#define TG_REGS_NR(r) ((long)(r)->syscallno)
#define TG_REGS_ARG2(r) ((r)->regs[1])
#define TG_REGS_ARG3(r) ((r)->regs[2])
#else
#error "socket-layer capture reads syscall registers: x86-64 and arm64 only"
#endif

enum tg_call_read {
  TG_CALL_READ = 0,   /* st describes the call's buffers */
  TG_CALL_BODIES = 1, /* sendfile/splice: kernel pages, bodies only; nothing to read */
  TG_CALL_UNREAD = 2, /* a call whose buffers are not read here (see above) */
};

/* Describes in `st` the data of the current thread's interrupted syscall, which moved bytes in
 * direction `dir` on a socket. */
static __always_inline int tg_syscall_args(struct task_struct *task, __u8 dir,
                                           struct tg_stash *st) {
  struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
  if (!regs) return TG_CALL_UNREAD;
  const long nr = TG_REGS_NR(regs);
  __u8 shape, call_dir;
  switch (nr) {
    case TG_NR_WRITE:
    case TG_NR_SENDTO:
      shape = TG_SHAPE_FLAT, call_dir = TG_DIR_EGRESS;
      break;
    case TG_NR_WRITEV:
      shape = TG_SHAPE_IOVEC, call_dir = TG_DIR_EGRESS;
      break;
    case TG_NR_SENDMSG:
      shape = TG_SHAPE_MSGHDR, call_dir = TG_DIR_EGRESS;
      break;
    case TG_NR_READ:
    case TG_NR_RECVFROM:
      shape = TG_SHAPE_FLAT, call_dir = TG_DIR_INGRESS;
      break;
    case TG_NR_READV:
      shape = TG_SHAPE_IOVEC, call_dir = TG_DIR_INGRESS;
      break;
    case TG_NR_RECVMSG:
      shape = TG_SHAPE_MSGHDR, call_dir = TG_DIR_INGRESS;
      break;
    case TG_NR_SENDFILE:
    case TG_NR_SPLICE:
      return TG_CALL_BODIES;
    default:
      return TG_CALL_UNREAD;
  }
  if (call_dir != dir) return TG_CALL_UNREAD;
  st->buf = TG_REGS_ARG2(regs);
  st->count = (__u32)TG_REGS_ARG3(regs);
  st->shape = shape;
  st->direction = dir;
  st->armed = 0;
  st->start = 0;
  st->nr = (__u32)nr;
  st->_pad = 0;
  return TG_CALL_READ;
}

#endif /* TRACEGAP_BPF_SYSCALL_ARGS_H */
