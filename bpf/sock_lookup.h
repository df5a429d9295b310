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
 * sockets cost one walk and no map update; it stops at the first check that fails. */
#ifdef TG_FAST_CAST
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
#define TG_CAST(type, p) ((type *)bpf_rdonly_cast((const void *)(p), bpf_core_type_id_kernel(type)))

static __always_inline __u64 tg_tcp_sock_of_fd(__s64 fd) {
  if (fd < 0) return 0;
  struct task_struct *task = bpf_get_current_task_btf();
  struct files_struct *files = task->files;
  if (!files) return 0;
  struct fdtable *fdt = files->fdt;
  if (!fdt || (__u64)fd >= fdt->max_fds) return 0;
  struct file **fds = fdt->fd;
  struct file *fp = 0;
  if (bpf_probe_read_kernel(&fp, sizeof(fp), &fds[fd]) || !fp) return 0;
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
static __always_inline __u64 tg_tcp_sock_of_fd(__s64 fd) {
  if (fd < 0) return 0;
  /* task->files->fdt is walked with direct loads through BTF-typed pointers (no helper call);
   * only the fd array slot and the file's fields, which are plain pointers to the verifier, are
   * read with bpf_probe_read_kernel. This walk runs on every hooked syscall of every process, so
   * each helper call saved here is paid back on every file and pipe read or write. */
  struct task_struct *task = bpf_get_current_task_btf();
  struct files_struct *files = task->files;
  if (!files) return 0;
  struct fdtable *fdt = files->fdt;
  if (!fdt || (__u64)fd >= fdt->max_fds) return 0;
  struct file **fds = fdt->fd;
  struct file *file = 0;
  if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file) return 0;
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

static __always_inline void tg_read_tuple(__u64 skp, struct tg_tuple *t) {
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

#endif /* TRACEGAP_BPF_SOCK_LOOKUP_H */
