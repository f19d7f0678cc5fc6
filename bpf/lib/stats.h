/* SPDX-License-Identifier: Apache-2.0 */
/* stats.h: the one place verdicts are counted. Every program's exit label calls
 * stats_record_verdict, so every frame lands in exactly one (vni, verdict) slot. */
#ifndef ROAM_LIB_STATS_H
#define ROAM_LIB_STATS_H

#include "lib/maps.h"

/* Adds one frame of `bytes` to the per-CPU counter of (vni, verdict). */
static __always_inline void stats_record_verdict(__u32 vni, __u32 verdict, __u64 bytes)
{
	struct stats_key key = { .vni = vni, .verdict = verdict };
	struct stats_value *v, init = { .packets = 1, .bytes = bytes };

	v = bpf_map_lookup_elem(&stats, &key);
	if (v) {
		/* per-CPU slot: no atomics needed */
		v->packets++;
		v->bytes += bytes;
		return;
	}
	/* first frame of this (vni, verdict) on any CPU: create the slot (a full map loses it) */
	bpf_map_update_elem(&stats, &key, &init, BPF_NOEXIST);
	v = bpf_map_lookup_elem(&stats, &key);
	if (v && v->packets == 0) {
		v->packets = 1;
		v->bytes = bytes;
	}
}

#endif /* ROAM_LIB_STATS_H */
