// Every failure of the binding is a BpfError naming the operation, the object it was done on,
// errno's symbolic name and libbpf's text ("map fdb: update: E2BIG (Argument list too long)").
// libbpf 1.x returns -errno from int functions and NULL + errno from pointer functions.
import koffi from 'koffi';
import { libbpf_strerror, lastErrno, type Ptr } from './libbpf.ts';

// Where errno has two names for one number, the one people grep for.
const PREFERRED = ['EAGAIN', 'EOPNOTSUPP', 'EDEADLK'];
// Kernel-internal errnos that leak out of the bpf syscall (include/linux/errno.h).
const KERNEL_ONLY: Record<number, string> = {
  512: 'ERESTARTSYS',
  524: 'ENOTSUPP',
  526: 'EBADCOOKIE',
};
// libbpf's own error space (libbpf.h enum libbpf_errno).
const LIBBPF_ERRNO: Record<number, string> = {
  4000: 'LIBBPF_ERRNO__LIBELF',
  4001: 'LIBBPF_ERRNO__FORMAT',
  4002: 'LIBBPF_ERRNO__KVERSION',
  4003: 'LIBBPF_ERRNO__ENDIAN',
  4004: 'LIBBPF_ERRNO__INTERNAL',
  4005: 'LIBBPF_ERRNO__RELOC',
  4006: 'LIBBPF_ERRNO__LOAD',
  4007: 'LIBBPF_ERRNO__VERIFY',
  4008: 'LIBBPF_ERRNO__PROG2BIG',
  4009: 'LIBBPF_ERRNO__KVER',
  4010: 'LIBBPF_ERRNO__PROGTYPE',
  4011: 'LIBBPF_ERRNO__WRNGPID',
  4012: 'LIBBPF_ERRNO__INVSEQ',
  4013: 'LIBBPF_ERRNO__NLPARSE',
};

let byNumber: Map<number, string> | undefined;
function errnoTable(): Map<number, string> {
  if (byNumber) return byNumber;
  byNumber = new Map();
  for (const [name, num] of Object.entries(koffi.os.errno)) {
    const prev = byNumber.get(num);
    if (prev === undefined || PREFERRED.includes(name)) byNumber.set(num, name);
  }
  for (const [num, name] of Object.entries({ ...KERNEL_ONLY, ...LIBBPF_ERRNO }))
    byNumber.set(Number(num), name);
  return byNumber;
}

/** Symbolic name of a (positive) errno: 7 -> "E2BIG"; unknown numbers -> "ERRNO_<n>". */
export function errnoName(errno: number): string {
  return errnoTable().get(Math.abs(errno)) ?? `ERRNO_${Math.abs(errno)}`;
}

/** The number for a symbolic errno name ("ENOENT" -> 2), or undefined. */
export function errnoNumber(name: string): number | undefined {
  for (const [num, n] of errnoTable()) if (n === name) return num;
  return undefined;
}

const STRERROR_BUF_BYTES = 256;
const strerrorBuf = Buffer.alloc(STRERROR_BUF_BYTES);

/** libbpf's text for an errno (covers libbpf's own 4000+ codes too). */
export function errnoText(errno: number): string {
  const e = Math.abs(errno);
  if (e === 524) return 'Operation not supported by this map or program type';
  strerrorBuf.fill(0);
  libbpf_strerror(e, strerrorBuf, STRERROR_BUF_BYTES);
  const end = strerrorBuf.indexOf(0);
  return strerrorBuf.toString('utf8', 0, end < 0 ? STRERROR_BUF_BYTES : end);
}

/** A failed libbpf or bpf(2) call. */
export class BpfError extends Error {
  /** Positive errno. */
  readonly errno: number;
  /** errno's symbolic name, e.g. "E2BIG". */
  readonly code: string;

  constructor(
    /** What was attempted: "update", "load", "attach xdp", ... */
    readonly op: string,
    /** What it was attempted on: "map fdb", "program xdp_tsi", "object build/bpf/x.bpf.o". */
    readonly object: string,
    errno: number,
    /** Extra context, e.g. the tail of the verifier log. */
    readonly detail?: string,
  ) {
    const e = Math.abs(errno);
    const code = errnoName(e);
    super(`${object}: ${op}: ${code} (${errnoText(e)})${detail ? `\n${detail}` : ''}`);
    this.name = 'BpfError';
    this.errno = e;
    this.code = code;
  }
}

/** Throw a BpfError when an int-returning libbpf call failed (ret < 0); else return ret. */
export function check(ret: number, op: string, object: string, detail?: string): number {
  if (ret < 0) throw new BpfError(op, object, -ret, detail);
  return ret;
}

/** Throw a BpfError (from errno) when a pointer-returning libbpf call gave NULL. */
export function checkPtr(ptr: Ptr | null, op: string, object: string, detail?: string): Ptr {
  if (ptr === null || ptr === 0n) throw new BpfError(op, object, lastErrno() || 22, detail);
  return ptr;
}
