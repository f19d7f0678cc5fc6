// Run code with the calling thread inside a named network namespace (/var/run/netns/<name>),
// via setns(2) over libc. One process can so attach XDP/TC to interfaces inside namespaces:
// ifindex lookups, bpf_link_create and TC netlink all act in the thread's current namespace.
import { BpfError } from './errors.ts';
import * as L from './libbpf.ts';

const O_RDONLY = 0;
const O_CLOEXEC = 0o2000000;
const CLONE_NEWNET = 0x40000000;
const NETNS_DIR = '/var/run/netns';

// The namespace the thread is in (undefined = the one it started in), for objects that must
// return there later (a TC attachment detaches in the namespace it was made in).
let current: string | undefined;

/** The name given to the innermost running inNetns(), or undefined outside of any. */
export function currentNetns(): string | undefined {
  return current;
}

function openNs(path: string, label: string): number {
  const fd = L.c_open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw new BpfError(`open ${path}`, label, L.lastErrno() || 2);
  return fd;
}

/** setns into namespace `name` (undefined: stay), run fn synchronously, switch back, even on throw. */
export function inNetns<T>(name: string | undefined, fn: () => T): T {
  if (name === undefined) return fn();
  const label = `netns ${name}`;
  const home = openNs('/proc/thread-self/ns/net', label);
  try {
    const target = openNs(`${NETNS_DIR}/${name}`, label);
    try {
      if (L.c_setns(target, CLONE_NEWNET) < 0)
        throw new BpfError('setns', label, L.lastErrno() || 1);
    } finally {
      L.c_close(target);
    }
    const outer = current;
    current = name;
    let result: { ok: true; value: T } | { ok: false; error: unknown };
    try {
      result = { ok: true, value: fn() };
    } catch (error) {
      result = { ok: false, error };
    }
    current = outer;
    // Staying in the wrong namespace would silently misdirect everything after: fail hard.
    if (L.c_setns(home, CLONE_NEWNET) < 0)
      throw new BpfError('setns back', label, L.lastErrno() || 1);
    if (!result.ok) throw result.error;
    return result.value;
  } finally {
    L.c_close(home);
  }
}
