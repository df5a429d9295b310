/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The few kernel types tracegap's BPF programs read, declared for CO-RE.
 *
 * Why not a full vmlinux.h: the programs touch a dozen fields. Declaring just those, with
 * preserve_access_index, keeps the build independent of the build host's kernel, and keeps the
 * header reviewable (pt_regs, which differs by architecture, is declared for x86-64 and arm64).
 * libbpf relocates every field offset against the running kernel's BTF at load time, matching types
 * and fields by name (anonymous unions and structs in the kernel's definitions are searched
 * through).
 *
 * Only fields that exist in every kernel tracegap supports (6.1+, booted by the kernels test tier)
 * are listed. sk_protocol became a plain u16 in 5.6 (commit bf9765145b85, "sock: Make sk_protocol a
 * 16-bit value"), so it is read directly, not as a bitfield.
 */
#ifndef TRACEGAP_BPF_KERNEL_TYPES_H
#define TRACEGAP_BPF_KERNEL_TYPES_H

#include <linux/types.h>
#include <linux/bpf.h>

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct in6_addr {
  union {
    __u8 u6_addr8[16];
    __be32 u6_addr32[4];
  } in6_u;
};

struct sock_common {
  __be32 skc_daddr;
  __be32 skc_rcv_saddr;
  __be16 skc_dport;
  __u16 skc_num;
  unsigned short skc_family;
  volatile unsigned char skc_state;
  struct in6_addr skc_v6_daddr;
  struct in6_addr skc_v6_rcv_saddr;
};

struct socket;

struct sock {
  struct sock_common __sk_common;
  __u16 sk_protocol;
  struct socket *sk_socket;
};

struct file;

struct socket {
  short type;
  struct file *file;
  struct sock *sk;
};

struct inode {
  unsigned short i_mode;
};

struct file {
  struct inode *f_inode;
  void *private_data;
};

struct fdtable {
  unsigned int max_fds;
  struct file **fd;
};

struct files_struct {
  struct fdtable *fdt;
};

struct task_struct {
  unsigned int flags; /* PF_* */
  struct files_struct *files;
  struct task_struct *group_leader;
  char comm[16];
};

/* The user registers saved at syscall entry (bpf_task_pt_regs): the syscall's number and
 * arguments, which the socket-layer programs read (bpf/syscall_args.h); and a uprobe's context,
 * a probed function's arguments and return value (bpf/tls.h). */
#if defined(__TARGET_ARCH_x86)
struct pt_regs {
  unsigned long di; /* arguments 1-4 of a function call (the syscall's 1-3) */
  unsigned long si;
  unsigned long dx;
  unsigned long cx;
  unsigned long ax;      /* a function's return value (uretprobes: bpf/tls.h) */
  unsigned long bx;      /* Go's register ABI: argument 2 */
  unsigned long r14;     /* Go's register ABI: the current goroutine (g) */
  unsigned long orig_ax; /* the syscall number */
};
#elif defined(__TARGET_ARCH_arm64)
struct pt_regs {
  __u64 regs[31];
  __u64 orig_x0; /* argument 1 (regs[0] is the return value once set) */
  __s32 syscallno;
};
#endif

/* Tracepoint contexts. The kernel's BTF has these types too, so libbpf relocates the offsets. */
struct trace_entry {
  unsigned short type;
  unsigned char flags;
  unsigned char preempt_count;
  int pid;
};

struct trace_event_raw_sys_enter {
  struct trace_entry ent;
  long id;
  unsigned long args[6];
};

struct trace_event_raw_sys_exit {
  struct trace_entry ent;
  long id;
  long ret;
};

struct trace_event_raw_inet_sock_set_state {
  struct trace_entry ent;
  const void *skaddr;
  int oldstate;
  int newstate;
  __u16 sport;
  __u16 dport;
  __u16 family;
  __u16 protocol;
};

#pragma clang attribute pop

/* Userspace ABI structures: stable by definition, so read with plain offsets, never CO-RE. */
struct tg_user_iovec {
  __u64 base;
  __u64 len;
};

struct tg_user_msghdr {
  __u64 msg_name;
  __u32 msg_namelen;
  __u32 _pad;
  __u64 msg_iov;
  __u64 msg_iovlen;
  __u64 msg_control;
  __u64 msg_controllen;
  __u32 msg_flags;
};

#define TG_AF_INET 2
#define TG_AF_INET6 10
#define TG_IPPROTO_TCP 6
#define TG_TCP_ESTABLISHED 1
#define TG_TCP_CLOSE 7
#define TG_S_IFMT 00170000
#define TG_S_IFSOCK 0140000
#define TG_MSG_PEEK 0x2
#define TG_MSG_TRUNC 0x20
#define TG_MSG_ERRQUEUE 0x2000
/* Receives whose bytes are not the stream's next bytes: a peek (read again later), MSG_TRUNC on
 * TCP (discarded unread), the error queue (timestamps, zero-copy notices). */
#define TG_MSG_NOT_STREAM (TG_MSG_PEEK | TG_MSG_TRUNC | TG_MSG_ERRQUEUE)
#define TG_PF_IO_WORKER 0x00000010
#define TG_PF_KTHREAD 0x00200000

#endif /* TRACEGAP_BPF_KERNEL_TYPES_H */
