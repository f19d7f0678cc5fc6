/* SPDX-License-Identifier: Apache-2.0 */
/* maps.h: every map roam's programs share. Each object includes this once; all are pinned by
 * name, so objects opened with the same pin root (/sys/fs/bpf/roam/<instance>) share one set,
 * and a restarted agent re-adopts them. Keep definitions identical across objects: libbpf
 * refuses to reuse a pinned map whose type, sizes or max_entries differ. */
#ifndef ROAM_LIB_MAPS_H
#define ROAM_LIB_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "roam.h"

/* Runtime settings of the underlay (key 0). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct roam_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} config SEC(".maps");

/* ifindex -> the TSI's virtual network: the slots every frame reads (lib/slots.h), and the
 * spill hash for TSIs whose slots were taken. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TSI_SLOTS);
	__type(key, __u32);
	__type(value, struct tsi_slot);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tsi_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TSI_MAX_ENTRIES);
	__type(key, __u32);
	__type(value, struct tsi_info);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tsis SEC(".maps");

/* VNIs served here. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VNI_MAX_ENTRIES);
	__type(key, __u32);
	__type(value, struct vni_info);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vnis SEC(".maps");

/* (vni, NVE) pairs allowed to send us tunnelled frames: anti-spoofing on decap. Slots, and
 * the spill hash. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PEER_SLOTS);
	__type(key, __u32);
	__type(value, struct peer_slot);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} peer_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PEER_MAX_ENTRIES);
	__type(key, struct peer_key);
	__type(value, struct peer_info);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} peers SEC(".maps");

/* (vni, MAC) -> local TSI, remote NVE, or moved-to NVE. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FDB_MAX_ENTRIES);
	__type(key, struct fdb_key);
	__type(value, struct fdb_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} fdb SEC(".maps");

/* (vni, IP) -> MAC for ARP / ND answers. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NEIGH_MAX_ENTRIES);
	__type(key, struct neigh_key);
	__type(value, struct neigh_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} neigh SEC(".maps");

/* NVE -> underlay next-hop MAC (installed by the agent; see also F_CFG_GATEWAY / F_CFG_FIB).
 * Slots, and the spill hash. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NEXTHOP_SLOTS);
	__type(key, __u32);
	__type(value, struct nexthop_slot);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nexthop_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NEXTHOP_MAX_ENTRIES);
	__type(key, struct nve_addr);
	__type(value, struct nexthop);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} nexthops SEC(".maps");

/* vni -> local TSIs and remote NVEs to replicate broadcast/multicast to. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VNI_MAX_ENTRIES);
	__type(key, __u32);
	__type(value, struct flood_list);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flood SEC(".maps");

/* Per-CPU packet/byte counters per (vni, verdict): an array, so the lookup every frame makes
 * is an index computation rather than a hash walk (see stats.h). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STATS_SLOTS);
	__type(key, __u32);
	__type(value, struct stats_slot);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} stats SEC(".maps");

/* Counters whose slots in `stats` were all taken. Not preallocated: a preallocated per-CPU
 * map costs max_entries x CPUs x 16 bytes up front (200 MB on a 64-core host). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, STATS_MAX_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct stats_key);
	__type(value, struct stats_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} stats_spill SEC(".maps");

/* Announcements and unknown source MACs for the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, EVENTS_RINGBUF_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} events SEC(".maps");

/* Per-(vni, MAC) token buckets so one VM cannot flood the agent with events. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, EVENT_LIMIT_MAX_ENTRIES);
	__type(key, struct fdb_key);
	__type(value, struct event_limit);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} event_limits SEC(".maps");

/* Per-CPU frame counter that picks which unicast data frames get their source MAC checked. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} learn_sample SEC(".maps");

/* Tests only (F_CFG_TRACE): where frames would have left. trace_len[0] counts records. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TRACE_MAX_RECORDS);
	__type(key, __u32);
	__type(value, struct trace_rec);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} trace SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} trace_len SEC(".maps");

static __always_inline struct roam_config *config_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&config, &zero);
}

#endif /* ROAM_LIB_MAPS_H */
