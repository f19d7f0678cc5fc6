/* SPDX-License-Identifier: Apache-2.0 */
/* nve.h: NVE (tunnel endpoint) addresses: compare, copy, and the word mixer the flow hash and
 * the slot arrays' home slots share. */
#ifndef ROAM_LIB_NVE_H
#define ROAM_LIB_NVE_H

#include "roam.h"
#include "lib/eth.h"

static __always_inline int ipv6_addr_equal(const __u8 *a, const __u8 *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;

	return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3])) == 0;
}

static __always_inline int nve_addr_equal(const struct nve_addr *a, const struct nve_addr *b)
{
	return a->family == b->family && ipv6_addr_equal(a->ip, b->ip);
}

/* Copies an NVE address in five word moves (struct nve_addr is byte-aligned, so a plain
 * copy is twenty byte moves). A stack destination must be 4-byte aligned. */
static __always_inline void nve_addr_copy(struct nve_addr *dst, const struct nve_addr *src)
{
#pragma unroll
	for (int i = 0; i < (int)(sizeof(*dst) / 4); i++)
		store_u32((__u8 *)dst + 4 * i, load_u32((const __u8 *)src + 4 * i));
}

static __always_inline __u32 hash_mix(__u32 h, __u32 v)
{
	h ^= v;
	h *= 0x9e3779b1U;
	return h ^ (h >> 15);
}

#endif /* ROAM_LIB_NVE_H */
