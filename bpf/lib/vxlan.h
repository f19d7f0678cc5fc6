/* SPDX-License-Identifier: Apache-2.0 */
/* vxlan.h: VXLAN (RFC 7348) over IPv4 or IPv6: the outer headers roam writes on encap,
 * the flow hash that picks the outer UDP source port (so underlay ECMP spreads flows), ECN
 * between inner and outer headers (RFC 6040 normal mode), next-hop resolution, and the parser
 * that recognises tunnelled frames addressed to us. */
#ifndef ROAM_LIB_VXLAN_H
#define ROAM_LIB_VXLAN_H

#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <linux/in.h>
#include "lib/maps.h"
#include "lib/eth.h"
#include "lib/csum.h"
#include "lib/nve.h"
#include "lib/slots.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

#define VXLAN_FLAG_I 0x08000000U /* "VNI present", the only flag RFC 7348 defines */
#define IPV4_DF 0x4000
#define ECN_MASK 0x3
#define ECN_NOT_ECT 0x0
#define ECN_CE 0x3
#define IPV4_FRAG_MASK 0x3fff /* MF + fragment offset */

struct vxlanhdr_roam {
	__be32 flags;
	__be32 vni; /* VNI in the upper 24 bits */
};

/* What the outer headers of a tunnelled frame say. */
struct vxlan_outer {
	__u32 vni;
	__u32 outer_len; /* bytes before the inner Ethernet header */
	struct nve_addr src;
	__u8 ecn; /* ECN field of the outer IP header */
};

/* What the outer headers take from the inner frame. */
struct inner_flow {
	__u16 sport; /* outer UDP source port */
	__u8 ecn;    /* inner ECN field (Not-ECT for non-IP frames), copied to the outer header */
};

/* Results of vxlan_parse_outer besides DROP_* verdicts. */
#define VXLAN_OURS 0
#define VXLAN_NOT_OURS (-1)

/* Outer UDP source port from the inner flow (MACs, plus IPs and ports when present), and the
 * inner ECN field. */
static __always_inline void tunnel_inner_flow(void *data, void *data_end, struct inner_flow *f)
{
	struct cursor c = { .pos = data, .end = data_end };
	struct ethhdr *eth = cursor_pull(&c, sizeof(*eth));
	__u32 h = 0x726f616d;

	f->sport = VXLAN_SRC_PORT_MIN;
	f->ecn = ECN_NOT_ECT;
	if (!eth)
		return;
	h = hash_mix(h, load_u32(eth->h_dest) ^ load_u16(eth->h_dest + 4));
	h = hash_mix(h, load_u32(eth->h_source) ^ load_u16(eth->h_source + 4));
	if (eth_proto(eth) == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = cursor_pull(&c, sizeof(*iph));

		if (iph) {
			f->ecn = iph->tos & ECN_MASK;
			h = hash_mix(h, iph->saddr);
			h = hash_mix(h, iph->daddr ^ iph->protocol);
			/* ports only when the L4 header follows a plain header of a first fragment */
			if (iph->ihl == 5 && !(iph->frag_off & bpf_htons(IPV4_FRAG_MASK)) &&
			    (iph->protocol == IPPROTO_TCP || iph->protocol == IPPROTO_UDP)) {
				__u32 *ports = cursor_pull(&c, sizeof(__u32));

				if (ports)
					h = hash_mix(h, *ports);
			}
		}
	} else if (eth_proto(eth) == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = cursor_pull(&c, sizeof(*ip6));

		if (ip6) {
			f->ecn = (bpf_ntohl(*(__be32 *)ip6) >> 20) & ECN_MASK;
			h = hash_mix(h, ip6->saddr.s6_addr32[3] ^ ip6->saddr.s6_addr32[2]);
			h = hash_mix(h, ip6->daddr.s6_addr32[3] ^ ip6->daddr.s6_addr32[2]);
			if (ip6->nexthdr == IPPROTO_TCP || ip6->nexthdr == IPPROTO_UDP) {
				__u32 *ports = cursor_pull(&c, sizeof(__u32));

				if (ports)
					h = hash_mix(h, *ports ^ ip6->nexthdr);
			}
		}
	}
	f->sport = VXLAN_SRC_PORT_MIN | (h & 0x3fff);
}

/* RFC 6040 decapsulation: a CE mark on the outer header is carried into an ECN-capable
 * inner IP header (IPv4 checksum updated, RFC 1624); a CE-marked tunnel packet around a
 * Not-ECT inner packet is dropped, as the RFC asks. Non-IP inner frames are left alone.
 * `inner` points at the inner Ethernet header. Returns 0 or DROP_ECN. */
static __always_inline int ecn_decapsulate(__u8 outer_ecn, struct ethhdr *inner, void *data_end)
{
	if (outer_ecn != ECN_CE)
		return 0;
	if (eth_proto(inner) == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = (void *)(inner + 1);
		__u16 old, new;
		__u32 sum;

		if ((void *)(iph + 1) > data_end)
			return 0;
		if ((iph->tos & ECN_MASK) == ECN_NOT_ECT)
			return DROP_ECN;
		if ((iph->tos & ECN_MASK) == ECN_CE)
			return 0;
		old = *(__u16 *)iph;
		iph->tos |= ECN_CE;
		new = *(__u16 *)iph;
		sum = (__u16)~iph->check + (__u16)~old + new;
		iph->check = csum_fold(sum);
	} else if (eth_proto(inner) == bpf_htons(ETH_P_IPV6)) {
		__be32 *w = (void *)(inner + 1);
		__u32 first;

		if ((void *)(w + 1) > data_end)
			return 0;
		first = bpf_ntohl(*w);
		if (((first >> 20) & ECN_MASK) == ECN_NOT_ECT)
			return DROP_ECN;
		*w = bpf_htonl(first | (ECN_CE << 20));
	}
	return 0;
}

static __always_inline __u32 vxlan_encap_len(__u8 family)
{
	return family == FAMILY_V6 ? VXLAN_ENCAP_LEN_V6 : VXLAN_ENCAP_LEN_V4;
}

/* The underlay MAC to `remote` from the kernel's FIB and neighbour table (F_CFG_FIB). Returns
 * 0 with mac filled, or DROP_NO_NEXTHOP. Its own function so that zeroing the 64-byte
 * request happens only here, not on every frame that has a nexthops entry. */
static __always_inline int nexthop_fib_lookup(void *ctx, const struct roam_config *cfg,
					      const struct nve_addr *remote, __u8 *mac)
{
	struct bpf_fib_lookup fib = {};

	fib.ifindex = cfg->underlay_ifindex;
	if (remote->family == FAMILY_V4) {
		fib.family = AF_INET;
		fib.ipv4_src = *(__u32 *)cfg->local_ip4;
		fib.ipv4_dst = *(__u32 *)remote->ip;
	} else {
		fib.family = AF_INET6;
		__builtin_memcpy(fib.ipv6_src, cfg->local_ip6, 16);
		__builtin_memcpy(fib.ipv6_dst, remote->ip, 16);
	}
	if (bpf_fib_lookup(ctx, &fib, sizeof(fib), BPF_FIB_LOOKUP_DIRECT) !=
	    BPF_FIB_LKUP_RET_SUCCESS)
		return DROP_NO_NEXTHOP;
	eth_addr_copy(mac, fib.dmac);
	return 0;
}

/* The underlay MAC to send to `remote` through: nexthops entry, else the gateway, else a
 * FIB lookup when enabled. Returns 0 with mac filled, or DROP_NO_NEXTHOP. A miss is never
 * sent somewhere wrong. */
static __always_inline int nexthop_resolve(void *ctx, const struct roam_config *cfg,
					   const struct nve_addr *remote, __u8 *mac)
{
	struct nexthop *nh = nexthop_lookup(remote);

	if (nh) {
		eth_addr_copy_words(mac, nh->mac);
		return 0;
	}
	if (cfg->flags & F_CFG_GATEWAY) {
		eth_addr_copy_words(mac, cfg->gateway_mac);
		return 0;
	}
	if (!(cfg->flags & F_CFG_FIB))
		return DROP_NO_NEXTHOP;
	return nexthop_fib_lookup(ctx, cfg, remote, mac);
}

/* UDP + VXLAN part of the outer headers. */
static __always_inline void vxlan_write_udp(struct udphdr *udp, const struct roam_config *cfg,
					    __u32 vni, const struct inner_flow *flow, __u16 udp_len)
{
	struct vxlanhdr_roam *vx = (void *)(udp + 1);

	udp->source = bpf_htons(flow->sport);
	udp->dest = bpf_htons(cfg->udp_port);
	udp->len = bpf_htons(udp_len);
	/* zero: optional over IPv4 (RFC 7348), allowed for tunnels over IPv6 (RFC 6935/6936) */
	udp->check = 0;
	vx->flags = bpf_htonl(VXLAN_FLAG_I);
	vx->vni = bpf_htonl(vni << 8);
}

/* Writes the VXLAN_ENCAP_LEN_V4 outer bytes at data for an IPv4 remote; inner_len is the
 * inner frame's length. */
static __always_inline void vxlan_write_outer_v4(void *data, const struct roam_config *cfg,
						 const struct nve_addr *remote, const __u8 *dmac,
						 __u32 vni, const struct inner_flow *flow,
						 __u32 inner_len)
{
	struct ethhdr *eth = data;
	struct iphdr *iph = data + sizeof(*eth);
	__u16 udp_len = sizeof(struct udphdr) + sizeof(struct vxlanhdr_roam) + inner_len;

	eth_addr_copy_words(eth->h_dest, dmac);
	eth_addr_copy_words(eth->h_source, cfg->local_mac);
	store_u16(&eth->h_proto, bpf_htons(ETH_P_IP));
	iph->version = 4;
	iph->ihl = 5;
	/* ECN copied from the inner header (RFC 6040 normal mode); DSCP not inherited */
	iph->tos = flow->ecn;
	iph->tot_len = bpf_htons(sizeof(*iph) + udp_len);
	iph->id = 0;
	/* DF: the underlay MTU is checked here, a frame is never fragmented on the way */
	iph->frag_off = bpf_htons(IPV4_DF);
	iph->ttl = cfg->ttl ? cfg->ttl : UNDERLAY_DEFAULT_TTL;
	iph->protocol = IPPROTO_UDP;
	iph->check = 0;
	iph->saddr = *(__u32 *)cfg->local_ip4;
	iph->daddr = *(__u32 *)remote->ip;
	iph->check = csum_ipv4_header(iph);
	vxlan_write_udp((void *)(iph + 1), cfg, vni, flow, udp_len);
}

/* Writes the VXLAN_ENCAP_LEN_V6 outer bytes at data for an IPv6 remote. */
static __always_inline void vxlan_write_outer_v6(void *data, const struct roam_config *cfg,
						 const struct nve_addr *remote, const __u8 *dmac,
						 __u32 vni, const struct inner_flow *flow,
						 __u32 inner_len)
{
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6 = data + sizeof(*eth);
	__u16 udp_len = sizeof(struct udphdr) + sizeof(struct vxlanhdr_roam) + inner_len;

	eth_addr_copy_words(eth->h_dest, dmac);
	eth_addr_copy_words(eth->h_source, cfg->local_mac);
	store_u16(&eth->h_proto, bpf_htons(ETH_P_IPV6));
	*(__be32 *)ip6 = bpf_htonl(0x60000000 | ((__u32)flow->ecn << 20));
	ip6->payload_len = bpf_htons(udp_len);
	ip6->nexthdr = IPPROTO_UDP;
	ip6->hop_limit = cfg->ttl ? cfg->ttl : UNDERLAY_DEFAULT_TTL;
	__builtin_memcpy(ip6->saddr.s6_addr, cfg->local_ip6, 16);
	__builtin_memcpy(ip6->daddr.s6_addr, remote->ip, 16);
	vxlan_write_udp((void *)(ip6 + 1), cfg, vni, flow, udp_len);
}

/* Checks the underlay can carry a frame of inner_len bytes to `remote`: our address of that
 * family is configured and the outer IP packet fits the MTU. Returns 0 or a DROP_*. */
static __always_inline int vxlan_check_fits(const struct roam_config *cfg,
					    const struct nve_addr *remote, __u32 inner_len)
{
	__u32 outer_ip_len;

	if (remote->family == FAMILY_V6) {
		if (!(cfg->flags & F_CFG_HAS_IP6))
			return DROP_NO_UNDERLAY;
	} else if (remote->family == FAMILY_V4) {
		if (!(cfg->flags & F_CFG_HAS_IP4))
			return DROP_NO_UNDERLAY;
	} else {
		return DROP_NO_UNDERLAY;
	}
	if (!cfg->underlay_ifindex || !cfg->udp_port)
		return DROP_NO_UNDERLAY;
	outer_ip_len = vxlan_encap_len(remote->family) - sizeof(struct ethhdr) + inner_len;
	if (outer_ip_len > cfg->mtu)
		return DROP_MTU;
	return 0;
}

/* XDP: encapsulates the whole frame for `remote` in VNI vni. Returns 0 (frame ready to leave
 * through the underlay) or a DROP_* verdict. */
static __always_inline int xdp_vxlan_encap(struct xdp_md *ctx, const struct roam_config *cfg,
					   const struct nve_addr *remote, __u32 vni)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 inner_len = data_end - data;
	__u32 len = vxlan_encap_len(remote->family);
	struct inner_flow flow;
	__u8 dmac[ETH_ALEN] __attribute__((aligned(2)));
	int err;

	err = vxlan_check_fits(cfg, remote, inner_len);
	if (err)
		return err;
	err = nexthop_resolve(ctx, cfg, remote, dmac);
	if (err)
		return err;
	tunnel_inner_flow(data, data_end, &flow);
	if (bpf_xdp_adjust_head(ctx, -(int)len))
		return DROP_NO_HEADROOM;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (remote->family == FAMILY_V6) {
		if (data + VXLAN_ENCAP_LEN_V6 > data_end)
			return DROP_NO_HEADROOM;
		vxlan_write_outer_v6(data, cfg, remote, dmac, vni, &flow, inner_len);
	} else {
		if (data + VXLAN_ENCAP_LEN_V4 > data_end)
			return DROP_NO_HEADROOM;
		vxlan_write_outer_v4(data, cfg, remote, dmac, vni, &flow, inner_len);
	}
	return 0;
}

/* Recognises a VXLAN packet to our address and port at the cursor (outer Ethernet already
 * pulled as eth). Returns VXLAN_OURS with out filled, VXLAN_NOT_OURS for anything the
 * kernel should see untouched, or a DROP_* for a broken or fragmented tunnel packet. */
static __always_inline int vxlan_parse_outer(struct cursor *c, const struct ethhdr *eth,
					     const struct roam_config *cfg, struct vxlan_outer *out)
{
	struct udphdr *udp;
	struct vxlanhdr_roam *vx;
	void *start = (void *)eth;

	if (eth_proto(eth) == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = cursor_pull(c, sizeof(*iph));
		__u32 opt_len;

		if (!iph || !(cfg->flags & F_CFG_HAS_IP4))
			return VXLAN_NOT_OURS;
		if (iph->version != 4 || iph->ihl < 5 || iph->protocol != IPPROTO_UDP ||
		    iph->daddr != *(__u32 *)cfg->local_ip4)
			return VXLAN_NOT_OURS;
		/* a later fragment carries no UDP header: not recognisable, the kernel gets it */
		if (iph->frag_off & bpf_htons(0x1fff))
			return VXLAN_NOT_OURS;
		opt_len = (iph->ihl - 5) * 4;
		if (opt_len && !cursor_pull(c, opt_len & 0x3f))
			return VXLAN_NOT_OURS;
		udp = cursor_pull(c, sizeof(*udp));
		if (!udp || udp->dest != bpf_htons(cfg->udp_port))
			return VXLAN_NOT_OURS;
		/* the first fragment of VXLAN to us: we never reassemble */
		if (iph->frag_off & bpf_htons(0x2000))
			return DROP_FRAGMENT;
		out->ecn = iph->tos & ECN_MASK;
		out->src.family = FAMILY_V4;
		__builtin_memset(out->src.ip, 0, sizeof(out->src.ip));
		*(__u32 *)out->src.ip = iph->saddr;
	} else if (eth_proto(eth) == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = cursor_pull(c, sizeof(*ip6));

		if (!ip6 || !(cfg->flags & F_CFG_HAS_IP6))
			return VXLAN_NOT_OURS;
		/* only UDP straight after the fixed header: extension headers go to the kernel */
		if (ip6->version != 6 || ip6->nexthdr != IPPROTO_UDP ||
		    !ipv6_addr_equal(ip6->daddr.s6_addr, cfg->local_ip6))
			return VXLAN_NOT_OURS;
		udp = cursor_pull(c, sizeof(*udp));
		if (!udp || udp->dest != bpf_htons(cfg->udp_port))
			return VXLAN_NOT_OURS;
		out->ecn = (bpf_ntohl(*(__be32 *)ip6) >> 20) & ECN_MASK;
		out->src.family = FAMILY_V6;
		__builtin_memcpy(out->src.ip, ip6->saddr.s6_addr, 16);
	} else {
		return VXLAN_NOT_OURS;
	}
	__builtin_memset(out->src._pad, 0, sizeof(out->src._pad));
	vx = cursor_pull(c, sizeof(*vx));
	if (!vx || bpf_ntohs(udp->len) < sizeof(*udp) + sizeof(*vx) + sizeof(struct ethhdr))
		return DROP_TRUNCATED;
	if (!(vx->flags & bpf_htonl(VXLAN_FLAG_I)))
		return DROP_BAD_VXLAN;
	out->vni = bpf_ntohl(vx->vni) >> 8;
	out->outer_len = c->pos - start;
	return VXLAN_OURS;
}

#endif /* ROAM_LIB_VXLAN_H */
