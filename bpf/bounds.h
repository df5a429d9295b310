/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Bounding a length right where a helper takes it, in a form every kernel's verifier follows.
 *
 * Why not a plain `if (n > max) n = max`: clang may compare one register (or its 32-bit half) and
 * pass another to the helper, or drop a mask it can prove redundant (`n & 31` after n <= 24).
 * Newer verifiers often recover the bound; Linux 6.1's does not, and rejects the program with
 * "R3 unbounded memory access". The clamp below is written in BPF assembly on the very register
 * the helper receives, so the verifier learns its bound from the jump itself on every kernel.
 */
#ifndef TRACEGAP_BPF_BOUNDS_H
#define TRACEGAP_BPF_BOUNDS_H

#include <linux/types.h>

/* min(v, max) as a u64, with max a compile-time constant below 2^31. */
#define TG_CLAMP(v, max)                                                    \
  ({                                                                        \
    __u64 __tg_v = (v);                                                     \
    asm volatile("if %0 <= %1 goto +1; %0 = %1" : "+r"(__tg_v) : "i"(max)); \
    __tg_v;                                                                 \
  })

/* v & mask (mask = 2^k - 1) as a u64 offset, ANDed on the register the pointer arithmetic uses.
 * A plain `pos & mask` is dropped by clang once it has proved pos <= mask from an earlier check,
 * and 6.1's verifier may not carry that check's bound to the register that is added to the
 * pointer (two loads of one spilled value are not linked there): "R1 unbounded memory access".
 * Built into user space too (tests/unit/http1_scan_test.cc), where it is the plain AND. */
#ifdef __bpf__
#define TG_MASK(v, mask)                                 \
  ({                                                     \
    __u64 __tg_m = (v);                                  \
    asm volatile("%0 &= %1" : "+r"(__tg_m) : "i"(mask)); \
    __tg_m;                                              \
  })
#else
#define TG_MASK(v, mask) ((__u64)(v) & (mask))
#endif

#endif /* TRACEGAP_BPF_BOUNDS_H */
