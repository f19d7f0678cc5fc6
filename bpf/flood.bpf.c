// SPDX-License-Identifier: Apache-2.0
/* flood.bpf.c: TC ingress programs for the frames XDP cannot handle alone because they must
 * be copied: broadcast, multicast, (when a VNI asks for it) unknown unicast, and unicast
 * to a VM migrating away (FDB_DUAL: its TSI here and its new NVE).
 *  - roam_flood_tsi, on every TSI: copies to the VNI's other local TSIs, and head-end
 *    replication: one VXLAN copy to every remote NVE in the VNI's flood list.
 *  - roam_flood_underlay, on the underlay: frames the underlay XDP program decapsulated and
 *    marked with a flood_shim go to the VNI's local TSIs only (split horizon); dual ones
 *    to the VM's TSI and its new NVE.
 * The original is always consumed (TC_ACT_SHOT): tenant frames never reach the host stack. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "roam.h"
#include "lib/maps.h"
#include "lib/slots.h"
#include "lib/eth.h"
#include "lib/stats.h"
#include "lib/trace.h"
#include "lib/vxlan.h"

/* Sends one copy of the skb as it is now out of ifindex (or records it when tracing), and
 * counts it as `verdict`, or DROP_REDIRECT when the clone fails. */
static __always_inline void flood_send_copy(struct __sk_buff *skb, const struct roam_config *cfg,
					    __u32 ifindex, __u32 vni, __u32 verdict,
					    const struct nve_addr *remote)
{
	if (cfg->flags & F_CFG_TRACE) {
		trace_record_tx(cfg, ifindex, vni, verdict, remote);
	} else if (bpf_clone_redirect(skb, ifindex, 0)) {
		stats_record_verdict(vni, DROP_REDIRECT, skb->len);
		return;
	}
	stats_record_verdict(vni, verdict, skb->len);
}

/* State shared with the bpf_loop callbacks (a callback is verified once, not per iteration
 * as an unrolled or bounded loop of up to 64 copies would be). */
struct flood_ctx {
	struct __sk_buff *skb;
	struct roam_config *cfg;
	struct flood_list *list;
	__u32 vni;
	__u32 skip_ifindex; /* local: where the frame came from */
	__u32 inner_len;
	__u32 grown; /* remote: bytes the skb has grown by so far */
	struct inner_flow flow; /* outer source port and ECN, from the inner frame */
	__u8 family; /* remote: the family this pass sends to */
	__u8 failed; /* remote: the skb could not be rewritten, stop */
	__u32 local_verdict;  /* how a local copy is counted */
	__u32 remote_verdict; /* how a remote copy is counted */
};

/* One copy to local TSI number i of the list, unless it is where the frame came from;
 * each TSI is re-checked to belong to the VNI. */
static long flood_local_one(__u64 i, void *data)
{
	struct flood_ctx *fc = data;
	struct tsi_info *t;
	__u32 out;

	if (i >= FLOOD_MAX_LOCAL || i >= fc->list->n_local)
		return 1;
	out = fc->list->local_ifindex[i];
	if (out == fc->skip_ifindex)
		return 0;
	t = tsi_lookup(out);
	if (!t || t->vni != fc->vni) {
		stats_record_verdict(fc->vni, DROP_VNI_MISMATCH, fc->inner_len);
		return 0;
	}
	flood_send_copy(fc->skb, fc->cfg, out, fc->vni, fc->local_verdict, NULL);
	return 0;
}

/* One VXLAN copy of the skb to `remote`. The skb grows once to the family's outer length
 * (fc->grown tracks it; IPv4 copies go first, IPv6 after, so it only grows); each copy then
 * overwrites the outer headers. Sets fc->failed when the skb cannot be rewritten. */
static __always_inline void flood_send_remote(struct flood_ctx *fc, const struct nve_addr *remote)
{
	/* built on the stack, 2 bytes in so the IP header is 4-byte aligned (the verifier
	 * refuses misaligned stack access) */
	__u8 buf[VXLAN_ENCAP_LEN_V6 + 2] __attribute__((aligned(8))) = {};
	__u8 *hdr = buf + 2;
	__u8 dmac[ETH_ALEN] __attribute__((aligned(2)));
	__u32 need;
	int err;

	err = vxlan_check_fits(fc->cfg, remote, fc->inner_len);
	if (!err)
		err = nexthop_resolve(fc->skb, fc->cfg, remote, dmac);
	if (err) {
		stats_record_verdict(fc->vni, err, fc->inner_len);
		return;
	}
	need = vxlan_encap_len(remote->family);
	if (fc->grown < need) {
		if (bpf_skb_change_head(fc->skb, need - fc->grown, 0))
			goto fail;
		fc->grown = need;
	}
	if (remote->family == FAMILY_V6) {
		vxlan_write_outer_v6(hdr, fc->cfg, remote, dmac, fc->vni, &fc->flow,
				     fc->inner_len);
		err = bpf_skb_store_bytes(fc->skb, 0, hdr, VXLAN_ENCAP_LEN_V6, 0);
	} else {
		vxlan_write_outer_v4(hdr, fc->cfg, remote, dmac, fc->vni, &fc->flow,
				     fc->inner_len);
		err = bpf_skb_store_bytes(fc->skb, 0, hdr, VXLAN_ENCAP_LEN_V4, 0);
	}
	if (err)
		goto fail;
	flood_send_copy(fc->skb, fc->cfg, fc->cfg->underlay_ifindex, fc->vni, fc->remote_verdict,
			remote);
	return;
fail:
	stats_record_verdict(fc->vni, DROP_NO_HEADROOM, fc->inner_len);
	fc->failed = 1;
}

/* One VXLAN copy to remote NVE number i of the list when it has this pass's family. */
static long flood_remote_one(__u64 i, void *data)
{
	struct flood_ctx *fc = data;
	struct nve_addr remote;

	if (i >= FLOOD_MAX_REMOTE || i >= fc->list->n_remote)
		return 1;
	if (fc->list->remote[i].family != fc->family)
		return 0;
	__builtin_memcpy(&remote, &fc->list->remote[i], sizeof(remote));
	flood_send_remote(fc, &remote);
	return fc->failed ? 1 : 0;
}

/* Every copy of a broadcast/multicast/unknown frame of fc->vni: local TSIs of the list except
 * fc->skip_ifindex, then (with_remote) head-end replication to the list's NVEs. */
static __always_inline void flood_list_copies(struct flood_ctx *fc, int with_remote)
{
	bpf_loop(FLOOD_MAX_LOCAL, flood_local_one, fc, 0);
	if (!with_remote)
		return;
	fc->family = FAMILY_V4;
	bpf_loop(FLOOD_MAX_REMOTE, flood_remote_one, fc, 0);
	if (!fc->failed) {
		fc->family = FAMILY_V6;
		bpf_loop(FLOOD_MAX_REMOTE, flood_remote_one, fc, 0);
	}
}

/* A migrating VM (FDB_DUAL): one copy to its TSI (unless the frame came from there; only a
 * TSI of the same VNI) and one to its new NVE. */
static __always_inline void dual_copies(struct flood_ctx *fc, const struct fdb_entry *e)
{
	struct nve_addr remote;
	struct tsi_info *t;
	__u32 out = e->ifindex;

	__builtin_memcpy(&remote, &e->remote, sizeof(remote));
	fc->local_verdict = VERDICT_DUAL_COPY;
	fc->remote_verdict = VERDICT_DUAL_COPY;
	if (out != fc->skip_ifindex) {
		t = tsi_lookup(out);
		if (t && t->vni == fc->vni)
			flood_send_copy(fc->skb, fc->cfg, out, fc->vni, VERDICT_DUAL_COPY, NULL);
		else
			stats_record_verdict(fc->vni, DROP_VNI_MISMATCH, fc->inner_len);
	}
	flood_send_remote(fc, &remote);
}

/* Replicates the frame of VNI vni that arrived on skip_ifindex: a dual (migrating) unicast
 * destination gets its two copies; group and (where the VNI floods them) unknown unicast
 * go to the flood list, remote NVEs included only when from_tsi (split horizon). Returns
 * the verdict of the original, which is always consumed. */
static __always_inline int tc_replicate(struct __sk_buff *skb, struct roam_config *cfg,
					__u32 vni, __u32 skip_ifindex, int from_tsi)
{
	struct flood_ctx fc = {
		.skb = skb,
		.cfg = cfg,
		.vni = vni,
		.skip_ifindex = skip_ifindex,
		.inner_len = skb->len,
		.local_verdict = VERDICT_FLOOD_LOCAL,
		.remote_verdict = VERDICT_FLOOD_REMOTE,
	};
	struct fdb_key key = { .vni = vni };
	struct ethhdr *eth;
	struct fdb_entry *e;
	struct vni_info *vi;
	void *data, *data_end;

	bpf_skb_pull_data(skb, 0);
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return DROP_TRUNCATED;
	tunnel_inner_flow(data, data_end, &fc.flow);
	if (!eth_is_group(eth->h_dest)) {
		eth_addr_copy(key.mac, eth->h_dest);
		e = bpf_map_lookup_elem(&fdb, &key);
		if (e && e->kind == FDB_DUAL) {
			dual_copies(&fc, e);
			return VERDICT_FLOOD_DONE;
		}
		/* XDP hands over only unknown unicast of a flooding VNI; re-check so a frame
		 * that got here otherwise (XDP detached, table changed) never floods */
		vi = bpf_map_lookup_elem(&vnis, &vni);
		if (e || !vi || !(vi->flags & F_VNI_FLOOD_UNKNOWN))
			return DROP_UNKNOWN_UNICAST;
	}
	fc.list = bpf_map_lookup_elem(&flood, &vni);
	if (!fc.list)
		return DROP_NO_FLOOD_LIST;
	flood_list_copies(&fc, from_tsi);
	return VERDICT_FLOOD_DONE;
}

SEC("tc")
int roam_flood_tsi(struct __sk_buff *skb)
{
	__u64 bytes = skb->len;
	__u32 ifindex = skb->ifindex;
	struct roam_config *cfg;
	struct tsi_info *tsi;
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
	verdict = tc_replicate(skb, cfg, vni, ifindex, 1);
out:
	stats_record_verdict(vni, verdict, bytes);
	return TC_ACT_SHOT;
}

/* The flood_shim our underlay XDP program inserted, if this frame has one with this NVE's
 * secret (anything else on the underlay is the host's, whatever its bytes look like). */
static __always_inline int flood_shim_of(struct __sk_buff *skb, const struct roam_config *cfg,
					 struct flood_shim *s)
{
	if (skb->protocol != bpf_htons(FLOOD_SHIM_ETH_P))
		return 0;
	if (bpf_skb_load_bytes(skb, sizeof(struct ethhdr), s, sizeof(*s)))
		return 0;
	return s->magic == FLOOD_SHIM_MAGIC && cfg->flood_secret && s->secret == cfg->flood_secret;
}

/* Takes the shim out (the bytes after the Ethernet header) and gives the frame its own
 * Ethernet type back. Returns 0, or -1 when the skb cannot be changed. */
static __always_inline int flood_shim_strip(struct __sk_buff *skb, const struct flood_shim *s)
{
	if (bpf_skb_adjust_room(skb, -(__s32)sizeof(*s), BPF_ADJ_ROOM_MAC, 0))
		return -1;
	if (bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_proto), &s->h_proto,
				sizeof(s->h_proto), 0))
		return -1;
	return 0;
}

SEC("tc")
int roam_flood_underlay(struct __sk_buff *skb)
{
	__u64 bytes = skb->len;
	struct roam_config *cfg;
	struct flood_shim s;
	int verdict;

	cfg = config_get();
	if (!cfg || !flood_shim_of(skb, cfg, &s))
		return TC_ACT_OK;
	if (flood_shim_strip(skb, &s)) {
		verdict = DROP_NO_HEADROOM;
	} else {
		bytes = skb->len;
		verdict = tc_replicate(skb, cfg, s.vni, 0, 0);
	}
	stats_record_verdict(s.vni, verdict, bytes);
	return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "GPL";
