// koffi declarations of the libbpf.so.1 (Debian libbpf 1.1.2) and libc functions the binding
// uses. Internal to src/bpf: everything else goes through object/map/program/link. Opaque libbpf
// objects are pointers (BigInt in koffi 3); opts structs are plain Buffers laid out by the
// offsets below, measured with offsetof() against /usr/include/bpf 1.1.2.
import koffi from 'koffi';

const LIBBPF_PATH = process.env.ROAM_LIBBPF ?? 'libbpf.so.1';
const LIBC_PATH = 'libc.so.6';

export const lib = koffi.load(LIBBPF_PATH);
export const libc = koffi.load(LIBC_PATH);

/** A raw C pointer (0n is NULL). */
export type Ptr = bigint;

// koffi's named types are process-wide, but a test runner may evaluate this module more than
// once in one process (vitest's netns project: one fork, a fresh module registry per file):
// declare each named type once per process and reuse it.
const protos = ((globalThis as { __roamKoffiProtos?: Map<string, unknown> }).__roamKoffiProtos ??=
  new Map<string, unknown>());
const proto = (decl: string): ReturnType<typeof koffi.proto> => {
  if (!protos.has(decl)) protos.set(decl, koffi.proto(decl));
  return protos.get(decl) as ReturnType<typeof koffi.proto>;
};

/** libbpf_print_fn_t: level, fmt, va_list (an array type on x86_64, so a pointer). */
export const PrintFn = proto('int roam_libbpf_print_fn(int level, const char *fmt, void *args)');
/** ring_buffer_sample_fn. */
export const SampleFn = proto('int roam_ring_buffer_sample_fn(void *ctx, void *data, size_t size)');

type Fn<A extends unknown[], R> = ((...args: A) => R) & {
  async: (...args: [...A, (err: unknown, res: R) => void]) => void;
};
const f = <A extends unknown[], R>(decl: string, l = lib): Fn<A, R> =>
  l.func(decl) as unknown as Fn<A, R>;

// --- object / program / map handles (libbpf.h) ---
export const bpf_object__open_file = f<[string, Buffer | null], Ptr>(
  'void *bpf_object__open_file(const char *path, void *opts)',
);
export const bpf_object__load = f<[Ptr], number>('int bpf_object__load(void *obj)');
export const bpf_object__close = f<[Ptr], void>('void bpf_object__close(void *obj)');
export const bpf_object__find_map_by_name = f<[Ptr, string], Ptr>(
  'void *bpf_object__find_map_by_name(void *obj, const char *name)',
);
export const bpf_object__find_program_by_name = f<[Ptr, string], Ptr>(
  'void *bpf_object__find_program_by_name(void *obj, const char *name)',
);
export const bpf_object__next_map = f<[Ptr, Ptr | null], Ptr>(
  'void *bpf_object__next_map(void *obj, void *prev)',
);
export const bpf_object__next_program = f<[Ptr, Ptr | null], Ptr>(
  'void *bpf_object__next_program(void *obj, void *prev)',
);
export const bpf_map__name = f<[Ptr], string>('const char *bpf_map__name(void *map)');
export const bpf_map__fd = f<[Ptr], number>('int bpf_map__fd(void *map)');
export const bpf_map__type = f<[Ptr], number>('int bpf_map__type(void *map)');
export const bpf_map__key_size = f<[Ptr], number>('uint32_t bpf_map__key_size(void *map)');
export const bpf_map__value_size = f<[Ptr], number>('uint32_t bpf_map__value_size(void *map)');
export const bpf_map__max_entries = f<[Ptr], number>('uint32_t bpf_map__max_entries(void *map)');
export const bpf_map__set_max_entries = f<[Ptr, number], number>(
  'int bpf_map__set_max_entries(void *map, uint32_t n)',
);
export const bpf_map__set_initial_value = f<[Ptr, Buffer, number], number>(
  'int bpf_map__set_initial_value(void *map, const void *data, size_t size)',
);
export const bpf_map__reuse_fd = f<[Ptr, number], number>(
  'int bpf_map__reuse_fd(void *map, int fd)',
);
export const bpf_map__set_pin_path = f<[Ptr, string | null], number>(
  'int bpf_map__set_pin_path(void *map, const char *path)',
);
export const bpf_map__pin_path = f<[Ptr], string | null>(
  'const char *bpf_map__pin_path(void *map)',
);
export const bpf_program__name = f<[Ptr], string>('const char *bpf_program__name(void *prog)');
export const bpf_program__fd = f<[Ptr], number>('int bpf_program__fd(void *prog)');
export const bpf_program__type = f<[Ptr], number>('int bpf_program__type(void *prog)');
export const bpf_program__set_autoload = f<[Ptr, boolean], number>(
  'int bpf_program__set_autoload(void *prog, bool autoload)',
);

// --- raw syscall wrappers (bpf.h): return -errno ---
export const bpf_map_create = f<
  [number, string | null, number, number, number, Buffer | null],
  number
>(
  'int bpf_map_create(int type, const char *name, uint32_t key_size, uint32_t value_size, uint32_t max_entries, void *opts)',
);
export const bpf_map_lookup_elem = f<[number, Buffer, Buffer], number>(
  'int bpf_map_lookup_elem(int fd, const void *key, void *value)',
);
export const bpf_map_update_elem = f<[number, Buffer, Buffer, number], number>(
  'int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)',
);
export const bpf_map_delete_elem = f<[number, Buffer], number>(
  'int bpf_map_delete_elem(int fd, const void *key)',
);
export const bpf_map_get_next_key = f<[number, Buffer | null, Buffer], number>(
  'int bpf_map_get_next_key(int fd, const void *key, void *next_key)',
);
export const bpf_map_update_batch = f<[number, Buffer, Buffer, Buffer, Buffer], number>(
  'int bpf_map_update_batch(int fd, const void *keys, const void *values, void *count, void *opts)',
);
export const bpf_map_lookup_batch = f<
  [number, Buffer | null, Buffer, Buffer, Buffer, Buffer, Buffer],
  number
>(
  'int bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values, void *count, void *opts)',
);
export const bpf_map_delete_batch = f<[number, Buffer, Buffer, Buffer], number>(
  'int bpf_map_delete_batch(int fd, const void *keys, void *count, void *opts)',
);
export const bpf_obj_pin = f<[number, string], number>('int bpf_obj_pin(int fd, const char *path)');
export const bpf_obj_get = f<[string], number>('int bpf_obj_get(const char *path)');
export const bpf_obj_get_info_by_fd = f<[number, Buffer, Buffer], number>(
  'int bpf_obj_get_info_by_fd(int fd, void *info, void *info_len)',
);
export const bpf_prog_test_run_opts = f<[number, Buffer], number>(
  'int bpf_prog_test_run_opts(int prog_fd, void *opts)',
);
export const bpf_link_create = f<[number, number, number, Buffer], number>(
  'int bpf_link_create(int prog_fd, int target_fd, int attach_type, void *opts)',
);
export const bpf_link_detach = f<[number], number>('int bpf_link_detach(int link_fd)');
export const bpf_tc_hook_create = f<[Buffer], number>('int bpf_tc_hook_create(void *hook)');
export const bpf_tc_hook_destroy = f<[Buffer], number>('int bpf_tc_hook_destroy(void *hook)');
export const bpf_tc_attach = f<[Buffer, Buffer], number>(
  'int bpf_tc_attach(void *hook, void *opts)',
);
export const bpf_tc_detach = f<[Buffer, Buffer], number>(
  'int bpf_tc_detach(void *hook, void *opts)',
);
export const bpf_tc_query = f<[Buffer, Buffer], number>('int bpf_tc_query(void *hook, void *opts)');

// --- ring buffer ---
export const ring_buffer__new = f<[number, Ptr, Ptr | null, Buffer | null], Ptr>(
  'void *ring_buffer__new(int map_fd, void *sample_cb, void *ctx, void *opts)',
);
export const ring_buffer__poll = f<[Ptr, number], number>(
  'int ring_buffer__poll(void *rb, int timeout_ms)',
);
export const ring_buffer__consume = f<[Ptr], number>('int ring_buffer__consume(void *rb)');
export const ring_buffer__free = f<[Ptr], void>('void ring_buffer__free(void *rb)');

// --- misc ---
export const libbpf_num_possible_cpus = f<[], number>('int libbpf_num_possible_cpus(void)');
export const libbpf_strerror = f<[number, Buffer, number], number>(
  'int libbpf_strerror(int err, void *buf, size_t size)',
);
export const libbpf_set_print = f<[Ptr | null], Ptr>('void *libbpf_set_print(void *fn)');

// --- libc ---
export const c_close = f<[number], number>('int close(int fd)', libc);
export const c_open = f<[string, number], number>('int open(const char *path, int flags)', libc);
export const c_setns = f<[number, number], number>('int setns(int fd, int nstype)', libc);
export const c_vsnprintf = f<[Buffer, number, string, Ptr], number>(
  'int vsnprintf(void *buf, size_t size, const char *fmt, void *args)',
  libc,
);
export const c_strerror = f<[number], string>('const char *strerror(int errnum)', libc);

/** The thread's errno after the last FFI call (for the NULL-returning libbpf functions). */
export function lastErrno(): number {
  return koffi.errno();
}

// Struct layouts (sizes and offsets in bytes) for libbpf 1.1.2 on x86_64.
export const OPEN_OPTS = { size: 80, objectName: 8, pinRootPath: 24 } as const;
export const TEST_RUN_OPTS = {
  size: 80,
  dataIn: 8,
  dataOut: 16,
  dataSizeIn: 24,
  dataSizeOut: 28,
  ctxIn: 32,
  ctxOut: 40,
  ctxSizeIn: 48,
  ctxSizeOut: 52,
  retval: 56,
  repeat: 60,
  duration: 64,
  flags: 68,
  cpu: 72,
} as const;
export const LINK_CREATE_OPTS = { size: 64, flags: 8 } as const;
export const BATCH_OPTS = { size: 24, elemFlags: 8, flags: 16 } as const;
export const TC_HOOK = { size: 24, ifindex: 8, attachPoint: 12, parent: 16 } as const;
export const TC_OPTS = {
  size: 32,
  progFd: 8,
  flags: 12,
  progId: 16,
  handle: 20,
  priority: 24,
} as const;
export const MAP_INFO = {
  size: 88,
  type: 0,
  id: 4,
  keySize: 8,
  valueSize: 12,
  maxEntries: 16,
  flags: 20,
  name: 24,
} as const;
export const PROG_INFO = {
  size: 232,
  type: 0,
  id: 4,
  name: 64,
  runTimeNs: 192,
  runCnt: 200,
} as const;
export const LINK_INFO = { size: 48, type: 0, id: 4, progId: 8, xdpIfindex: 16 } as const;
export const BPF_OBJ_NAME_LEN = 16;

/** Address of a Buffer's memory, for pointer fields inside opts structs. */
export function addressOf(buf: Buffer): bigint {
  return koffi.address(buf);
}
export const bpf_map__initial_value = f<[Ptr, Buffer], Ptr | null>(
  'void *bpf_map__initial_value(void *map, void *psize)',
);
export const bpf_enable_stats = f<[number], number>('int bpf_enable_stats(int type)');

// --- BTF (btf.h) ---
export const bpf_object__btf = f<[Ptr], Ptr | null>('void *bpf_object__btf(void *obj)');
export const btf__parse_elf = f<[string, Ptr | null], Ptr | null>(
  'void *btf__parse_elf(const char *path, void *ext)',
);
export const btf__free = f<[Ptr], void>('void btf__free(void *btf)');
export const btf__find_by_name_kind = f<[Ptr, string, number], number>(
  'int32_t btf__find_by_name_kind(void *btf, const char *name, uint32_t kind)',
);
export const btf__type_by_id = f<[Ptr, number], Ptr | null>(
  'void *btf__type_by_id(void *btf, uint32_t id)',
);
export const btf__name_by_offset = f<[Ptr, number], string | null>(
  'const char *btf__name_by_offset(void *btf, uint32_t off)',
);
export const btf__resolve_size = f<[Ptr, number], number>(
  'int64_t btf__resolve_size(void *btf, uint32_t id)',
);
