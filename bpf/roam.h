/* SPDX-License-Identifier: Apache-2.0 */
/* roam.h: the contract between roam's BPF programs and the TypeScript control plane.
 * Every map key/value, event and flag that both sides see is defined here and only here;
 * src/dataplane/codecs.ts (l3-codecs.ts for the L3 overlay's part) mirrors it and kernel tests
 * check the mirror against the BTF.
 * Include guard, size constants, structs, flag bits, counter slots: no functions.
 * Byte order: addresses, MACs and VNIs in map keys are as noted per field; scalar flags,
 * counts and ifindexes are host order. Times are bpf_ktime_get_ns() (CLOCK_MONOTONIC). */
#ifndef ROAM_H
#define ROAM_H

#include <linux/types.h>

/* ---- sizes and tunables ------------------------------------------------------------------ */
#define ETH_ALEN_ROAM 6
#define IP_ADDR_LEN 16 /* every IP address is 16 bytes: IPv4 in bytes 0..3, the rest zero */

#ifndef FDB_MAX_ENTRIES
#define FDB_MAX_ENTRIES 262144
#endif
#ifndef NEIGH_MAX_ENTRIES
#define NEIGH_MAX_ENTRIES 262144
#endif
#ifndef TSI_MAX_ENTRIES
#define TSI_MAX_ENTRIES 4096
#endif
#ifndef VNI_MAX_ENTRIES
#define VNI_MAX_ENTRIES 4096
#endif
#ifndef PEER_MAX_ENTRIES
#define PEER_MAX_ENTRIES 65536
#endif
#ifndef NEXTHOP_MAX_ENTRIES
#define NEXTHOP_MAX_ENTRIES 4096
#endif
/* Counters: (VNI, verdict) pairs hash into STATS_SLOTS per-CPU array slots (STATS_PROBES
 * tried in turn); a pair that finds none free spills into the per-CPU hash `stats_spill`,
 * which has room for every verdict of every VNI. The array is fixed: never resize `stats`. */
#define STATS_SLOTS 16384 /* a power of two */
#define STATS_PROBES 4
#define STATS_SLOTS_PER_VNI 48
#ifndef STATS_MAX_ENTRIES
#define STATS_MAX_ENTRIES (VNI_MAX_ENTRIES * STATS_SLOTS_PER_VNI)
#endif
#ifndef EVENT_LIMIT_MAX_ENTRIES
#define EVENT_LIMIT_MAX_ENTRIES 65536
#endif
#ifndef EVENTS_RINGBUF_BYTES
#define EVENTS_RINGBUF_BYTES (256 * 1024)
#endif
#ifndef TRACE_MAX_RECORDS
#define TRACE_MAX_RECORDS 64
#endif

/* Unicast IPv4/IPv6 frames from a TSI have their source MAC checked (for new-MAC events) one
 * in LEARN_SAMPLE_MASK + 1 per CPU; every other frame (broadcast, multicast, ARP, RARP, non-IP)
 * and every frame of a strict TSI is checked. A power of two minus one; 0 checks them all. */
#ifndef LEARN_SAMPLE_MASK
#define LEARN_SAMPLE_MASK 15
#endif

/* Slot arrays: `tsis`, `peers` and `nexthops` are each mirrored in an ARRAY of slots (open
 * addressing: a key lives in one of SLOT_PROBES consecutive slots from its home slot), which
 * the per-frame lookups read; the hash map of the same name holds only the keys whose slots
 * were all taken (spill). An array lookup is inlined by the verifier; a hash-map lookup is four
 * nested kernel calls. src/dataplane/slot-table.ts writes both and mirrors the home slots.
 * Fixed sizes (powers of two): never resize the slot arrays. */
#define SLOT_PROBES 4
#define TSI_SLOTS 4096      /* home slot: ifindex & (TSI_SLOTS - 1) */
#define PEER_SLOT_BITS 14   /* home slot: nve_slot_home(vni, addr, PEER_SLOT_BITS) */
#define PEER_SLOTS (1U << PEER_SLOT_BITS)
#define NEXTHOP_SLOT_BITS 12 /* home slot: nve_slot_home(0, addr, NEXTHOP_SLOT_BITS) */
#define NEXTHOP_SLOTS (1U << NEXTHOP_SLOT_BITS)
#define SLOT_HASH_MULT 0x9e3779b97f4a7c15ULL /* 2^64 / golden ratio */

/* Head-end replication fan-out per VNI (both bound the TC flood loop). */
#define FLOOD_MAX_LOCAL 32
#define FLOOD_MAX_REMOTE 64

#define VXLAN_DEFAULT_PORT 4789
#define VNI_MAX 0xffffff
/* Outer UDP source ports come from the IANA dynamic range (RFC 7348 section 5). */
#define VXLAN_SRC_PORT_MIN 49152
/* Outer header bytes added by encapsulation (Ethernet + IP + UDP + VXLAN). */
#define VXLAN_ENCAP_LEN_V4 (14 + 20 + 8 + 8)
#define VXLAN_ENCAP_LEN_V6 (14 + 40 + 8 + 8)
#define UNDERLAY_DEFAULT_TTL 64

/* Address families as stored in keys and events (not AF_*: these are roam's own). */
#define FAMILY_NONE 0
#define FAMILY_V4 4
#define FAMILY_V6 6

/* ---- runtime configuration: map `config`, one entry at key 0 ------------------------------- */
/* The underlay as this NVE sees it; written by the loader, read per packet. */
struct roam_config {
	__u32 flags;            /* F_CFG_* */
	__u32 underlay_ifindex; /* where encapsulated frames leave */
	__u16 udp_port;         /* VXLAN UDP port, host order (4789) */
	__u16 mtu;              /* underlay MTU in bytes: outer IP packets never exceed it */
	__u8 ttl;               /* outer TTL / hop limit */
	__u8 _pad0[3];
	__u8 local_mac[6];   /* outer source MAC: the underlay interface's address */
	__u8 gateway_mac[6]; /* next hop for NVEs without a `nexthops` entry (F_CFG_GATEWAY) */
	__u8 local_ip4[4];   /* our VTEP address, network order (F_CFG_HAS_IP4) */
	__u8 local_ip6[16];  /* our VTEP address (F_CFG_HAS_IP6) */
	__u64 event_refill_ns; /* one event token per MAC is refilled every this many ns */
	__u32 event_burst;     /* tokens a MAC may spend at once */
	__u32 flood_secret;    /* random, nonzero: marks the frames XDP hands to TC (flood_shim) */
};
#define F_CFG_HAS_IP4 (1U << 0)
#define F_CFG_HAS_IP6 (1U << 1)
#define F_CFG_GATEWAY (1U << 2)  /* gateway_mac is valid */
#define F_CFG_FIB (1U << 3)      /* resolve missing next hops with bpf_fib_lookup */
#define F_CFG_FLOOD_TC (1U << 4) /* the TC flood programs are attached: XDP may hand frames on */
#define F_CFG_TRACE (1U << 5)    /* tests only: record tx targets in `trace`, TC does not send */

/* ---- keys and values ------------------------------------------------------------------- */
/* A tunnel endpoint (NVE) on the underlay. */
struct nve_addr {
	__u8 family; /* FAMILY_V4 / FAMILY_V6 */
	__u8 _pad[3];
	__u8 ip[IP_ADDR_LEN]; /* network order */
};

/* A tenant MAC inside one virtual network: key of `fdb`, `event_limits`. */
struct fdb_key {
	__u32 vni; /* host order */
	__u8 mac[6];
	__u16 _pad;
};

/* Where frames for a tenant MAC go. */
struct fdb_entry {
	__u8 kind;  /* FDB_* */
	__u8 flags; /* F_FDB_* */
	__u16 _pad0;
	__u32 ifindex;         /* FDB_LOCAL / FDB_DUAL: the TSI the VM is plugged into */
	__u64 moved_until_ns;  /* FDB_MOVED: re-tunnel to `remote` until this time, then drop */
	struct nve_addr remote; /* FDB_REMOTE / FDB_MOVED / FDB_DUAL: the NVE that serves the MAC */
	/* The IPv4 a RARP request for this MAC is answered with (network order; 0.0.0.0: none).
	 * In the padding the entry had anyway, so RARP costs no map of its own. */
	__u8 rarp_ip4[4];
};
#define FDB_LOCAL 1
#define FDB_REMOTE 2
#define FDB_MOVED 3
#define FDB_DUAL 4 /* a VM migrating away: deliver to `ifindex` AND tunnel to `remote` */

/* An IP inside one virtual network: key of `neigh` (ARP / ND answers). */
struct neigh_key {
	__u32 vni;
	__u8 family; /* FAMILY_V4 / FAMILY_V6 */
	__u8 _pad[3];
	__u8 ip[IP_ADDR_LEN];
};

/* The MAC that owns an IP: what an ARP reply / solicited NA announces. */
struct neigh_entry {
	__u8 mac[6];
	__u16 flags; /* reserved, 0 */
};

/* A tenant system interface (value of `tsis`, keyed by __u32 ifindex). */
struct tsi_info {
	__u32 vni;
	__u32 flags; /* F_TSI_* */
	__u8 mac[6]; /* F_TSI_MAC: the one MAC configured for this TSI */
	__u16 _pad;
};
#define F_TSI_STRICT_SRC (1U << 0) /* drop frames whose source MAC is not local on this TSI */
#define F_TSI_MAC (1U << 1)        /* only `mac` may announce itself here (event_learn_local) */

/* A virtual network this NVE serves (value of `vnis`, keyed by __u32 vni). */
struct vni_info {
	__u32 flags; /* F_VNI_* */
};
#define F_VNI_FLOOD_UNKNOWN (1U << 0) /* flood unknown unicast instead of dropping it */

/* An NVE allowed to send us tunnelled frames of one VNI: key of `peers`. */
struct peer_key {
	__u32 vni;
	struct nve_addr addr;
};

/* Value of `peers`. */
struct peer_info {
	__u32 flags; /* reserved, 0 */
};

/* The underlay next hop towards an NVE (value of `nexthops`, keyed by struct nve_addr). */
struct nexthop {
	__u8 mac[6];
	__u16 _pad;
};

/* One slot of `tsi_slots` (ifindex 0: free). */
struct tsi_slot {
	__u32 ifindex;
	struct tsi_info info;
};

/* One slot of `peer_slots`: a peers key (key.addr.family FAMILY_NONE: free). */
struct peer_slot {
	struct peer_key key;
};

/* One slot of `nexthop_slots` (addr.family FAMILY_NONE: free). */
struct nexthop_slot {
	struct nve_addr addr;
	struct nexthop nh;
};

/* Head-end replication list of one VNI (value of `flood`, keyed by __u32 vni). */
struct flood_list {
	__u32 n_local;  /* valid entries in local_ifindex */
	__u32 n_remote; /* valid entries in remote */
	__u32 local_ifindex[FLOOD_MAX_LOCAL];
	struct nve_addr remote[FLOOD_MAX_REMOTE];
};

/* Token bucket of announcement events per (vni, MAC) (value of LRU `event_limits`). */
struct event_limit {
	__u64 last_ns; /* last refill */
	__u32 tokens;
	__u32 _pad;
};

/* What the agent hears on the ring buffer `events`. */
struct roam_event {
	__u64 time_ns;
	__u32 ifindex; /* the TSI it was seen on */
	__u32 vni;
	__u8 mac[6];
	__u8 kind;   /* EVENT_* */
	__u8 family; /* of ip: FAMILY_NONE when the event carries no IP */
	__u8 ip[IP_ADDR_LEN];
};
#define EVENT_GARP 1         /* gratuitous ARP, request or reply form (spa == tpa) */
#define EVENT_UNSOLICITED_NA 2 /* IPv6 NA with Override, not Solicited, to all-nodes */
#define EVENT_RARP 3         /* RARP request (QEMU announces a migrated VM with these) */
#define EVENT_NEW_MAC 4      /* a source MAC the tables do not place on this TSI */

/* Per-CPU counters: key of `stats_spill`. */
struct stats_key {
	__u32 vni; /* 0 when the frame's VNI is not known */
	__u32 verdict; /* VERDICT_* / DROP_* */
};

/* Value of `stats_spill` (per CPU; the reader sums over CPUs). */
struct stats_value {
	__u64 packets;
	__u64 bytes;
};

/* One slot of the per-CPU array `stats`: the (vni, verdict) it counts, once packets > 0. */
struct stats_slot {
	__u32 vni;
	__u32 verdict;
	__u64 packets; /* 0: the slot is free */
	__u64 bytes;
};

/* What the underlay XDP program puts between the Ethernet header and the payload of a frame it
 * decapsulated and hands to TC to be copied (XDP cannot clone): the VNI, which the frame no
 * longer carries, and the NVE's secret so that TC tells these frames from anything else
 * reaching the underlay. The Ethernet header's type says FLOOD_SHIM_ETH_P (IPv4) while the
 * shim is there, so that TC may strip it with bpf_skb_adjust_room (IP frames only); the real
 * type travels in the shim. Not XDP metadata: the kernel CI runs on (6.18.44-fc) refuses
 * bpf_xdp_adjust_meta in XDP programs; not a trailer: an skb XDP runs on in place may have
 * no tailroom, while decapsulation always leaves headroom. */
struct flood_shim {
	__u32 magic;  /* FLOOD_SHIM_MAGIC */
	__u32 secret; /* roam_config.flood_secret */
	__u32 vni;
	__be16 h_proto; /* the frame's own Ethernet type */
	__u16 _pad;
};
#define FLOOD_SHIM_MAGIC 0x726f616dU /* "roam" */
#define FLOOD_SHIM_ETH_P 0x0800      /* ETH_P_IP: what bpf_skb_adjust_room accepts */

/* One record of `trace` (tests only, F_CFG_TRACE): a frame that would leave, and where. */
struct trace_rec {
	__u32 ifindex; /* egress interface */
	__u32 vni;     /* VNI of the frame (inner) */
	__u32 verdict; /* why it leaves */
	struct nve_addr remote; /* outer destination when encapsulated, else zero */
};

/* ---- L3 overlay: routed VNs, VRFs, host and prefix routes (bpf/lib/route*.h, gateway.h) -- */
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
	__u8 flags; /* F_ROUTE_* */
	__u16 _pad0;
	__u32 vni;     /* ROUTE_LOCAL: the VM's tenant VNI; ROUTE_REMOTE: the VRF's L3 VNI */
	__u32 ifindex; /* ROUTE_LOCAL: the VM's TSI */
	__u8 mac[6];   /* ROUTE_LOCAL: the VM's MAC */
	__u16 _pad1;
	struct nve_addr remote; /* ROUTE_REMOTE: the NVE that serves the address (now) */
};
#define ROUTE_LOCAL 1
#define ROUTE_REMOTE 2
/* An anchored address (a VM that changed subnet keeps its old one while in use): the agent
 * sets F_ROUTE_ANCHOR on the VM's local host route for it; a lookup that finds it sets
 * F_ROUTE_USED, which the agent reads and clears to judge the address idle (docs/l3.md). */
#define F_ROUTE_ANCHOR (1U << 0)
#define F_ROUTE_USED (1U << 1)

/* ---- verdict / counter slots ------------------------------------------------------------- */
/* Every frame any roam program sees ends in exactly one of these, counted per VNI. */
enum roam_verdict {
	VERDICT_ENCAP = 0,    /* TSI -> remote NVE */
	VERDICT_DECAP,        /* underlay -> local TSI */
	VERDICT_LOCAL,        /* TSI -> another local TSI */
	VERDICT_RETUNNEL,     /* frame for a moved MAC sent on to its new NVE */
	VERDICT_ARP_REPLY,    /* ARP request answered in XDP */
	VERDICT_ND_REPLY,     /* IPv6 NS answered in XDP */
	VERDICT_RARP_REPLY,   /* RARP request answered in XDP */
	VERDICT_FLOOD,        /* handed to the TC flood path */
	VERDICT_ANNOUNCE,     /* consumed announcement (RARP nobody answers), event sent */
	VERDICT_PASS,         /* underlay: not VXLAN to us, left to the kernel */
	VERDICT_FLOOD_LOCAL,  /* TC: one copy to a local TSI */
	VERDICT_FLOOD_REMOTE, /* TC: one copy to a remote NVE */
	VERDICT_FLOOD_DONE,   /* TC: original consumed after replication */
	VERDICT_DUAL,         /* handed to TC: copy to the local TSI and to the new NVE */
	VERDICT_DUAL_COPY,    /* TC: one copy of a dual delivery */
	DROP_FIRST,
	DROP_TRUNCATED = DROP_FIRST, /* a header shorter than it must be */
	DROP_VLAN,                   /* VLAN tag where none is configured */
	DROP_BAD_VXLAN,              /* VXLAN header without the I flag */
	DROP_BAD_ARP,                /* ARP/RARP not Ethernet/IPv4 */
	DROP_BAD_SRC_MAC,            /* multicast or zero source MAC */
	DROP_NOT_TSI,                /* ingress interface is not a TSI */
	DROP_UNKNOWN_VNI,            /* tunnelled frame for a VNI we do not serve */
	DROP_PEER_NOT_ALLOWED,       /* tunnelled frame from an NVE not in the VNI's peers */
	DROP_UNKNOWN_UNICAST,        /* destination MAC unknown and the VNI does not flood */
	DROP_SRC_NOT_ALLOWED,        /* F_TSI_STRICT_SRC and the source MAC is not local here */
	DROP_HAIRPIN,                /* destination is the ingress TSI itself */
	DROP_NOT_LOCAL,              /* tunnelled frame for a MAC that is not local (split horizon) */
	DROP_MOVED_EXPIRED,          /* moved entry past its hold time */
	DROP_VNI_MISMATCH,           /* table points into another VNI: never cross */
	DROP_MTU,                    /* too big once encapsulated */
	DROP_NO_NEXTHOP,             /* no underlay next hop for the NVE */
	DROP_NO_UNDERLAY,            /* underlay not configured for the NVE's address family */
	DROP_NO_HEADROOM,            /* could not grow/shrink the frame */
	DROP_NO_FLOOD_PATH,          /* must flood, but the TC flood programs are not attached */
	DROP_NO_FLOOD_LIST,          /* TC: the VNI has no flood list */
	DROP_FRAGMENT,               /* fragmented VXLAN packet to us */
	DROP_REDIRECT,               /* TC: a clone could not be sent */
	DROP_RETUNNEL_LOOP,          /* moved to the very NVE that sent it: stale on both sides */
	DROP_ECN,                    /* CE-marked tunnel packet around a Not-ECT one (RFC 6040) */
	/* ---- L3 overlay (bpf/lib/route.h, bpf/lib/gateway.h) ---- */
	VERDICT_ROUTED_LOCAL,  /* routed to a VM on a local TSI */
	VERDICT_ROUTED_REMOTE, /* routed to an NVE over the VRF's L3 VNI */
	VERDICT_UNREACH_REPLY, /* no route: answered with ICMP / ICMPv6 unreachable */
	VERDICT_TTL_EXPIRED,   /* TTL / hop limit <= 1: passed to the kernel for the ICMP error */
	VERDICT_GW_ARP_REPLY,  /* ARP for the anycast gateway answered */
	VERDICT_GW_ND_REPLY,   /* NS for the anycast gateway answered */
	VERDICT_GW_ECHO,       /* echo to the anycast gateway answered */
	DROP_NO_ROUTE,         /* no route in the VRF (or nothing the gateway serves) */
	DROP_VRF_MISMATCH,     /* route points outside its VRF: never leak */
	VERDICT_MAX
};
_Static_assert(VERDICT_MAX <= STATS_SLOTS_PER_VNI, "stats map too small for every verdict");

#endif /* ROAM_H */
