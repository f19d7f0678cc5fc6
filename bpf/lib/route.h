/* SPDX-License-Identifier: Apache-2.0 */
/* route.h: routing in the L3 overlay. A frame a VM sends to the anycast gateway MAC is routed
 * by (VRF, destination IP): host route, then longest prefix; to a VM on a local TSI (MACs
 * rewritten) or to an NVE over the VRF's L3 VNI. Tunnelled frames of an L3 VNI are routed
 * once more at the NVE they reach: delivered to the local VM, or re-tunnelled straight to the
 * NVE a moved VM lives on now. The two stages return a verdict, or GO_ON for L2 frames. */
#ifndef ROAM_LIB_ROUTE_H
#define ROAM_LIB_ROUTE_H

#include <linux/ip.h>
#include <linux/ipv6.h>
#include "roam.h"
#include "lib/route-maps.h"
#include "lib/gateway.h"
#include "lib/forward.h"
#include "lib/vxlan.h"

/* The destination of a routed packet, read once from its IP header. */
struct route_dst {
	__u8 family;
	__u8 ttl; /* TTL / hop limit as received */
	__u8 ip[IP_ADDR_LEN];
};

/* The route to dst inside vrf: a host route, else the longest matching prefix; copied to
 * *out (a map value may change under us). Returns 1 when found. */
static __always_inline int route_lookup(__u32 vrf, const struct route_dst *dst,
					struct route_entry *out)
{
	struct route_key hk = { .vrf = vrf, .family = dst->family };
	struct route_lpm_key lk = { .vrf = vrf, .family = dst->family };
	struct route_entry *e;

	__builtin_memcpy(hk.ip, dst->ip, IP_ADDR_LEN);
	e = bpf_map_lookup_elem(&host_routes, &hk);
	/* an anchored address in use: say so once per agent check, not a write per packet */
	if (e && (e->flags & (F_ROUTE_ANCHOR | F_ROUTE_USED)) == F_ROUTE_ANCHOR)
		e->flags |= F_ROUTE_USED;
	if (!e) {
		lk.prefixlen = ROUTE_LPM_FIXED_BITS + (dst->family == FAMILY_V4 ? 32 : 128);
		__builtin_memcpy(lk.ip, dst->ip, IP_ADDR_LEN);
		e = bpf_map_lookup_elem(&prefix_routes, &lk);
	}
	if (!e)
		return 0;
	__builtin_memcpy(out, e, sizeof(*out));
	return 1;
}

/* The routed_vnis entry of vni, or NULL. A VNI whose routed_mask bit is clear has none, so
 * the common case (a VN that is not routed) costs an array read, not a hash lookup. */
static __always_inline struct routed_vni *routed_vni_get(__u32 vni)
{
	__u32 word = (vni & VNI_MAX) / ROUTED_MASK_BITS_PER_WORD;
	__u64 *bits = bpf_map_lookup_elem(&routed_mask, &word);

	if (!bits || !(*bits & (1ULL << (vni % ROUTED_MASK_BITS_PER_WORD))))
		return NULL;
	return bpf_map_lookup_elem(&routed_vnis, &vni);
}

/* Reads family, TTL and destination of the IP packet after eth into *dst. Returns GO_ON,
 * DROP_TRUNCATED, or DROP_NO_ROUTE for a frame that is not IP. */
static __always_inline int route_parse_dst(const struct ethhdr *eth, void *data_end,
					   struct route_dst *dst)
{
	if (eth_proto(eth) == bpf_htons(ETH_P_IP)) {
		const struct iphdr *ip = (const void *)(eth + 1);

		if ((void *)(ip + 1) > data_end)
			return DROP_TRUNCATED;
		if (ip->version != 4 || ip->ihl < 5)
			return DROP_TRUNCATED;
		dst->family = FAMILY_V4;
		dst->ttl = ip->ttl;
		__builtin_memcpy(dst->ip, &ip->daddr, 4);
		return GO_ON;
	}
	if (eth_proto(eth) == bpf_htons(ETH_P_IPV6)) {
		const struct ipv6hdr *ip6 = (const void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end)
			return DROP_TRUNCATED;
		dst->family = FAMILY_V6;
		dst->ttl = ip6->hop_limit;
		__builtin_memcpy(dst->ip, &ip6->daddr, IP_ADDR_LEN);
		return GO_ON;
	}
	return DROP_NO_ROUTE;
}

/* One routing hop: TTL / hop limit minus one, the IPv4 checksum updated incrementally (RFC
 * 1624, as the kernel's ip_decrease_ttl). The caller checked the header is in the frame. */
static __always_inline void route_decrement_ttl(struct ethhdr *eth, void *data_end)
{
	if (eth_proto(eth) == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		__u32 check;

		if ((void *)(ip + 1) > data_end)
			return;
		/* TTL is the high byte of its 16-bit word: the sum grows by 0x0100 */
		check = ip->check;
		check += bpf_htons(0x0100);
		ip->check = (__u16)(check + (check >= 0xffff));
		ip->ttl--;
	} else {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end)
			return;
		ip6->hop_limit--;
	}
}

/* Sends a routed frame (TTL already decremented, eth at the start of the frame) where route
 * e says, never outside vrf: the target VN must be a routed VN (local) or the L3 VNI (remote)
 * of the same VRF, so a wrong table entry cannot leak a packet. Returns `local_ok` /
 * `remote_ok` or a DROP_*. */
static __always_inline int route_send(struct xdp_md *ctx, const struct roam_config *cfg,
				      __u32 in_ifindex, __u32 vrf, const struct route_entry *e,
				      int local_ok, int remote_ok)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct routed_vni *to;

	if ((void *)(eth + 1) > data_end)
		return DROP_TRUNCATED;
	to = bpf_map_lookup_elem(&routed_vnis, &e->vni);
	if (!to || to->vrf != vrf)
		return DROP_VRF_MISMATCH;
	if (e->kind == ROUTE_LOCAL) {
		if (!(to->flags & F_RVNI_ROUTED))
			return DROP_VRF_MISMATCH;
		/* the VM sees its own subnet's gateway as the last hop */
		eth_addr_copy(eth->h_source, to->gw_mac);
		eth_addr_copy(eth->h_dest, e->mac);
		return fwd_deliver_local(cfg, in_ifindex, e->vni, e->ifindex, local_ok);
	}
	if (e->kind == ROUTE_REMOTE) {
		if (!(to->flags & F_RVNI_L3))
			return DROP_VRF_MISMATCH;
		/* inner MACs on the L3 VNI: router to router (the anycast MAC on both ends) */
		eth_addr_copy(eth->h_source, to->gw_mac);
		eth_addr_copy(eth->h_dest, to->gw_mac);
		return fwd_send_remote(ctx, cfg, e->vni, &e->remote, remote_ok);
	}
	return DROP_NO_ROUTE;
}

/* TSI stage, before the L2 handlers: in a routed VN, ARP / NS / echo for the gateway are
 * answered, and IP to the gateway MAC is routed. Everything else goes on to L2 (GO_ON). */
static __always_inline int l3_tsi_stage(struct xdp_md *ctx, const struct roam_config *cfg,
					__u32 ifindex, __u32 vni)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct cursor c = { .pos = data, .end = data_end };
	struct route_dst dst = {};
	struct route_entry e;
	struct routed_vni g;
	struct routed_vni *gp;
	struct ethhdr *eth;
	int verdict;

	gp = routed_vni_get(vni);
	if (!gp || !(gp->flags & F_RVNI_ROUTED))
		return GO_ON;
	__builtin_memcpy(&g, gp, sizeof(g));
	eth = cursor_pull(&c, sizeof(*eth));
	if (!eth)
		return DROP_TRUNCATED;

	if (eth_proto(eth) == bpf_htons(ETH_P_ARP))
		return gw_answer_arp(cfg, ifindex, vni, &g, eth, &c);
	if (eth_proto(eth) == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end)
			return DROP_TRUNCATED;
		if (ip6->nexthdr == IPPROTO_ICMPV6) {
			struct cursor nc = { .pos = (void *)(ip6 + 1), .end = data_end };

			verdict = gw_answer_ns(ctx, cfg, ifindex, vni, &g, eth, ip6, &nc);
			if (verdict != GO_ON)
				return verdict;
		}
		if (!eth_addr_equal(eth->h_dest, g.gw_mac))
			return GO_ON;
		if (ip6_is_gateway(&g, ip6->daddr.s6_addr))
			return gw_answer_echo6(cfg, ifindex, vni, &g, eth, ip6, data_end);
	} else if (eth_proto(eth) == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if (!eth_addr_equal(eth->h_dest, g.gw_mac))
			return GO_ON;
		if ((void *)(ip + 1) > data_end)
			return DROP_TRUNCATED;
		if (ip4_is_gateway(&g, ip->daddr))
			return gw_answer_echo4(cfg, ifindex, vni, &g, eth, ip, data_end);
	} else if (!eth_addr_equal(eth->h_dest, g.gw_mac)) {
		return GO_ON;
	}

	/* to the gateway MAC and not for the gateway itself: route it */
	verdict = route_parse_dst(eth, data_end, &dst);
	if (verdict != GO_ON)
		return verdict;
	/* the kernel sends time exceeded (it needs the gateway address on the TSI) */
	if (dst.ttl <= 1)
		return VERDICT_TTL_EXPIRED;
	if (!route_lookup(g.vrf, &dst, &e)) {
		if (!(g.flags & F_RVNI_UNREACH))
			return DROP_NO_ROUTE;
		if (dst.family == FAMILY_V4)
			return gw_answer_unreach4(ctx, cfg, ifindex, vni, &g);
		return gw_answer_unreach6(ctx, cfg, ifindex, vni, &g);
	}
	route_decrement_ttl(eth, data_end);
	return route_send(ctx, cfg, ifindex, g.vrf, &e, VERDICT_ROUTED_LOCAL,
			  VERDICT_ROUTED_REMOTE);
}

/* Underlay stage, after the peer check: a frame of an L3 VNI is routed in that VNI's VRF
 * (a frame of any other VNI goes on to L2: GO_ON). The sending NVE already took the hop off
 * the TTL; a re-tunnel (the VM moved on) takes one more, so a loop of stale routes ends. */
static __always_inline int l3_underlay_stage(struct xdp_md *ctx, const struct roam_config *cfg,
					     __u32 vni, const struct vxlan_outer *outer,
					     struct ethhdr *inner)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct route_dst dst = {};
	struct route_entry e;
	struct routed_vni *l3;
	__u32 vrf;
	int verdict;

	l3 = routed_vni_get(vni);
	if (!l3 || !(l3->flags & F_RVNI_L3))
		return GO_ON;
	vrf = l3->vrf;
	verdict = route_parse_dst(inner, data_end, &dst);
	if (verdict != GO_ON)
		return verdict;
	if (!route_lookup(vrf, &dst, &e))
		return DROP_NO_ROUTE;
	if (e.kind == ROUTE_REMOTE) {
		/* back to the NVE that sent it: both hold stale routes, do not ping-pong */
		if (nve_addr_equal(&outer->src, &e.remote) || dst.ttl <= 1)
			return DROP_RETUNNEL_LOOP;
	}
	if (bpf_xdp_adjust_head(ctx, (int)(outer->outer_len & 0xff)))
		return DROP_NO_HEADROOM;
	if (e.kind == ROUTE_REMOTE) {
		void *data = (void *)(long)ctx->data;

		data_end = (void *)(long)ctx->data_end;
		if (data + sizeof(struct ethhdr) > data_end)
			return DROP_TRUNCATED;
		route_decrement_ttl(data, data_end);
	}
	return route_send(ctx, cfg, 0, vrf, &e, VERDICT_ROUTED_LOCAL, VERDICT_RETUNNEL);
}

#endif /* ROAM_LIB_ROUTE_H */
