/* What the binding's test programs and their TS tests agree on: counter slots, the event the
 * ring-buffer program emits, the read-only config. Test-only; roam's real contract lives in
 * bpf/roam.h.
 */
#ifndef ROAM_BINDING_TEST_H
#define ROAM_BINDING_TEST_H

#include <linux/types.h>

/* per-CPU counter slots (u64 each) */
#define CNT_PACKETS 0
#define CNT_BYTES 1
#define CNT_TC_INGRESS 2
#define CNT_TC_EGRESS 3
#define CNT_SLOTS 4

#define KV_KEY_SIZE 16
#define KV_VALUE_SIZE 16
#define KV_MAX_ENTRIES 1024

/* one frame seen by xdp_event */
struct frame_event {
	__u32 len;
	__u32 seq;
	__u8 head[8]; /* first bytes of the frame */
};

#endif
