// SPDX-License-Identifier: Apache-2.0
/* tsi.bpf.c: XDP on every tenant system interface (the host end of a VM's tap/veth).
 * A frame from a VM is answered here (ARP, NS, RARP for known addresses: the answer is
 * redirected back out the same TSI), reported (GARP,
 * unsolicited NA, RARP, unknown source MAC), delivered to a local TSI of its VNI, tunnelled
 * to the NVE that serves its destination, or handed to TC for flooding. Every frame ends
 * at `out`, where its verdict is counted. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "roam.h"
#include "lib/maps.h"
#include "lib/slots.h"
#include "lib/eth.h"
#include "lib/stats.h"
#include "lib/events.h"
#include "lib/arp.h"
#include "lib/nd.h"
#include "lib/forward.h"
#include "lib/route.h"

/* Whether this frame's source MAC is looked up. A new or migrated VM announces itself (GARP,
 * NA, RARP) or broadcasts (ARP, DHCP, ND) before anything else, and those are always checked;
 * the unicast data frames that follow are sampled, which keeps a cold fdb lookup off most of
 * the fast path. Strict TSIs check every frame: there the check is the anti-spoofing. */
static __always_inline int tsi_source_needs_check(const struct tsi_info *tsi,
						  const struct ethhdr *eth)
{
	__u32 zero = 0, *n;

	if (LEARN_SAMPLE_MASK == 0 || (tsi->flags & F_TSI_STRICT_SRC) || eth_is_group(eth->h_dest))
		return 1;
	if (eth_proto(eth) != bpf_htons(ETH_P_IP) && eth_proto(eth) != bpf_htons(ETH_P_IPV6))
		return 1;
	n = bpf_map_lookup_elem(&learn_sample, &zero);
	if (!n)
		return 1;
	return ((*n)++ & LEARN_SAMPLE_MASK) == 0;
}

/* Source MAC: one the tables do not place on this TSI is reported (a new or migrated VM)
 * and, on strict TSIs, dropped. */
static __always_inline int tsi_check_source(const struct roam_config *cfg,
					    const struct tsi_info *tsi, __u32 ifindex,
					    const struct ethhdr *eth)
{
	struct fdb_key key = { .vni = tsi->vni };
	struct fdb_entry *e;

	eth_addr_copy_words(key.mac, eth->h_source);
	e = bpf_map_lookup_elem(&fdb, &key);
	/* a migrating VM (dual) still lives here until its move completes */
	if (e && (e->kind == FDB_LOCAL || e->kind == FDB_DUAL) && e->ifindex == ifindex)
		return GO_ON;
	event_emit(cfg, ifindex, tsi->vni, eth->h_source, EVENT_NEW_MAC, FAMILY_NONE, NULL);
	if (tsi->flags & F_TSI_STRICT_SRC)
		return DROP_SRC_NOT_ALLOWED;
	return GO_ON;
}

/* ARP: answer a request for an IP we know (unless it is the asker's own: a probe), report a
 * gratuitous ARP and let it flood so neighbours update their caches. */
static __always_inline int tsi_handle_arp(const struct roam_config *cfg,
					  const struct tsi_info *tsi, __u32 ifindex,
					  __u32 vni, struct ethhdr *eth, struct cursor *c)
{
	struct arp_eth_ipv4 *arp = cursor_pull(c, sizeof(*arp));
	struct neigh_key key = { .vni = vni, .family = FAMILY_V4 };
	struct neigh_entry *n;

	if (!arp)
		return DROP_TRUNCATED;
	if (!arp_is_eth_ipv4(arp))
		return DROP_BAD_ARP;
	if (arp_is_gratuitous(arp)) {
		event_announce(cfg, tsi, ifindex, vni, eth->h_source, arp->sha, EVENT_GARP, FAMILY_V4,
			       arp->spa);
		return GO_ON;
	}
	if (arp->op != bpf_htons(ARPOP_REQUEST_ROAM))
		return GO_ON;
	__builtin_memcpy(key.ip, arp->tpa, 4);
	n = bpf_map_lookup_elem(&neigh, &key);
	if (!n || eth_addr_equal(n->mac, arp->sha))
		return GO_ON;
	/* an ARP request for an IP we know: answer it here, nothing floods */
	arp_prepare_reply(eth, arp, n->mac);
	return fwd_reply(cfg, ifindex, vni, VERDICT_ARP_REPLY);
}

/* RARP request (a diskless VM, or QEMU announcing a migrated VM): report it, and answer
 * with the MAC's IPv4 address when the tables know it. */
static __always_inline int tsi_handle_rarp(const struct roam_config *cfg,
					   const struct tsi_info *tsi, __u32 ifindex,
					   __u32 vni, struct ethhdr *eth, struct cursor *c)
{
	struct arp_eth_ipv4 *arp = cursor_pull(c, sizeof(*arp));
	struct fdb_key key = { .vni = vni };
	struct fdb_entry *e;

	if (!arp)
		return DROP_TRUNCATED;
	if (!arp_is_eth_ipv4(arp))
		return DROP_BAD_ARP;
	if (arp->op != bpf_htons(ARPOP_RREQUEST_ROAM))
		return GO_ON;
	event_announce(cfg, tsi, ifindex, vni, eth->h_source, arp->sha, EVENT_RARP, FAMILY_NONE,
		       NULL);
	eth_addr_copy(key.mac, arp->tha);
	/* the MAC's IPv4 rides in its FDB entry (0.0.0.0: none known) */
	e = bpf_map_lookup_elem(&fdb, &key);
	if (!e || !(e->rarp_ip4[0] | e->rarp_ip4[1] | e->rarp_ip4[2] | e->rarp_ip4[3]))
		return VERDICT_ANNOUNCE;
	rarp_prepare_reply(eth, arp, e->rarp_ip4);
	return fwd_reply(cfg, ifindex, vni, VERDICT_RARP_REPLY);
}

/* IPv6: answer an NS for a target we know (not DAD, whose answer would fail the asker's
 * address; not the asker's own), report an unsolicited NA and let it flood. */
static __always_inline int tsi_handle_ipv6(struct xdp_md *ctx, const struct roam_config *cfg,
					   const struct tsi_info *tsi,
					   __u32 ifindex, __u32 vni, struct ethhdr *eth,
					   struct cursor *c)
{
	struct ipv6hdr *ip6 = cursor_pull(c, sizeof(*ip6));
	struct neigh_key key = { .vni = vni, .family = FAMILY_V6 };
	struct neigh_entry *n;
	struct nd_msg *nd;

	if (!ip6)
		return DROP_TRUNCATED;
	nd = nd_parse(c, ip6);
	if (!nd)
		return GO_ON;
	if (nd_is_unsolicited_na(ip6, nd)) {
		event_announce(cfg, tsi, ifindex, vni, eth->h_source, eth->h_source,
			       EVENT_UNSOLICITED_NA, FAMILY_V6, nd->target);
		return GO_ON;
	}
	if (nd->type != ICMPV6_NS || ipv6_addr_is_unspecified(ip6->saddr.s6_addr))
		return GO_ON;
	__builtin_memcpy(key.ip, nd->target, 16);
	n = bpf_map_lookup_elem(&neigh, &key);
	if (!n || eth_addr_equal(n->mac, eth->h_source))
		return GO_ON;
	if (nd_prepare_na(ctx, eth->h_source, ip6->saddr.s6_addr, nd->target, n->mac))
		return DROP_NO_HEADROOM;
	return fwd_reply(cfg, ifindex, vni, VERDICT_ND_REPLY);
}

/* Destination MAC: flood group addresses; local, remote, moved or dual (migrating) unicast by
 * the fdb; an unknown unicast is dropped unless the VNI floods it. */
static __always_inline int tsi_forward(struct xdp_md *ctx, const struct roam_config *cfg,
				       __u32 ifindex, __u32 vni)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct fdb_key key = { .vni = vni };
	struct fdb_entry *e;
	struct vni_info *vi;

	if ((void *)(eth + 1) > data_end)
		return DROP_TRUNCATED;
	if (eth_is_group(eth->h_dest))
		return fwd_flood_handoff(ctx, cfg, vni, 0, VERDICT_FLOOD);
	eth_addr_copy_words(key.mac, eth->h_dest);
	e = bpf_map_lookup_elem(&fdb, &key);
	if (!e) {
		vi = bpf_map_lookup_elem(&vnis, &vni);
		if (vi && (vi->flags & F_VNI_FLOOD_UNKNOWN))
			return fwd_flood_handoff(ctx, cfg, vni, 0, VERDICT_FLOOD);
		return DROP_UNKNOWN_UNICAST;
	}
	if (e->kind == FDB_LOCAL)
		return fwd_deliver_local(cfg, ifindex, vni, e->ifindex, VERDICT_LOCAL);
	if (e->kind == FDB_REMOTE)
		return fwd_send_remote(ctx, cfg, vni, &e->remote, VERDICT_ENCAP);
	if (e->kind == FDB_MOVED) {
		/* the VM left: tunnel in-flight frames to its new NVE until the hold time ends */
		if (bpf_ktime_get_ns() >= e->moved_until_ns)
			return DROP_MOVED_EXPIRED;
		return fwd_send_remote(ctx, cfg, vni, &e->remote, VERDICT_RETUNNEL);
	}
	if (e->kind == FDB_DUAL)
		return fwd_dual(ctx, cfg, ifindex, vni, e->ifindex, 0, VERDICT_LOCAL);
	return DROP_UNKNOWN_UNICAST;
}

SEC("xdp")
int roam_tsi(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct cursor c = { .pos = data, .end = data_end };
	__u64 bytes = data_end - data;
	__u32 ifindex = ctx->ingress_ifindex;
	struct roam_config *cfg;
	struct tsi_info *tsi;
	struct ethhdr *eth;
	__u32 vni = 0;
	int verdict;

	cfg = config_get();
	if (!cfg) {
		verdict = DROP_NO_UNDERLAY;
		goto out;
	}
	tsi = tsi_lookup(ifindex);
	if (!tsi) {
		verdict = DROP_NOT_TSI;
		goto out;
	}
	vni = tsi->vni;
	eth = cursor_pull(&c, sizeof(*eth));
	if (!eth) {
		verdict = DROP_TRUNCATED;
		goto out;
	}
	if (eth_is_vlan(eth_proto(eth))) {
		verdict = DROP_VLAN;
		goto out;
	}
	/* a source must be a unicast address */
	if (eth_is_group(eth->h_source) || eth_is_zero(eth->h_source)) {
		verdict = DROP_BAD_SRC_MAC;
		goto out;
	}
	if (tsi_source_needs_check(tsi, eth)) {
		verdict = tsi_check_source(cfg, tsi, ifindex, eth);
		if (verdict != GO_ON)
			goto out;
	}

	/* routed VNs: the anycast gateway answers and routes (L3 stage, bpf/lib/route.h) */
	verdict = l3_tsi_stage(ctx, cfg, ifindex, vni);
	if (verdict != GO_ON)
		goto out;
	if (eth_proto(eth) == bpf_htons(ETH_P_ARP)) {
		verdict = tsi_handle_arp(cfg, tsi, ifindex, vni, eth, &c);
	} else if (eth_proto(eth) == bpf_htons(ETH_P_RARP)) {
		verdict = tsi_handle_rarp(cfg, tsi, ifindex, vni, eth, &c);
	} else if (eth_proto(eth) == bpf_htons(ETH_P_IPV6)) {
		verdict = tsi_handle_ipv6(ctx, cfg, tsi, ifindex, vni, eth, &c);
	} else if (eth_proto(eth) == bpf_htons(ETH_P_IP)) {
		verdict = cursor_pull(&c, sizeof(struct iphdr)) ? GO_ON : DROP_TRUNCATED;
	}
	if (verdict != GO_ON)
		goto out;
	verdict = tsi_forward(ctx, cfg, ifindex, vni);
out:
	stats_record_verdict(vni, verdict, bytes);
	return xdp_action_of(verdict);
}

char LICENSE[] SEC("license") = "GPL";
