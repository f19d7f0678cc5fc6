/* Maps pinned by name (LIBBPF_PIN_BY_NAME): two objects opened with the same pinRoot share
 * them, and a second process re-adopts them.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__type(key, __u32);
	__type(value, __u64);
} shared_kv SEC(".maps");

/* adds 1 to shared_kv[0] per frame, so a test sees the shared map through a program */
SEC("xdp")
int xdp_shared(struct xdp_md *ctx)
{
	__u32 k = 0;
	__u64 one = 1, *v = bpf_map_lookup_elem(&shared_kv, &k);

	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&shared_kv, &k, &one, BPF_NOEXIST);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
