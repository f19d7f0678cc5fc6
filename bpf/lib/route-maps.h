/* SPDX-License-Identifier: Apache-2.0 */
/* route-maps.h: the L3 overlay's maps, pinned by name beside those of maps.h (same rules:
 * identical definitions in every object that includes them). */
#ifndef ROAM_LIB_ROUTE_MAPS_H
#define ROAM_LIB_ROUTE_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "roam.h"

/* vni -> its VRF and anycast gateway (tenant VN) or its VRF (L3 VNI). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ROUTED_VNI_MAX_ENTRIES);
	__type(key, __u32);
	__type(value, struct routed_vni);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} routed_vnis SEC(".maps");

/* vni / 64 -> bit (vni % 64) set while `routed_vnis` may hold vni: a VN that is not routed is
 * known from one array read (inlined by the verifier) instead of a hash lookup per frame.
 * Written only together with `routed_vnis` (set before an entry appears, cleared after it
 * goes), so a clear bit always means "no entry". */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ROUTED_MASK_WORDS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} routed_mask SEC(".maps");

/* (vrf, IP) -> local VM or current NVE: every VM address of a routed VN. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HOST_ROUTE_MAX_ENTRIES);
	__type(key, struct route_key);
	__type(value, struct route_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} host_routes SEC(".maps");

/* (vrf, prefix) -> gateway NVE (or local VM), longest match; consulted after host_routes. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, PREFIX_ROUTE_MAX_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct route_lpm_key);
	__type(value, struct route_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} prefix_routes SEC(".maps");

#endif /* ROAM_LIB_ROUTE_MAPS_H */
