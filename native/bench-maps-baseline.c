/* Reference for scripts/bench-maps.ts: the same single and batched map writes issued from C,
 * so the benchmark can show how much the TS binding adds on top of the kernel (on a shared
 * machine, absolute rates say as much about the neighbours as about us). Raw bpf(2), like
 * libbpf's own wrappers, so this library needs nothing but libc.
 */
#include <linux/bpf.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

/* one BPF_MAP_UPDATE_ELEM per packed entry; returns 0 or the first -errno */
int roam_bench_single(int fd, const uint8_t *keys, const uint8_t *values, uint32_t n,
		      uint32_t key_size, uint32_t value_size)
{
	union bpf_attr attr;

	for (uint32_t i = 0; i < n; i++) {
		memset(&attr, 0, sizeof(attr));
		attr.map_fd = fd;
		attr.key = (uintptr_t)(keys + (size_t)i * key_size);
		attr.value = (uintptr_t)(values + (size_t)i * value_size);
		attr.flags = BPF_ANY;
		if (sys_bpf(BPF_MAP_UPDATE_ELEM, &attr) < 0)
			return -1;
	}
	return 0;
}

/* BPF_MAP_UPDATE_BATCH in chunks of `batch` entries; returns 0 or -1 */
int roam_bench_batch(int fd, const uint8_t *keys, const uint8_t *values, uint32_t n,
		     uint32_t key_size, uint32_t value_size, uint32_t batch)
{
	union bpf_attr attr;

	for (uint32_t off = 0; off < n; off += batch) {
		memset(&attr, 0, sizeof(attr));
		attr.batch.map_fd = fd;
		attr.batch.keys = (uintptr_t)(keys + (size_t)off * key_size);
		attr.batch.values = (uintptr_t)(values + (size_t)off * value_size);
		attr.batch.count = n - off < batch ? n - off : batch;
		if (sys_bpf(BPF_MAP_UPDATE_BATCH, &attr) < 0)
			return -1;
	}
	return 0;
}
