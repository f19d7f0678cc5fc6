/* SPDX-License-Identifier: Apache-2.0 */
/* trace.h: test-only record of where frames leave (F_CFG_TRACE). BPF_PROG_TEST_RUN does not
 * say which interface an XDP_REDIRECT targets, so the packet tests read it from `trace`. */
#ifndef ROAM_LIB_TRACE_H
#define ROAM_LIB_TRACE_H

#include "lib/maps.h"

/* Appends (ifindex, vni, verdict, remote) when tracing is on; remote may be NULL. */
static __always_inline void trace_record_tx(const struct roam_config *cfg, __u32 ifindex,
					    __u32 vni, __u32 verdict, const struct nve_addr *remote)
{
	__u32 zero = 0, idx;
	__u32 *len;
	struct trace_rec *rec;

	if (!(cfg->flags & F_CFG_TRACE))
		return;
	len = bpf_map_lookup_elem(&trace_len, &zero);
	if (!len)
		return;
	idx = *len;
	if (idx >= TRACE_MAX_RECORDS)
		return;
	rec = bpf_map_lookup_elem(&trace, &idx);
	if (!rec)
		return;
	rec->ifindex = ifindex;
	rec->vni = vni;
	rec->verdict = verdict;
	if (remote)
		__builtin_memcpy(&rec->remote, remote, sizeof(*remote));
	else
		__builtin_memset(&rec->remote, 0, sizeof(rec->remote));
	*len = idx + 1;
}

#endif /* ROAM_LIB_TRACE_H */
