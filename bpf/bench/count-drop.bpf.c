// SPDX-License-Identifier: Apache-2.0
/* The benchmark's receiver: counts every frame that reaches the far VM and drops it, so the
 * receiving stack is never the bottleneck. Also the lab's "tiny XDP program on a veth peer"
 * variant count_pass, which counts and passes (it turns on the veth's NAPI so redirected frames
 * are delivered, and lets a test count what arrived). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* Slot 0: frames seen. Per-CPU, summed by the reader. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} rx_count SEC(".maps");

static __always_inline void count_frame(void)
{
	__u32 slot = 0;
	__u64 *n = bpf_map_lookup_elem(&rx_count, &slot);

	if (n)
		*n += 1;
}

SEC("xdp")
int count_drop(struct xdp_md *ctx)
{
	count_frame();
	return XDP_DROP;
}

SEC("xdp")
int count_pass(struct xdp_md *ctx)
{
	count_frame();
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
