/* Compiles, but the verifier rejects it: it reads the packet without a bounds check. The test
 * checks that the BpfError of load() carries the verifier's reason.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_unchecked(struct xdp_md *ctx)
{
	__u8 *p = (void *)(long)ctx->data;

	return p[0] == 0xff ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
