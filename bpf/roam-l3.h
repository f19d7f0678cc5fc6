/* SPDX-License-Identifier: Apache-2.0 */
/* roam-l3.h: the L3 overlay's part of the contract between the BPF programs and the control
 * plane (routed VNs, VRFs, host and prefix routes). Same rules as roam.h, which holds the
 * verdicts; src/dataplane/l3-codecs.ts mirrors this file and test/kernel/l3 checks the mirror
 * against the BTF. Include guard, size constants, structs, flag bits: no functions. */
#ifndef ROAM_L3_H
#define ROAM_L3_H

#include "roam.h"

#ifndef ROUTED_VNI_MAX_ENTRIES
#define ROUTED_VNI_MAX_ENTRIES VNI_MAX_ENTRIES
#endif
#ifndef HOST_ROUTE_MAX_ENTRIES
#define HOST_ROUTE_MAX_ENTRIES 131072
#endif
#ifndef PREFIX_ROUTE_MAX_ENTRIES
#define PREFIX_ROUTE_MAX_ENTRIES 16384
#endif
/* `routed_mask`: one bit per VNI (0..VNI_MAX), in 64-bit words. A bit is set while the VNI may
 * have a `routed_vnis` entry, so the frames of a VN that is not routed skip that hash lookup
 * for one array read (src/dataplane/routed-vni-table.ts keeps the two in step). */
#define ROUTED_MASK_BITS_PER_WORD 64
#define ROUTED_MASK_WORDS ((VNI_MAX + 1) / ROUTED_MASK_BITS_PER_WORD)
/* Bits of an LPM key in front of the address that always match whole (vrf, family, _pad). */
#define ROUTE_LPM_FIXED_BITS 64
/* TTL / hop limit of the packets the gateway itself sends (echo replies, unreachables). */
#define GW_REPLY_TTL 64

/* A VNI that takes part in routing (value of `routed_vnis`, keyed by __u32 vni): either a
 * tenant VN whose VMs use the anycast gateway (F_RVNI_ROUTED), or the L3 VNI of a VRF
 * (F_RVNI_L3) that routed frames travel in between NVEs. */
struct routed_vni {
	__u32 vrf;   /* the tenant routing domain; routes are looked up only inside it */
	__u32 flags; /* F_RVNI_* */
	__u8 gw_mac[6]; /* anycast gateway MAC (the same on every NVE); L3 VNI: inner MACs */
	__u16 _pad;
	__u8 gw_ip4[4];  /* anycast gateway IPv4, network order (F_RVNI_GW4) */
	__u8 gw_ip6[16]; /* anycast gateway IPv6 (F_RVNI_GW6) */
};
#define F_RVNI_ROUTED (1U << 0) /* a tenant VN with the anycast gateway */
#define F_RVNI_L3 (1U << 1)     /* the VRF's L3 VNI: tunnelled arrivals are routed */
#define F_RVNI_UNREACH (1U << 2) /* no route: answer ICMP / ICMPv6 unreachable, not a drop */
#define F_RVNI_GW4 (1U << 3)    /* gw_ip4 is valid */
#define F_RVNI_GW6 (1U << 4)    /* gw_ip6 is valid */

/* A host route (/32, /128) inside one VRF: key of `host_routes`. */
struct route_key {
	__u32 vrf;
	__u8 family; /* FAMILY_V4 / FAMILY_V6 */
	__u8 _pad[3];
	__u8 ip[IP_ADDR_LEN]; /* network order */
};

/* A prefix inside one VRF: key of the LPM trie `prefix_routes`. prefixlen counts the
 * ROUTE_LPM_FIXED_BITS of vrf/family/_pad plus the prefix length of ip. */
struct route_lpm_key {
	__u32 prefixlen;
	__u32 vrf;
	__u8 family;
	__u8 _pad[3];
	__u8 ip[IP_ADDR_LEN];
};

/* Where a routed packet goes: a VM on a local TSI, or an NVE over the VRF's L3 VNI. */
struct route_entry {
	__u8 kind;  /* ROUTE_* */
	__u8 flags; /* reserved, 0 */
	__u16 _pad0;
	__u32 vni;     /* ROUTE_LOCAL: the VM's tenant VNI; ROUTE_REMOTE: the VRF's L3 VNI */
	__u32 ifindex; /* ROUTE_LOCAL: the VM's TSI */
	__u8 mac[6];   /* ROUTE_LOCAL: the VM's MAC */
	__u16 _pad1;
	struct nve_addr remote; /* ROUTE_REMOTE: the NVE that serves the address (now) */
};
#define ROUTE_LOCAL 1
#define ROUTE_REMOTE 2

#endif /* ROAM_L3_H */
