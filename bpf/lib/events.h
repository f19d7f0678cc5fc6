/* SPDX-License-Identifier: Apache-2.0 */
/* events.h: announcements (GARP, unsolicited NA, RARP) and unknown source MACs go to the agent
 * on the `events` ring buffer through two token buckets, so a misbehaving VM cannot flood the
 * agent: one per (vni, MAC), at most event_burst at once and one more per event_refill_ns;
 * and one per TSI, EVENT_TSI_FACTOR times larger and faster, which stops a VM that sprays
 * random source MACs (each of which would get a fresh per-MAC bucket). */
#ifndef ROAM_LIB_EVENTS_H
#define ROAM_LIB_EVENTS_H

#include "lib/maps.h"
#include "lib/eth.h"

#ifndef EVENT_DEFAULT_REFILL_NS
#define EVENT_DEFAULT_REFILL_NS 100000000ULL /* 100 ms */
#endif
#ifndef EVENT_DEFAULT_BURST
#define EVENT_DEFAULT_BURST 4
#endif
/* The per-TSI bucket holds this many times the per-MAC burst and refills this much faster. */
#ifndef EVENT_TSI_FACTOR
#define EVENT_TSI_FACTOR 16
#endif

/* True when the bucket `key` may spend one token now (and spends it). */
static __always_inline int event_take_token(const struct fdb_key *key, __u32 burst,
					    __u64 refill_ns)
{
	struct event_limit *lim, init = {};
	__u64 now = bpf_ktime_get_ns(), refills;

	if (!refill_ns)
		refill_ns = 1;
	lim = bpf_map_lookup_elem(&event_limits, key);
	if (!lim) {
		init.last_ns = now;
		init.tokens = burst - 1;
		bpf_map_update_elem(&event_limits, key, &init, BPF_ANY);
		return 1;
	}
	refills = (now - lim->last_ns) / refill_ns;
	if (refills) {
		__u64 tokens = lim->tokens + refills;

		lim->tokens = tokens > burst ? burst : tokens;
		lim->last_ns += refills * refill_ns;
	}
	if (!lim->tokens)
		return 0;
	lim->tokens--;
	return 1;
}

/* Reports (ifindex, vni, mac, kind, ip) to the agent unless rate-limited or the ring is
 * full; ip may be NULL (family FAMILY_NONE) and is 4 or 16 bytes by family. Returns 1 when
 * the agent will see the event. */
static __always_inline int event_emit(const struct roam_config *cfg, __u32 ifindex, __u32 vni,
				       const __u8 *mac, __u8 kind, __u8 family, const __u8 *ip)
{
	__u64 refill_ns = cfg->event_refill_ns ? cfg->event_refill_ns : EVENT_DEFAULT_REFILL_NS;
	__u32 burst = cfg->event_burst ? cfg->event_burst : EVENT_DEFAULT_BURST;
	/* the TSI's bucket: keyed (ifindex, ff:ff:ff:ff:ff:ff), a source MAC no frame can have */
	struct fdb_key tsi_key = { .vni = ifindex, .mac = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } };
	struct fdb_key mac_key = { .vni = vni };
	struct roam_event *ev;

	/* a VM is never a group or zero MAC (and ff:ff.. keys the TSI buckets) */
	if (eth_is_group(mac) || eth_is_zero(mac))
		return 0;
	eth_addr_copy(mac_key.mac, mac);
	/* per MAC first: a MAC over its own limit does not use up its TSI's budget */
	if (!event_take_token(&mac_key, burst, refill_ns))
		return 0;
	if (!event_take_token(&tsi_key, burst * EVENT_TSI_FACTOR, refill_ns / EVENT_TSI_FACTOR))
		return 0;
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev)
		return 0;
	ev->time_ns = bpf_ktime_get_ns();
	ev->ifindex = ifindex;
	ev->vni = vni;
	eth_addr_copy(ev->mac, mac);
	ev->kind = kind;
	ev->family = family;
	__builtin_memset(ev->ip, 0, sizeof(ev->ip));
	if (ip && family == FAMILY_V4)
		__builtin_memcpy(ev->ip, ip, 4);
	else if (ip && family == FAMILY_V6)
		__builtin_memcpy(ev->ip, ip, 16);
	bpf_ringbuf_submit(ev, 0);
	return 1;
}

/* A VM announced itself on this TSI (GARP, unsolicited NA, RARP) and the agent was told: it
 * lives here from this frame on. Frames the old NVE re-tunnels to us arrive before the agent
 * could act on the event (a ring-buffer round trip through user space), so the entry is
 * written here; the agent writes the same one when it reads the event, and corrects it if
 * the NVA disagrees. Only with an event: without one the agent would not know to. */
static __always_inline void event_learn_local(__u32 ifindex, __u32 vni, const __u8 *mac)
{
	struct fdb_entry local = { .kind = FDB_LOCAL, .ifindex = ifindex };
	struct fdb_key key = { .vni = vni };
	struct fdb_entry *e;

	eth_addr_copy(key.mac, mac);
	e = bpf_map_lookup_elem(&fdb, &key);
	/* already here (a migrating VM, dual, stays dual until its move completes) */
	if (e && (e->kind == FDB_LOCAL || e->kind == FDB_DUAL) && e->ifindex == ifindex)
		return;
	/* the MAC's IPv4 for RARP answers stays what the agent wrote into the entry */
	if (e)
		__builtin_memcpy(local.rarp_ip4, e->rarp_ip4, sizeof(local.rarp_ip4));
	bpf_map_update_elem(&fdb, &key, &local, BPF_ANY);
}

/* event_emit for an announcement of `mac`, then event_learn_local when the frame's own sender
 * announces itself and the TSI allows that MAC (a TSI configured for one MAC allows no other:
 * the agent would ignore the event and a VM could hold another's MAC here until it did). */
static __always_inline void event_announce(const struct roam_config *cfg,
					   const struct tsi_info *tsi, __u32 ifindex, __u32 vni,
					   const __u8 *src, const __u8 *mac, __u8 kind, __u8 family,
					   const __u8 *ip)
{
	if (!event_emit(cfg, ifindex, vni, mac, kind, family, ip) || !eth_addr_equal(mac, src))
		return;
	if ((tsi->flags & F_TSI_MAC) && !eth_addr_equal(tsi->mac, mac))
		return;
	event_learn_local(ifindex, vni, mac);
}

#endif /* ROAM_LIB_EVENTS_H */
