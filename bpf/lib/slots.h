/* SPDX-License-Identifier: Apache-2.0 */
/* slots.h: the per-frame table lookups that avoid hash-map calls. A table read for every frame
 * is kept in an ARRAY of slots (open addressing, written by src/dataplane/slot-table.ts): a key
 * sits in one of SLOT_PROBES consecutive slots from its home slot, or, when those were all
 * taken, in the spill hash map of the same role. The verifier inlines array lookups, while a
 * hash-map lookup costs four nested kernel calls, each paying the SRSO return thunk on the
 * kernel CI runs on (~25-55 ns per lookup). Probes never stop at a free slot, so deleting a key
 * only clears its slot. */
#ifndef ROAM_LIB_SLOTS_H
#define ROAM_LIB_SLOTS_H

#include "lib/maps.h"
#include "lib/nve.h"

/* The TSI with this ifindex (its VNI and flags), or NULL when it is not a TSI. */
static __always_inline struct tsi_info *tsi_lookup(__u32 ifindex)
{
	__u32 home = ifindex & (TSI_SLOTS - 1);

	if (!ifindex) /* marks a free slot */
		return NULL;
#pragma unroll
	for (__u32 i = 0; i < SLOT_PROBES; i++) {
		__u32 k = (home + i) & (TSI_SLOTS - 1);
		struct tsi_slot *s = bpf_map_lookup_elem(&tsi_slots, &k);

		if (s && s->ifindex == ifindex)
			return &s->info;
	}
	return bpf_map_lookup_elem(&tsis, &ifindex);
}

/* The home slot of an NVE address with `seed` (the VNI for peers, 0 for next hops) in a slot
 * array of 2^bits slots: the address's words folded into one, then one multiplicative
 * (Fibonacci) hash whose top bits are the slot. One multiply instead of a chain of mixes: this
 * is on every frame's path. src/dataplane/codecs.ts nveSlotHome mirrors it (words in host
 * order). */
static __always_inline __u32 nve_slot_home(__u32 seed, const struct nve_addr *a, int bits)
{
	__u32 w = load_u32(a->ip) ^ load_u32(a->ip + 4) ^ load_u32(a->ip + 8) ^ load_u32(a->ip + 12);
	__u64 x = ((__u64)w << 32) | ((__u64)seed << 8) | a->family;

	return (x * SLOT_HASH_MULT) >> (64 - bits);
}

/* Whether `src` may send tunnelled frames of `vni` (an entry also says we serve the VNI).
 * src: 4-byte aligned. */
static __always_inline int peer_allowed(__u32 vni, const struct nve_addr *src)
{
	__u32 home = nve_slot_home(vni, src, PEER_SLOT_BITS);
	struct peer_key key = { .vni = vni };

	if (src->family == FAMILY_NONE) /* marks a free slot */
		return 0;
#pragma unroll
	for (__u32 i = 0; i < SLOT_PROBES; i++) {
		__u32 k = (home + i) & (PEER_SLOTS - 1);
		struct peer_slot *s = bpf_map_lookup_elem(&peer_slots, &k);

		if (s && s->key.vni == vni && nve_addr_equal(&s->key.addr, src))
			return 1;
	}
	nve_addr_copy(&key.addr, src);
	return bpf_map_lookup_elem(&peers, &key) != NULL;
}

/* The underlay next hop towards `remote`, or NULL. remote: 4-byte aligned. */
static __always_inline struct nexthop *nexthop_lookup(const struct nve_addr *remote)
{
	__u32 home = nve_slot_home(0, remote, NEXTHOP_SLOT_BITS);

	if (remote->family == FAMILY_NONE) /* marks a free slot */
		return NULL;
#pragma unroll
	for (__u32 i = 0; i < SLOT_PROBES; i++) {
		__u32 k = (home + i) & (NEXTHOP_SLOTS - 1);
		struct nexthop_slot *s = bpf_map_lookup_elem(&nexthop_slots, &k);

		if (s && nve_addr_equal(&s->addr, remote))
			return &s->nh;
	}
	return bpf_map_lookup_elem(&nexthops, remote);
}

#endif /* ROAM_LIB_SLOTS_H */
