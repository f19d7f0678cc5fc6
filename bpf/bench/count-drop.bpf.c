// SPDX-License-Identifier: Apache-2.0
/* The benchmark's receiver: counts every frame that reaches the far VM and drops it, so the
 * receiving stack is never the bottleneck. Also the lab's "tiny XDP program on a veth peer"
 * variant count_pass, which counts and passes (it turns on the veth's NAPI so redirected frames
 * are delivered, and lets a test count what arrived). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* Slot 0: frames seen; slot 1: the IPv4 UDP ones among them (what the generators send: a test
 * can tell them from the namespace's own IPv6 autoconfiguration chatter). Per-CPU, summed by
 * the reader. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} rx_count SEC(".maps");

static __always_inline void count_slot(__u32 slot)
{
	__u64 *n = bpf_map_lookup_elem(&rx_count, &slot);

	if (n)
		*n += 1;
}

static __always_inline void count_frame(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);

	count_slot(0);
	if ((void *)(ip + 1) <= data_end && eth->h_proto == bpf_htons(ETH_P_IP) &&
	    ip->protocol == IPPROTO_UDP)
		count_slot(1);
}

SEC("xdp")
int count_drop(struct xdp_md *ctx)
{
	count_frame(ctx);
	return XDP_DROP;
}

SEC("xdp")
int count_pass(struct xdp_md *ctx)
{
	count_frame(ctx);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
