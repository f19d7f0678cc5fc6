/* SPDX-License-Identifier: Apache-2.0 */
/* gateway.h: the distributed anycast gateway's own answers, built in place and sent back out
 * the TSI they were asked on: ARP and NS for the gateway address, echo to it, and ICMP /
 * ICMPv6 destination unreachable for an address no route knows (where the VN asks for it). */
#ifndef ROAM_LIB_GATEWAY_H
#define ROAM_LIB_GATEWAY_H

#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include "roam.h"
#include "lib/eth.h"
#include "lib/csum.h"
#include "lib/arp.h"
#include "lib/nd.h"
#include "lib/forward.h"

#define ICMP_ECHOREPLY_ROAM 0
#define ICMP_DEST_UNREACH_ROAM 3
#define ICMP_HOST_UNREACH_ROAM 1 /* the directory does not know where the host is */
#define ICMP_ECHO_ROAM 8
#define ICMPV6_DEST_UNREACH_ROAM 1
#define ICMPV6_ADDR_UNREACH_ROAM 3
#define ICMPV6_ECHO_REQUEST_ROAM 128
#define ICMPV6_ECHO_REPLY_ROAM 129
#define ICMPV6_INFO_MIN 128 /* types below are errors: never answered with an error */
#define ND_NA_FLAG_ROUTER 0x80 /* first byte of the NA flags word */
/* What an unreachable quotes of the packet that caused it: its IP header and 8 bytes (RFC 792;
 * IPv6 could quote more, RFC 4443 2.4(c), but a fixed length keeps the checksum loop bounded). */
#define UNREACH4_QUOTE_LEN (20 + 8)
#define UNREACH6_QUOTE_LEN (40 + 8)
#define UNREACH4_HDRS_LEN (20 + 8) /* IPv4 + ICMP header in front of the quote */
#define UNREACH6_HDRS_LEN (40 + 8)
#define UNREACH4_FRAME_LEN (14 + UNREACH4_HDRS_LEN + UNREACH4_QUOTE_LEN)
#define UNREACH6_FRAME_LEN (14 + UNREACH6_HDRS_LEN + UNREACH6_QUOTE_LEN)

/* The first 8 bytes of an ICMP / ICMPv6 message. */
struct icmp_head {
	__u8 type;
	__u8 code;
	__be16 csum;
	__be32 rest; /* echo: id + sequence; unreachable: unused */
};

/* RFC 1624 eqn 3: a checksum after one 16-bit word of what it covers changed from -> to. */
static __always_inline __u16 csum_replace_word(__u16 check, __u16 from, __u16 to)
{
	return csum_fold((__u32)(__u16)~check + (__u16)~from + to);
}

static __always_inline int ip4_is_gateway(const struct routed_vni *g, __be32 ip)
{
	return (g->flags & F_RVNI_GW4) && *(const __u32 *)g->gw_ip4 == ip;
}

static __always_inline int ip6_is_gateway(const struct routed_vni *g, const __u8 *ip)
{
	return (g->flags & F_RVNI_GW6) && ipv6_addr_equal(g->gw_ip6, ip);
}

/* An ARP request for the gateway IPv4 (broadcast, or unicast when a VM re-checks its cache):
 * answer "the gateway is at gw_mac". Returns VERDICT_GW_ARP_REPLY, a DROP_*, or GO_ON. */
static __always_inline int gw_answer_arp(const struct roam_config *cfg, __u32 ifindex, __u32 vni,
					 const struct routed_vni *g, struct ethhdr *eth,
					 struct cursor *c)
{
	struct arp_eth_ipv4 *arp = cursor_pull(c, sizeof(*arp));

	if (!arp)
		return DROP_TRUNCATED;
	if (!arp_is_eth_ipv4(arp) || arp->op != bpf_htons(ARPOP_REQUEST_ROAM))
		return GO_ON;
	/* a VM announcing the gateway's address as its own is not asking: let L2 see it */
	if (!ip4_is_gateway(g, *(__be32 *)arp->tpa) || arp_ip_equal(arp->spa, arp->tpa))
		return GO_ON;
	arp_prepare_reply(eth, arp, g->gw_mac);
	return fwd_reply(cfg, ifindex, vni, VERDICT_GW_ARP_REPLY);
}

/* An NS for the gateway IPv6 (multicast for resolution, unicast for NUD; not DAD): answer
 * with a solicited router NA "the gateway is at gw_mac". Returns VERDICT_GW_ND_REPLY, a DROP_*, or
 * GO_ON. */
static __always_inline int gw_answer_ns(struct xdp_md *ctx, const struct roam_config *cfg,
					__u32 ifindex, __u32 vni, const struct routed_vni *g,
					struct ethhdr *eth, struct ipv6hdr *ip6, struct cursor *c)
{
	struct nd_msg *nd = nd_parse(c, ip6);
	void *data, *data_end;
	struct nd_msg *na;
	__u16 flags_from;

	if (!nd || nd->type != ICMPV6_NS || ipv6_addr_is_unspecified(ip6->saddr.s6_addr))
		return GO_ON;
	if (!ip6_is_gateway(g, nd->target))
		return GO_ON;
	if (nd_prepare_na(ctx, eth->h_source, ip6->saddr.s6_addr, nd->target, g->gw_mac))
		return DROP_NO_HEADROOM;
	/* a router's NA says so (R flag, RFC 4861 7.2.4), or hosts take it off their router list */
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + ND_NA_FRAME_LEN > data_end)
		return DROP_NO_HEADROOM;
	na = data + sizeof(struct ethhdr) + sizeof(struct ipv6hdr);
	flags_from = *(__u16 *)&na->flags;
	na->flags |= ND_NA_FLAG_ROUTER;
	na->csum = csum_replace_word(na->csum, flags_from, *(__u16 *)&na->flags);
	return fwd_reply(cfg, ifindex, vni, VERDICT_GW_ND_REPLY);
}

/* An IPv4 echo request to the gateway: turned into the reply in place. Options are not
 * echoed back: such a request is dropped (DROP_NO_ROUTE, the gateway has no other service).
 * Returns VERDICT_GW_ECHO or a DROP_*. */
static __always_inline int gw_answer_echo4(const struct roam_config *cfg, __u32 ifindex,
					   __u32 vni, const struct routed_vni *g, struct ethhdr *eth,
					   struct iphdr *ip, void *data_end)
{
	struct icmp_head *icmp = (void *)(ip + 1);
	__be32 peer;

	if (ip->ihl != 5 || ip->protocol != IPPROTO_ICMP)
		return DROP_NO_ROUTE;
	if ((void *)(icmp + 1) > data_end)
		return DROP_TRUNCATED;
	if (icmp->type != ICMP_ECHO_ROAM || icmp->code != 0)
		return DROP_NO_ROUTE;
	/* swapping the addresses leaves both checksums as they are (the sum commutes) */
	peer = ip->saddr;
	ip->saddr = ip->daddr;
	ip->daddr = peer;
	ip->ttl = GW_REPLY_TTL;
	ip->check = 0;
	ip->check = csum_ipv4_header(ip);
	icmp->type = ICMP_ECHOREPLY_ROAM;
	icmp->csum = csum_replace_word(icmp->csum, bpf_htons(ICMP_ECHO_ROAM << 8),
				       bpf_htons(ICMP_ECHOREPLY_ROAM << 8));
	eth_addr_copy(eth->h_dest, eth->h_source);
	eth_addr_copy(eth->h_source, g->gw_mac);
	return fwd_reply(cfg, ifindex, vni, VERDICT_GW_ECHO);
}

/* An ICMPv6 echo request to the gateway, turned into the reply in place. Returns
 * VERDICT_GW_ECHO or a DROP_*. */
static __always_inline int gw_answer_echo6(const struct roam_config *cfg, __u32 ifindex,
					   __u32 vni, const struct routed_vni *g, struct ethhdr *eth,
					   struct ipv6hdr *ip6, void *data_end)
{
	struct icmp_head *icmp = (void *)(ip6 + 1);
	struct in6_addr peer;

	if (ip6->nexthdr != IPPROTO_ICMPV6)
		return DROP_NO_ROUTE;
	if ((void *)(icmp + 1) > data_end)
		return DROP_TRUNCATED;
	if (icmp->type != ICMPV6_ECHO_REQUEST_ROAM || icmp->code != 0)
		return DROP_NO_ROUTE;
	/* the pseudo-header sum does not change when source and destination swap */
	__builtin_memcpy(&peer, &ip6->saddr, sizeof(peer));
	__builtin_memcpy(&ip6->saddr, &ip6->daddr, sizeof(peer));
	__builtin_memcpy(&ip6->daddr, &peer, sizeof(peer));
	ip6->hop_limit = GW_REPLY_TTL;
	icmp->type = ICMPV6_ECHO_REPLY_ROAM;
	icmp->csum = csum_replace_word(icmp->csum, bpf_htons(ICMPV6_ECHO_REQUEST_ROAM << 8),
				       bpf_htons(ICMPV6_ECHO_REPLY_ROAM << 8));
	eth_addr_copy(eth->h_dest, eth->h_source);
	eth_addr_copy(eth->h_source, g->gw_mac);
	return fwd_reply(cfg, ifindex, vni, VERDICT_GW_ECHO);
}

/* Whether an unreachable may be sent about this packet: never about an ICMP error (RFC 1122
 * 3.2.2, RFC 4443 2.4(e)) nor about a fragment other than the first. */
static __always_inline int gw_may_answer4(const struct iphdr *ip, void *data_end)
{
	const struct icmp_head *icmp = (const void *)ip + ip->ihl * 4;

	if (ip->frag_off & bpf_htons(0x1fff))
		return 0;
	if (ip->protocol != IPPROTO_ICMP)
		return 1;
	if ((void *)(icmp + 1) > data_end)
		return 0;
	return icmp->type == ICMP_ECHO_ROAM;
}

static __always_inline int gw_may_answer6(const struct ipv6hdr *ip6, void *data_end)
{
	const struct icmp_head *icmp = (const void *)(ip6 + 1);

	if (ip6->nexthdr != IPPROTO_ICMPV6)
		return 1;
	if ((void *)(icmp + 1) > data_end)
		return 0;
	return icmp->type >= ICMPV6_INFO_MIN;
}

/* No route for an IPv4 packet, and the VN asks for an answer: the frame becomes "host
 * unreachable" from the gateway to the sender, quoting the packet's first
 * UNREACH4_QUOTE_LEN bytes. Room for the new headers is made in front, so the quoted packet
 * stays where it is. Returns VERDICT_UNREACH_REPLY or a DROP_*. */
static __always_inline int gw_answer_unreach4(struct xdp_md *ctx, const struct roam_config *cfg,
					      __u32 ifindex, __u32 vni,
					      const struct routed_vni *g)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	struct icmp_head *icmp;
	__u8 peer_mac[ETH_ALEN];
	__be32 peer_ip;
	int delta;

	if ((void *)(ip + 1) > data_end)
		return DROP_TRUNCATED;
	if (!gw_may_answer4(ip, data_end) || !(g->flags & F_RVNI_GW4))
		return DROP_NO_ROUTE;
	eth_addr_copy(peer_mac, eth->h_source);
	peer_ip = ip->saddr;
	if (bpf_xdp_adjust_head(ctx, -UNREACH4_HDRS_LEN))
		return DROP_NO_HEADROOM;
	/* cut (or zero-pad, the kernel clears what it adds) to exactly the quote */
	delta = UNREACH4_FRAME_LEN - (int)(ctx->data_end - ctx->data);
	if (delta && bpf_xdp_adjust_tail(ctx, delta))
		return DROP_NO_HEADROOM;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + UNREACH4_FRAME_LEN > data_end)
		return DROP_NO_HEADROOM;
	eth = data;
	ip = data + sizeof(*eth);
	icmp = (void *)(ip + 1);

	eth_addr_copy(eth->h_dest, peer_mac);
	eth_addr_copy(eth->h_source, g->gw_mac);
	store_u16(&eth->h_proto, bpf_htons(ETH_P_IP));
	*(__u16 *)ip = bpf_htons(0x4500); /* version 4, 20-byte header, TOS 0 */
	ip->tot_len = bpf_htons(UNREACH4_HDRS_LEN + UNREACH4_QUOTE_LEN);
	ip->id = 0;
	ip->frag_off = 0;
	ip->ttl = GW_REPLY_TTL;
	ip->protocol = IPPROTO_ICMP;
	ip->saddr = *(const __be32 *)g->gw_ip4;
	ip->daddr = peer_ip;
	ip->check = 0;
	ip->check = csum_ipv4_header(ip);
	icmp->type = ICMP_DEST_UNREACH_ROAM;
	icmp->code = ICMP_HOST_UNREACH_ROAM;
	icmp->csum = 0;
	icmp->rest = 0;
	icmp->csum = csum_fold(
		csum_add_words(0, (const __u16 *)icmp, (sizeof(*icmp) + UNREACH4_QUOTE_LEN) / 2));
	return fwd_reply(cfg, ifindex, vni, VERDICT_UNREACH_REPLY);
}

/* The IPv6 twin: "address unreachable" from the gateway, quoting UNREACH6_QUOTE_LEN bytes.
 * Returns VERDICT_UNREACH_REPLY or a DROP_*. */
static __always_inline int gw_answer_unreach6(struct xdp_md *ctx, const struct roam_config *cfg,
					      __u32 ifindex, __u32 vni,
					      const struct routed_vni *g)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6 = data + sizeof(*eth);
	struct icmp_head *icmp;
	__u8 peer_mac[ETH_ALEN];
	struct in6_addr peer_ip;
	__u32 sum;
	int delta;

	if ((void *)(ip6 + 1) > data_end)
		return DROP_TRUNCATED;
	if (!gw_may_answer6(ip6, data_end) || !(g->flags & F_RVNI_GW6))
		return DROP_NO_ROUTE;
	eth_addr_copy(peer_mac, eth->h_source);
	__builtin_memcpy(&peer_ip, &ip6->saddr, sizeof(peer_ip));
	if (bpf_xdp_adjust_head(ctx, -UNREACH6_HDRS_LEN))
		return DROP_NO_HEADROOM;
	delta = UNREACH6_FRAME_LEN - (int)(ctx->data_end - ctx->data);
	if (delta && bpf_xdp_adjust_tail(ctx, delta))
		return DROP_NO_HEADROOM;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + UNREACH6_FRAME_LEN > data_end)
		return DROP_NO_HEADROOM;
	eth = data;
	ip6 = data + sizeof(*eth);
	icmp = (void *)(ip6 + 1);

	eth_addr_copy(eth->h_dest, peer_mac);
	eth_addr_copy(eth->h_source, g->gw_mac);
	store_u16(&eth->h_proto, bpf_htons(ETH_P_IPV6));
	*(__be32 *)ip6 = bpf_htonl(0x60000000);
	ip6->payload_len = bpf_htons(sizeof(*icmp) + UNREACH6_QUOTE_LEN);
	ip6->nexthdr = IPPROTO_ICMPV6;
	ip6->hop_limit = GW_REPLY_TTL;
	__builtin_memcpy(&ip6->saddr, g->gw_ip6, 16);
	__builtin_memcpy(&ip6->daddr, &peer_ip, 16);
	icmp->type = ICMPV6_DEST_UNREACH_ROAM;
	icmp->code = ICMPV6_ADDR_UNREACH_ROAM;
	icmp->csum = 0;
	icmp->rest = 0;
	/* pseudo-header (source, destination, length, next header), then the message */
	sum = csum_add_words(0, (const __u16 *)&ip6->saddr, 16);
	sum += bpf_htons(sizeof(*icmp) + UNREACH6_QUOTE_LEN);
	sum += bpf_htons(IPPROTO_ICMPV6);
	sum = csum_add_words(sum, (const __u16 *)icmp, (sizeof(*icmp) + UNREACH6_QUOTE_LEN) / 2);
	icmp->csum = csum_fold(sum);
	return fwd_reply(cfg, ifindex, vni, VERDICT_UNREACH_REPLY);
}

#endif /* ROAM_LIB_GATEWAY_H */
