// SPDX-License-Identifier: Apache-2.0
/* types.bpf.c: never loaded. It holds one variable of every type in roam.h so the object's
 * BTF describes them all (the programs' BTF only has the types their maps use): the codec
 * layout test and `bpftool btf dump file build/bpf/types.bpf.o` read it. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "roam.h"

struct roam_config anchor_roam_config;
struct nve_addr anchor_nve_addr;
struct fdb_key anchor_fdb_key;
struct fdb_entry anchor_fdb_entry;
struct neigh_key anchor_neigh_key;
struct neigh_entry anchor_neigh_entry;
struct tsi_info anchor_tsi_info;
struct tsi_slot anchor_tsi_slot;
struct vni_info anchor_vni_info;
struct peer_key anchor_peer_key;
struct peer_info anchor_peer_info;
struct peer_slot anchor_peer_slot;
struct nexthop anchor_nexthop;
struct nexthop_slot anchor_nexthop_slot;
struct flood_list anchor_flood_list;
struct event_limit anchor_event_limit;
struct roam_event anchor_roam_event;
struct stats_key anchor_stats_key;
struct stats_value anchor_stats_value;
struct stats_slot anchor_stats_slot;
struct flood_shim anchor_flood_shim;
struct trace_rec anchor_trace_rec;
struct routed_vni anchor_routed_vni;
struct route_key anchor_route_key;
struct route_lpm_key anchor_route_lpm_key;
struct route_entry anchor_route_entry;
enum roam_verdict anchor_roam_verdict;

char LICENSE[] SEC("license") = "GPL";
