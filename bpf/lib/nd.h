/* SPDX-License-Identifier: Apache-2.0 */
/* nd.h: IPv6 Neighbor Discovery (RFC 4861): recognising Neighbor Solicitations roam can
 * answer and unsolicited Neighbor Advertisements it must report, and the solicited NA it
 * answers with, built in place. */
#ifndef ROAM_LIB_ND_H
#define ROAM_LIB_ND_H

#include <linux/ipv6.h>
#include <linux/in6.h>
#include "lib/eth.h"
#include "lib/csum.h"

#define ICMPV6_NS 135
#define ICMPV6_NA 136
#define ND_HOP_LIMIT 255            /* RFC 4861 7.1.1: ND must come from on-link */
#define ND_OPT_TARGET_LL_ADDR 2
#define ND_NA_FLAG_SOLICITED 0x40   /* first byte of the flags word */
#define ND_NA_FLAG_OVERRIDE 0x20
/* Our NA: Ethernet + IPv6 + 24-byte NA + 8-byte target link-layer option. */
#define ND_NA_ICMP_LEN 32
#define ND_NA_FRAME_LEN (14 + 40 + ND_NA_ICMP_LEN)

/* NS / NA body up to the target address (options follow). */
struct nd_msg {
	__u8 type;
	__u8 code;
	__be16 csum;
	__u8 flags; /* NA: R S O bits; NS: reserved */
	__u8 _reserved[3];
	__u8 target[16];
};

/* The solicited NA roam sends, with its target link-layer address option. */
struct nd_na_reply {
	struct nd_msg msg;
	__u8 opt_type;
	__u8 opt_len; /* in units of 8 bytes */
	__u8 opt_mac[ETH_ALEN];
};

static __always_inline int ipv6_addr_is_unspecified(const __u8 *a)
{
	const __u32 *w = (const __u32 *)a;

	return (w[0] | w[1] | w[2] | w[3]) == 0;
}

/* ff02::1, the all-nodes address unsolicited NAs go to. */
static __always_inline int ipv6_addr_is_all_nodes(const __u8 *a)
{
	const __u32 *w = (const __u32 *)a;

	return w[0] == bpf_htonl(0xff020000) && w[1] == 0 && w[2] == 0 && w[3] == bpf_htonl(1);
}

/* The ND message after ip6 when it is a well-formed NS or NA (ICMPv6 straight after the
 * fixed header, hop limit 255, code 0), else NULL. */
static __always_inline struct nd_msg *nd_parse(struct cursor *c, const struct ipv6hdr *ip6)
{
	struct nd_msg *nd;

	if (ip6->nexthdr != IPPROTO_ICMPV6 || ip6->hop_limit != ND_HOP_LIMIT)
		return NULL;
	nd = cursor_pull(c, sizeof(*nd));
	if (!nd || nd->code != 0 || (nd->type != ICMPV6_NS && nd->type != ICMPV6_NA))
		return NULL;
	if (bpf_ntohs(ip6->payload_len) < sizeof(*nd))
		return NULL;
	return nd;
}

/* Unsolicited NA as a moved VM sends it: Override set, Solicited clear, to all-nodes. */
static __always_inline int nd_is_unsolicited_na(const struct ipv6hdr *ip6, const struct nd_msg *nd)
{
	return nd->type == ICMPV6_NA && (nd->flags & ND_NA_FLAG_OVERRIDE) &&
	       !(nd->flags & ND_NA_FLAG_SOLICITED) && ipv6_addr_is_all_nodes(ip6->daddr.s6_addr);
}

/* ICMPv6 checksum of our NA: pseudo-header (src, dst, length, next header) + message. */
static __always_inline __u16 nd_na_csum(const __u8 *src, const __u8 *dst,
					const struct nd_na_reply *na)
{
	__u32 sum = 0;

	sum = csum_add_words(sum, (const __u16 *)src, 8);
	sum = csum_add_words(sum, (const __u16 *)dst, 8);
	sum += bpf_htons(ND_NA_ICMP_LEN);
	sum += bpf_htons(IPPROTO_ICMPV6);
	sum = csum_add_words(sum, (const __u16 *)na, sizeof(*na) / 2);
	return csum_fold(sum);
}

/* Rewrites the frame (an NS for `target` from a host at asker_mac/asker_ip) into the
 * solicited NA "target is at mac", resizing it to ND_NA_FRAME_LEN. Returns 0, or -1 when
 * the frame cannot be resized (the caller drops it). */
static __always_inline int nd_prepare_na(struct xdp_md *ctx, const __u8 *asker_mac,
					 const __u8 *asker_ip, const __u8 *target, const __u8 *mac)
{
	struct nd_na_reply na = {};
	__u8 src[16], dst[16], amac[ETH_ALEN];
	struct ethhdr *eth;
	struct ipv6hdr *ip6;
	void *data, *data_end;
	int delta;

	/* keep what we need before the frame moves */
	__builtin_memcpy(src, target, 16);
	__builtin_memcpy(dst, asker_ip, 16);
	eth_addr_copy(amac, asker_mac);

	delta = ND_NA_FRAME_LEN - (int)(ctx->data_end - ctx->data);
	if (delta && bpf_xdp_adjust_tail(ctx, delta))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + ND_NA_FRAME_LEN > data_end)
		return -1;
	eth = data;
	ip6 = data + sizeof(*eth);

	eth_addr_copy(eth->h_dest, amac);
	eth_addr_copy(eth->h_source, mac);
	store_u16(&eth->h_proto, bpf_htons(ETH_P_IPV6));
	*(__be32 *)ip6 = bpf_htonl(0x60000000); /* version 6, class 0, flow 0 */
	ip6->payload_len = bpf_htons(ND_NA_ICMP_LEN);
	ip6->nexthdr = IPPROTO_ICMPV6;
	ip6->hop_limit = ND_HOP_LIMIT;
	__builtin_memcpy(ip6->saddr.s6_addr, src, 16);
	__builtin_memcpy(ip6->daddr.s6_addr, dst, 16);

	na.msg.type = ICMPV6_NA;
	na.msg.flags = ND_NA_FLAG_SOLICITED | ND_NA_FLAG_OVERRIDE;
	__builtin_memcpy(na.msg.target, src, 16);
	na.opt_type = ND_OPT_TARGET_LL_ADDR;
	na.opt_len = 1;
	eth_addr_copy(na.opt_mac, mac);
	na.msg.csum = nd_na_csum(src, dst, &na);
	__builtin_memcpy((void *)(ip6 + 1), &na, sizeof(na));
	return 0;
}

#endif /* ROAM_LIB_ND_H */
