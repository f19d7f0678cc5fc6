/* SPDX-License-Identifier: Apache-2.0 */
/* csum.h: Internet checksums (RFC 1071) over headers roam builds itself: the outer IPv4
 * header of an encapsulation and the ICMPv6 NA it answers a Neighbor Solicitation with. */
#ifndef ROAM_LIB_CSUM_H
#define ROAM_LIB_CSUM_H

#include <linux/types.h>
#include <linux/ip.h>

static __always_inline __u16 csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* One's-complement sum of `words` 16-bit words (a constant, so the loop unrolls). */
static __always_inline __u32 csum_add_words(__u32 sum, const __u16 *p, int words)
{
#pragma unroll
	for (int i = 0; i < words; i++)
		sum += p[i];
	return sum;
}

/* Header checksum of a 20-byte IPv4 header (iph->check must be 0 on entry). */
static __always_inline __u16 csum_ipv4_header(const struct iphdr *iph)
{
	return csum_fold(csum_add_words(0, (const __u16 *)iph, sizeof(*iph) / 2));
}

#endif /* ROAM_LIB_CSUM_H */
