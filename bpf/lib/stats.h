/* SPDX-License-Identifier: Apache-2.0 */
/* stats.h: the one place verdicts are counted. Every program's exit label calls
 * stats_record_verdict, so every frame lands in exactly one (vni, verdict) counter: a slot of
 * the per-CPU array `stats` found by hashing the pair (an array lookup per frame, not a hash
 * walk), or, when its STATS_PROBES candidate slots are all taken, the per-CPU hash
 * `stats_spill`. src/dataplane/tables.ts StatsReader mirrors stats_slot_index. */
#ifndef ROAM_LIB_STATS_H
#define ROAM_LIB_STATS_H

#include "lib/maps.h"

/* The first candidate slot of (vni, verdict). */
static __always_inline __u32 stats_slot_index(__u32 vni, __u32 verdict)
{
	__u32 h = (vni * 0x9e3779b1U) ^ (verdict * 0x85ebca6bU);

	return (h ^ (h >> 15)) & (STATS_SLOTS - 1);
}

/* Counts a frame that spilled out of the slot array. */
static __always_inline void stats_record_spill(__u32 vni, __u32 verdict, __u64 bytes)
{
	struct stats_key key = { .vni = vni, .verdict = verdict };
	struct stats_value *v, init = { .packets = 1, .bytes = bytes };

	v = bpf_map_lookup_elem(&stats_spill, &key);
	if (v) {
		v->packets++;
		v->bytes += bytes;
		return;
	}
	/* a full map loses the count */
	bpf_map_update_elem(&stats_spill, &key, &init, BPF_NOEXIST);
}

/* Adds one frame of `bytes` to this CPU's counter of (vni, verdict). */
static __always_inline void stats_record_verdict(__u32 vni, __u32 verdict, __u64 bytes)
{
	__u32 first = stats_slot_index(vni, verdict);

#pragma unroll
	for (__u32 i = 0; i < STATS_PROBES; i++) {
		__u32 k = (first + i) & (STATS_SLOTS - 1);
		struct stats_slot *s = bpf_map_lookup_elem(&stats, &k);

		if (!s)
			break;
		/* per-CPU slot: no atomics needed */
		if (s->packets == 0) {
			s->vni = vni;
			s->verdict = verdict;
			s->packets = 1;
			s->bytes = bytes;
			return;
		}
		if (s->vni == vni && s->verdict == verdict) {
			s->packets++;
			s->bytes += bytes;
			return;
		}
	}
	stats_record_spill(vni, verdict, bytes);
}

#endif /* ROAM_LIB_STATS_H */
