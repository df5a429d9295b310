/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* From a file descriptor of the current task to its TCP socket, and the socket's endpoints. */
#ifndef TRACEGAP_BPF_SOCK_LOOKUP_H
#define TRACEGAP_BPF_SOCK_LOOKUP_H

#include "kernel_types.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "tracegap.h"

/* Returns the struct sock of `fd` if it is an AF_INET/AF_INET6 TCP socket, else 0.
 *
 * Why walk task->files->fdt here: syscall tracepoints only give the fd, and this is the one way
 * from an fd to its socket that needs neither kprobes nor fentry (unavailable on some kernels).
 * The walk is done at sys_enter so that reads and writes of regular files, pipes and UNIX
 * sockets cost one walk and no map update; it stops at the first check that fails.
 *
 * Two builds of the same programs (cmake/BpfObject.cmake, daemon/capture/probes.cc):
 * - TG_FAST_CAST (kernels with the bpf_rdonly_cast kfunc, 6.2+): the pointers read from kernel
 *   memory (the file in the fd slot, its private_data, the socket) are cast back to BTF-typed
 *   pointers, and every field is then a plain load that the JIT guards against faults. No helper
 *   call per field: on this host's benchmark a sys_enter went from ~320 to ~150 ns.
 * - otherwise each field past the fd slot is read with bpf_probe_read_kernel (BPF_CORE_READ).
 * The daemon loads the first and falls back to the second when the kernel refuses it. */
#ifdef TG_FAST_CAST
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
#define TG_CAST(type, p) ((type *)bpf_rdonly_cast((const void *)(p), bpf_core_type_id_kernel(type)))
#endif

/* The struct file * in the current task's fd table slot `fd`, or 0. task->files->fdt is walked
 * with direct loads through BTF-typed pointers (no helper call); the slot itself (an index into
 * an array) is read with bpf_probe_read_kernel. */
static __always_inline __u64 tg_file_of_fd(__s64 fd) {
  if (fd < 0) return 0;
  struct task_struct *task = bpf_get_current_task_btf();
  struct files_struct *files = task->files;
  if (!files) return 0;
  struct fdtable *fdt = files->fdt;
  if (!fdt || (__u64)fd >= fdt->max_fds) return 0;
  struct file **fds = fdt->fd;
  struct file *file = 0;
  if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd])) return 0;
  return (__u64)file;
}

#ifdef TG_FAST_CAST
static __always_inline __u64 tg_tcp_sock_of_file(__u64 fp) {
  struct file *file = TG_CAST(struct file, fp);
  struct inode *inode = file->f_inode;
  if (!inode || (inode->i_mode & TG_S_IFMT) != TG_S_IFSOCK) return 0;
  struct socket *sock = TG_CAST(struct socket, file->private_data);
  if (!sock) return 0;
  struct sock *sk = sock->sk;
  if (!sk) return 0;
  __u16 family = sk->__sk_common.skc_family;
  if (family != TG_AF_INET && family != TG_AF_INET6) return 0;
  if (sk->sk_protocol != TG_IPPROTO_TCP) return 0;
  return (__u64)sk;
}
#else
static __always_inline __u64 tg_tcp_sock_of_file(__u64 fp) {
  struct file *file = (struct file *)fp;
  if ((BPF_CORE_READ(file, f_inode, i_mode) & TG_S_IFMT) != TG_S_IFSOCK) return 0;
  struct socket *sock = BPF_CORE_READ(file, private_data);
  struct sock *sk = BPF_CORE_READ(sock, sk);
  if (!sk) return 0;
  __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
  if (family != TG_AF_INET && family != TG_AF_INET6) return 0;
  if (BPF_CORE_READ(sk, sk_protocol) != TG_IPPROTO_TCP) return 0;
  return (__u64)sk;
}
#endif

/* This walk runs on every hooked syscall of every process: it stops at the first check that
 * fails, and each helper call saved here is paid back on every file and pipe read or write. */
static __always_inline __u64 tg_tcp_sock_of_fd(__s64 fd) {
  __u64 file = tg_file_of_fd(fd);
  return file ? tg_tcp_sock_of_file(file) : 0;
}

/* The socket as the capture code holds it: on the socket path the tracepoint's own pointer,
 * which the verifier trusts (plain loads, and sk storage); on the syscall path its address, found
 * through the fd table. */
#ifdef TG_SOCK_LAYER
typedef struct sock *tg_sk_t;
#define TG_SOCK(skp) (skp)
#else
typedef __u64 tg_sk_t;
#ifdef TG_FAST_CAST
#define TG_SOCK(skp) TG_CAST(struct sock, skp)
#endif
#endif

#ifdef TG_SOCK
static __always_inline void tg_read_tuple(tg_sk_t skp, struct tg_tuple *t) {
  struct sock *sk = TG_SOCK(skp);
  t->family = sk->__sk_common.skc_family;
  t->local_port = sk->__sk_common.skc_num;
  t->remote_port = bpf_ntohs(sk->__sk_common.skc_dport);
  if (t->family == TG_AF_INET) {
    __be32 a = sk->__sk_common.skc_rcv_saddr;
    __builtin_memcpy(t->local_addr, &a, 4);
    a = sk->__sk_common.skc_daddr;
    __builtin_memcpy(t->remote_addr, &a, 4);
  } else {
    /* Four 32-bit loads each: the verifier checks every load against a field of the type. */
    __be32 *l = (__be32 *)t->local_addr, *r = (__be32 *)t->remote_addr;
#pragma unroll
    for (int i = 0; i < 4; i++) {
      l[i] = sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32[i];
      r[i] = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[i];
    }
  }
}

static __always_inline __u8 tg_sock_state(tg_sk_t skp) {
  return TG_SOCK(skp)->__sk_common.skc_state;
}
#endif

/* The endpoints of the socket at address `skp`, read with bpf_probe_read_kernel: for any socket
 * address (a uprobe's, tls.h), whatever the build. */
static __always_inline void tg_read_tuple_core(__u64 skp, struct tg_tuple *t) {
  struct sock *sk = (struct sock *)skp;
  t->family = BPF_CORE_READ(sk, __sk_common.skc_family);
  t->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
  t->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
  if (t->family == TG_AF_INET) {
    __be32 a = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
    __builtin_memcpy(t->local_addr, &a, 4);
    a = BPF_CORE_READ(sk, __sk_common.skc_daddr);
    __builtin_memcpy(t->remote_addr, &a, 4);
  } else {
    BPF_CORE_READ_INTO(&t->local_addr, sk, __sk_common.skc_v6_rcv_saddr);
    BPF_CORE_READ_INTO(&t->remote_addr, sk, __sk_common.skc_v6_daddr);
  }
}

#ifndef TG_SOCK
static __always_inline void tg_read_tuple(tg_sk_t skp, struct tg_tuple *t) {
  tg_read_tuple_core(skp, t);
}

static __always_inline __u8 tg_sock_state(tg_sk_t skp) {
  return BPF_CORE_READ((struct sock *)skp, __sk_common.skc_state);
}
#endif

#endif /* TRACEGAP_BPF_SOCK_LOOKUP_H */
