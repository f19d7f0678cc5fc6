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

#endif /* ROAM_LIB_SLOTS_H */
