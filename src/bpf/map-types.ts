// Numbers and names of the kernel's map and program types (include/uapi/linux/bpf.h) that the
// binding needs to reason about.

export const BPF_MAP_TYPE = {
  HASH: 1,
  ARRAY: 2,
  PROG_ARRAY: 3,
  PERF_EVENT_ARRAY: 4,
  PERCPU_HASH: 5,
  PERCPU_ARRAY: 6,
  LRU_HASH: 9,
  LRU_PERCPU_HASH: 10,
  LPM_TRIE: 11,
  ARRAY_OF_MAPS: 12,
  HASH_OF_MAPS: 13,
  DEVMAP: 14,
  CPUMAP: 16,
  XSKMAP: 17,
  PERCPU_CGROUP_STORAGE: 21,
  DEVMAP_HASH: 25,
  RINGBUF: 27,
} as const;

export const BPF_PROG_TYPE = { SCHED_CLS: 3, SCHED_ACT: 4, XDP: 6 } as const;

const PERCPU = new Set<number>([
  BPF_MAP_TYPE.PERCPU_HASH,
  BPF_MAP_TYPE.PERCPU_ARRAY,
  BPF_MAP_TYPE.LRU_PERCPU_HASH,
  BPF_MAP_TYPE.PERCPU_CGROUP_STORAGE,
]);

/** True for map types whose values are one slot per possible CPU. */
export function isPerCpuMapType(type: number): boolean {
  return PERCPU.has(type);
}

/** Update flags for BpfMap.update. */
export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;
