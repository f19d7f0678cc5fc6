// SPDX-License-Identifier: Apache-2.0
/* underlay.bpf.c: XDP on the underlay interface. A VXLAN packet to our address and port is
 * checked (a VNI we serve, sent by an NVE of that VNI), decapsulated and delivered to the
 * local TSI of its destination MAC; a frame for a VM that moved away is re-tunnelled to the
 * VM's new NVE; broadcast/multicast goes to TC for local flooding only (split horizon).
 * Anything that is not VXLAN to us passes to the kernel untouched. Every frame ends at
 * `out`, where its verdict is counted. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "roam.h"
#include "lib/maps.h"
#include "lib/eth.h"
#include "lib/stats.h"
#include "lib/vxlan.h"
#include "lib/forward.h"
#include "lib/route.h"

/* Only NVEs listed for the VNI may inject frames into it: a spoofed or stray tunnel packet
 * stops here. A peers entry says both that we serve the VNI and that src may send it, so the
 * common case takes one lookup; `vnis` is read only to name the drop. Returns GO_ON, or the
 * drop with *vni set to the VNI to count it under (0 when we do not serve it). */
static __always_inline int underlay_check_peer(const struct vxlan_outer *outer, __u32 *vni)
{
	if (peer_allowed(outer->vni, &outer->src)) {
		*vni = outer->vni;
		return GO_ON;
	}
	/* junk VNIs are counted under VNI 0, so they create no counters */
	if (!bpf_map_lookup_elem(&vnis, &outer->vni))
		return DROP_UNKNOWN_VNI;
	*vni = outer->vni;
	return DROP_PEER_NOT_ALLOWED;
}

/* Strips the outer headers so the inner frame starts at data. */
static __always_inline int underlay_decap(struct xdp_md *ctx, __u32 outer_len)
{
	if (bpf_xdp_adjust_head(ctx, (int)(outer_len & 0xff)))
		return DROP_NO_HEADROOM;
	return GO_ON;
}

/* The inner frame, by destination MAC: local -> its TSI; moved -> its new NVE; dual -> TC
 * (its TSI and its new NVE); group or flooded unknown -> TC (local TSIs only); remote or
 * unknown -> dropped. */
static __always_inline int underlay_forward(struct xdp_md *ctx, const struct roam_config *cfg,
					    __u32 vni, const struct vxlan_outer *outer,
					    const struct ethhdr *inner)
{
	struct fdb_key key = { .vni = vni };
	__u32 outer_len = outer->outer_len;
	struct fdb_entry *e;
	int verdict;

	if (eth_is_group(inner->h_dest)) {
		verdict = underlay_decap(ctx, outer_len);
		return verdict != GO_ON ? verdict : fwd_flood_handoff(ctx, cfg, vni, 1, VERDICT_FLOOD);
	}
	eth_addr_copy_words(key.mac, inner->h_dest);
	e = bpf_map_lookup_elem(&fdb, &key);
	if (!e) {
		struct vni_info *vi = bpf_map_lookup_elem(&vnis, &vni);

		if (!vi || !(vi->flags & F_VNI_FLOOD_UNKNOWN))
			return DROP_UNKNOWN_UNICAST;
		verdict = underlay_decap(ctx, outer_len);
		return verdict != GO_ON ? verdict : fwd_flood_handoff(ctx, cfg, vni, 1, VERDICT_FLOOD);
	}
	if (e->kind == FDB_LOCAL) {
		verdict = underlay_decap(ctx, outer_len);
		if (verdict != GO_ON)
			return verdict;
		return fwd_deliver_local(cfg, 0, vni, e->ifindex, VERDICT_DECAP);
	}
	if (e->kind == FDB_MOVED) {
		/* the source NVE tunnels in-flight frames to the VM's new NVE (draft-ietf-nvo3-vmm) */
		if (bpf_ktime_get_ns() >= e->moved_until_ns)
			return DROP_MOVED_EXPIRED;
		/* sending it back where it came from would ping-pong between two NVEs that both
		 * hold a stale moved entry, re-encapsulated with a fresh TTL each time */
		if (nve_addr_equal(&outer->src, &e->remote))
			return DROP_RETUNNEL_LOOP;
		verdict = underlay_decap(ctx, outer_len);
		if (verdict != GO_ON)
			return verdict;
		return fwd_send_remote(ctx, cfg, vni, &e->remote, VERDICT_RETUNNEL);
	}
	if (e->kind == FDB_DUAL) {
		/* migrating away: the VM here and its new NVE both get in-flight frames */
		verdict = underlay_decap(ctx, outer_len);
		if (verdict != GO_ON)
			return verdict;
		return fwd_dual(ctx, cfg, 0, vni, e->ifindex, 1, VERDICT_DECAP);
	}
	/* remote here too: NVEs never forward each other's frames (split horizon) */
	return DROP_NOT_LOCAL;
}

SEC("xdp")
int roam_underlay(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct cursor c = { .pos = data, .end = data_end };
	__u64 bytes = data_end - data;
	struct vxlan_outer outer = {};
	struct roam_config *cfg;
	struct ethhdr *eth, *inner;
	__u32 vni = 0;
	int verdict;

	cfg = config_get();
	if (!cfg) {
		verdict = VERDICT_PASS;
		goto out;
	}
	eth = cursor_pull(&c, sizeof(*eth));
	if (!eth) {
		verdict = VERDICT_PASS;
		goto out;
	}
	verdict = vxlan_parse_outer(&c, eth, cfg, &outer);
	if (verdict == VXLAN_NOT_OURS) {
		verdict = VERDICT_PASS;
		goto out;
	}
	if (verdict != VXLAN_OURS)
		goto out;
	verdict = underlay_check_peer(&outer, &vni);
	if (verdict != GO_ON)
		goto out;
	inner = cursor_pull(&c, sizeof(*inner));
	if (!inner) {
		verdict = DROP_TRUNCATED;
		goto out;
	}
	if (eth_is_vlan(eth_proto(inner))) {
		verdict = DROP_VLAN;
		goto out;
	}
	if (eth_is_group(inner->h_source) || eth_is_zero(inner->h_source)) {
		verdict = DROP_BAD_SRC_MAC;
		goto out;
	}
	/* congestion marked on the way here must reach the VM (or the next tunnel) */
	verdict = ecn_decapsulate(outer.ecn, inner, data_end);
	if (verdict)
		goto out;
	/* an L3 VNI: routed in its VRF (bpf/lib/route.h); any other VNI: L2 */
	verdict = l3_underlay_stage(ctx, cfg, vni, &outer, inner);
	if (verdict == GO_ON)
		verdict = underlay_forward(ctx, cfg, vni, &outer, inner);
out:
	stats_record_verdict(vni, verdict, bytes);
	return xdp_action_of(verdict);
}

char LICENSE[] SEC("license") = "GPL";
