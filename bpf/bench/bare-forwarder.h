/* Contract between the bare benchmark forwarder (bare-forwarder.bpf.c) and its loader
 * (src/lab/bench-forwarders.ts): one config struct, the object's read-only data, set before
 * load. No functions here. */
#ifndef ROAM_BENCH_BARE_FORWARDER_H
#define ROAM_BENCH_BARE_FORWARDER_H

#include <linux/types.h>

/* The one fixed tunnel the bare forwarder uses: everything from the TSI goes there. */
struct bare_config {
	__u8 outer_dmac[6];   /* next hop (the peer NVE's underlay MAC) */
	__u8 outer_smac[6];   /* our underlay MAC */
	__be32 outer_saddr;   /* our underlay IPv4 address */
	__be32 outer_daddr;   /* the peer NVE's underlay IPv4 address */
	__u32 vni;            /* host byte order, 24 bits */
	__u32 underlay_ifindex; /* where encapsulated frames leave */
	__u32 tsi_ifindex;    /* where decapsulated frames go */
	__u16 udp_dport;      /* host byte order, 4789 */
	__u16 pad;
};

#endif
