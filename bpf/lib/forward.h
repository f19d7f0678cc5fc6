/* SPDX-License-Identifier: Apache-2.0 */
/* forward.h: the XDP exits shared by the TSI and underlay programs: deliver to a local TSI,
 * tunnel to a remote NVE, or hand a frame to the TC flood path. Each returns the verdict to
 * count; the caller maps it to an XDP action with xdp_action_of. */
#ifndef ROAM_LIB_FORWARD_H
#define ROAM_LIB_FORWARD_H

#include <linux/bpf.h>
#include "lib/maps.h"
#include "lib/slots.h"
#include "lib/trace.h"
#include "lib/vxlan.h"

/* A stage's "not decided yet, go on to the next stage". */
#define GO_ON (-1)

/* The XDP action a verdict implies. */
static __always_inline int xdp_action_of(int verdict)
{
	switch (verdict) {
	case VERDICT_ENCAP:
	case VERDICT_DECAP:
	case VERDICT_LOCAL:
	case VERDICT_RETUNNEL:
	case VERDICT_ARP_REPLY:
	case VERDICT_ND_REPLY:
	case VERDICT_RARP_REPLY:
	case VERDICT_ROUTED_LOCAL:
	case VERDICT_ROUTED_REMOTE:
	case VERDICT_UNREACH_REPLY:
	case VERDICT_GW_ARP_REPLY:
	case VERDICT_GW_ND_REPLY:
	case VERDICT_GW_ECHO:
		return XDP_REDIRECT;
	case VERDICT_FLOOD:
	case VERDICT_DUAL:
	case VERDICT_PASS:
	case VERDICT_TTL_EXPIRED:
		return XDP_PASS;
	default:
		return XDP_DROP;
	}
}

/* Redirects by ifindex. No devmap: bpf_redirect takes the same bulked xdp_do_redirect path
 * on current kernels, and a devmap would be one more table to keep in step (and, pinned, one
 * libbpf cannot reuse: the kernel adds BPF_F_RDONLY_PROG to its flags). */
static __always_inline int xdp_redirect_to(__u32 ifindex)
{
	return bpf_redirect(ifindex, 0);
}

/* Sends an answer built in place back out the TSI it was asked on. A redirect, not XDP_TX:
 * on a veth, XDP_TX frames reach the VM only when the VM's end runs an XDP program itself
 * (veth kicks the peer's NAPI after XDP_TX only then), while redirected frames are flushed.
 * Returns `ok`. */
static __always_inline int fwd_reply(const struct roam_config *cfg, __u32 ifindex, __u32 vni,
				     int ok)
{
	trace_record_tx(cfg, ifindex, vni, ok, NULL);
	xdp_redirect_to(ifindex);
	return ok;
}

/* Sends the frame (unchanged) to the local TSI out_ifindex of VNI vni, refusing a TSI of
 * another VNI or the ingress TSI itself. Returns `ok` or a DROP_*. */
static __always_inline int fwd_deliver_local(const struct roam_config *cfg, __u32 in_ifindex,
					     __u32 vni, __u32 out_ifindex, int ok)
{
	struct tsi_info *out;

	if (out_ifindex == in_ifindex)
		return DROP_HAIRPIN;
	/* the fdb is keyed by VNI; this re-check makes crossing VNIs impossible even if the
	 * control plane installs a wrong ifindex */
	out = tsi_lookup(out_ifindex);
	if (!out || out->vni != vni)
		return DROP_VNI_MISMATCH;
	trace_record_tx(cfg, out_ifindex, vni, ok, NULL);
	xdp_redirect_to(out_ifindex);
	return ok;
}

/* Encapsulates the frame in VNI vni for `remote` and sends it out the underlay. Returns
 * `ok` (VERDICT_ENCAP or VERDICT_RETUNNEL) or a DROP_*. */
static __always_inline int fwd_send_remote(struct xdp_md *ctx, const struct roam_config *cfg,
					   __u32 vni, const struct nve_addr *remote_in, int ok)
{
	struct nve_addr remote __attribute__((aligned(4)));
	int err;

	/* a stack copy: the map value may change under us while the frame is rewritten */
	nve_addr_copy(&remote, remote_in);
	err = xdp_vxlan_encap(ctx, cfg, &remote, vni);
	if (err)
		return err;
	trace_record_tx(cfg, cfg->underlay_ifindex, vni, ok, &remote);
	xdp_redirect_to(cfg->underlay_ifindex);
	return ok;
}

/* Hands the frame to the TC flood program of the same interface (XDP cannot clone).
 * with_shim (the underlay): insert a flood_shim naming the VNI, which the frame no longer
 * carries once decapsulated (the decapsulation left the headroom for it). A TSI's TC program
 * finds the VNI in `tsis`. Returns `ok` (VERDICT_FLOOD or VERDICT_DUAL) or a DROP_*. */
static __always_inline int fwd_flood_handoff(struct xdp_md *ctx, const struct roam_config *cfg,
					     __u32 vni, int with_shim, int ok)
{
	struct flood_shim *shim;
	struct ethhdr *eth, inner;
	void *data, *data_end;

	/* without the TC programs a passed frame would reach the host stack: never */
	if (!(cfg->flags & F_CFG_FLOOD_TC))
		return DROP_NO_FLOOD_PATH;
	if (!with_shim)
		return ok;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + sizeof(inner) > data_end)
		return DROP_TRUNCATED;
	__builtin_memcpy(&inner, data, sizeof(inner));
	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(*shim)))
		return DROP_NO_HEADROOM;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	shim = (void *)(eth + 1);
	if ((void *)(shim + 1) > data_end)
		return DROP_TRUNCATED;
	__builtin_memcpy(eth->h_dest, inner.h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_source, inner.h_source, ETH_ALEN);
	eth->h_proto = bpf_htons(FLOOD_SHIM_ETH_P);
	shim->magic = FLOOD_SHIM_MAGIC;
	shim->secret = cfg->flood_secret;
	shim->vni = vni;
	shim->h_proto = inner.h_proto;
	shim->_pad = 0;
	return ok;
}

/* A VM migrating away (FDB_DUAL): TC copies the frame to its local TSI and tunnels one to
 * its new NVE. Without the TC programs the VM still gets its frames here (as `local_ok`);
 * the new NVE then waits for the move to complete. */
static __always_inline int fwd_dual(struct xdp_md *ctx, const struct roam_config *cfg,
				    __u32 in_ifindex, __u32 vni, __u32 local_ifindex, int with_shim,
				    int local_ok)
{
	if (cfg->flags & F_CFG_FLOOD_TC)
		return fwd_flood_handoff(ctx, cfg, vni, with_shim, VERDICT_DUAL);
	return fwd_deliver_local(cfg, in_ifindex, vni, local_ifindex, local_ok);
}

#endif /* ROAM_LIB_FORWARD_H */
