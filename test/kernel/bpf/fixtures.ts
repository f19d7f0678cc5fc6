// Paths and helpers shared by the binding's kernel tests: the test objects built from
// bpf/test/*.bpf.c, and a fresh bpffs directory per test file.
import { mkdirSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

export const TEST_OBJ = 'build/bpf/test/binding-test.bpf.o';
export const SHARED_OBJ = 'build/bpf/test/shared-maps.bpf.o';
export const REJECT_OBJ = 'build/bpf/test/verifier-reject.bpf.o';

/** counter slots of binding-test.h */
export const CNT = { PACKETS: 0, BYTES: 1, TC_INGRESS: 2, TC_EGRESS: 3 } as const;

/** A u32 key (per-CPU array index). */
export function u32Key(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n, 0);
  return b;
}

/** A fresh directory under /sys/fs/bpf for pins; remove() deletes it and everything in it. */
export function bpffsDir(label: string): { path: string; remove: () => void } {
  const path = `/sys/fs/bpf/roamt-${label}-${randomBytes(4).toString('hex')}`;
  mkdirSync(path, { recursive: true });
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Number of open fds of this process. */
export function openFds(): number {
  return readdirCount('/proc/self/fd');
}

import { readdirSync } from 'node:fs';
function readdirCount(dir: string): number {
  return readdirSync(dir).length;
}
