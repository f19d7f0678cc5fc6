/* Small programs the binding's tests load: an XDP counter with a configurable verdict, a MAC
 * swapper (frame out differs from frame in), a ring-buffer emitter, TC counters, plus maps of
 * several types (hash, per-CPU array, LPM trie without batch ops, ring buffer).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "binding-test.h"

/* verdict xdp_count returns; set by the loader through .rodata */
const volatile __u32 xdp_verdict = XDP_PASS;
/* added to every byte count; a second knob so the tests see distinct .rodata offsets */
const volatile __u64 bytes_bias = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CNT_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct kv_key {
	__u8 b[KV_KEY_SIZE];
};
struct kv_value {
	__u8 b[KV_VALUE_SIZE];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KV_MAX_ENTRIES);
	__type(key, struct kv_key);
	__type(value, struct kv_value);
} kv SEC(".maps");

struct lpm_key {
	__u32 prefixlen;
	__u32 addr;
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 256);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_key);
	__type(value, __u32);
} lpm SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

static __always_inline void count(__u32 slot, __u64 n)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &slot);

	if (c)
		*c += n;
}

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	count(CNT_PACKETS, 1);
	count(CNT_BYTES, ctx->data_end - ctx->data + bytes_bias);
	return xdp_verdict;
}

/* swap Ethernet source and destination: a frame out that differs from the frame in */
SEC("xdp")
int xdp_swap(struct xdp_md *ctx)
{
	__u8 *p = (void *)(long)ctx->data;
	__u8 *end = (void *)(long)ctx->data_end;
	__u8 tmp;

	if (p + 12 > end)
		return XDP_DROP;
	for (int i = 0; i < 6; i++) {
		tmp = p[i];
		p[i] = p[i + 6];
		p[i + 6] = tmp;
	}
	return XDP_TX;
}

static __u32 seq;

/* one ring-buffer event per frame, then pass */
SEC("xdp")
int xdp_event(struct xdp_md *ctx)
{
	__u8 *p = (void *)(long)ctx->data;
	__u8 *end = (void *)(long)ctx->data_end;
	struct frame_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return XDP_PASS;
	e->len = end - p;
	e->seq = seq++; /* racy across CPUs; the tests run it on one */
	for (int i = 0; i < 8; i++)
		e->head[i] = p + i + 1 <= end ? p[i] : 0;
	bpf_ringbuf_submit(e, 0);
	return XDP_PASS;
}

SEC("tc")
int tc_ingress_count(struct __sk_buff *skb)
{
	count(CNT_TC_INGRESS, 1);
	return TC_ACT_OK;
}

SEC("tc")
int tc_egress_count(struct __sk_buff *skb)
{
	count(CNT_TC_EGRESS, 1);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
