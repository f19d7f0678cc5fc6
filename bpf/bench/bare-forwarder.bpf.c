// SPDX-License-Identifier: Apache-2.0
/* The benchmark's floor: a VXLAN forwarder with no table lookups. bare_encap (XDP on a TSI)
 * wraps every frame for one fixed remote NVE and redirects it out the underlay; bare_decap
 * (XDP on the underlay) strips VXLAN from every IPv4/UDP-4789 frame and redirects it to one
 * fixed TSI. roam's programs do the same work plus lookups, checks and counters, so the gap
 * between the two rows is what roam's logic costs. Not for production: it checks nothing. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "bare-forwarder.h"

#define VXLAN_FLAG_VNI 0x08
#define IP_DF 0x4000
#define OUTER_TTL 64
/* Outer Ethernet + IPv4 + UDP + VXLAN headers. */
#define VXLAN_V4_OVERHEAD (sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct udphdr) + 8)

/* The VXLAN header (RFC 7348): flags, reserved, 24-bit VNI, reserved. */
struct vxlanhdr {
	__be32 flags;
	__be32 vni;
};

/* Set by the loader before load (.rodata): the verifier then sees constants. */
const volatile struct bare_config bare_cfg = {};

static __always_inline __u16 csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* The IPv4 header checksum over the 20-byte header (no options). */
static __always_inline __u16 ipv4_csum(struct iphdr *ip)
{
	__u16 *w = (__u16 *)ip;
	__u32 sum = 0;

#pragma unroll
	for (int i = 0; i < (int)(sizeof(*ip) / 2); i++)
		sum += w[i];
	return csum_fold(sum);
}

SEC("xdp")
int bare_encap(struct xdp_md *ctx)
{
	__u16 inner_len = (__u16)(ctx->data_end - ctx->data);

	/* Make room for the outer headers in front of the frame. */
	if (bpf_xdp_adjust_head(ctx, -(int)VXLAN_V4_OVERHEAD))
		return XDP_ABORTED;

	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);
	struct vxlanhdr *vx = (void *)(udp + 1);

	if ((void *)(vx + 1) > data_end)
		return XDP_ABORTED;

	__builtin_memcpy(eth->h_dest, (const void *)bare_cfg.outer_dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, (const void *)bare_cfg.outer_smac, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IP);

	ip->version = 4;
	ip->ihl = 5;
	ip->tos = 0;
	ip->tot_len = bpf_htons(inner_len + sizeof(*ip) + sizeof(*udp) + sizeof(*vx));
	ip->id = 0;
	ip->frag_off = bpf_htons(IP_DF);
	ip->ttl = OUTER_TTL;
	ip->protocol = IPPROTO_UDP;
	ip->check = 0;
	ip->saddr = bare_cfg.outer_saddr;
	ip->daddr = bare_cfg.outer_daddr;
	ip->check = ipv4_csum(ip);

	/* A fixed source port: one flow, no hashing (the floor). UDP checksum 0 is legal on IPv4. */
	udp->source = bpf_htons(49152);
	udp->dest = bpf_htons(bare_cfg.udp_dport);
	udp->len = bpf_htons(inner_len + sizeof(*udp) + sizeof(*vx));
	udp->check = 0;

	vx->flags = bpf_htonl(VXLAN_FLAG_VNI << 24);
	vx->vni = bpf_htonl(bare_cfg.vni << 8);

	return bpf_redirect(bare_cfg.underlay_ifindex, 0);
}

SEC("xdp")
int bare_decap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);
	struct vxlanhdr *vx = (void *)(udp + 1);

	/* Only IPv4 (no options) UDP to the VXLAN port is ours; the host keeps everything else. */
	if ((void *)(vx + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
		return XDP_PASS;
	if (udp->dest != bpf_htons(bare_cfg.udp_dport))
		return XDP_PASS;

	/* Strip the outer headers; the inner frame goes to the one TSI. */
	if (bpf_xdp_adjust_head(ctx, (int)VXLAN_V4_OVERHEAD))
		return XDP_ABORTED;
	return bpf_redirect(bare_cfg.tsi_ifindex, 0);
}

char LICENSE[] SEC("license") = "GPL";
