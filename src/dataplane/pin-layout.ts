// Where one roam instance keeps its kernel objects in bpffs, so a restarted agent (or another
// process) finds them again:
//   <base>/<instance>/<map>                      maps, pinned by name (LIBBPF_PIN_BY_NAME)
//   <base>/<instance>/progs/<program>            the four programs
//   <base>/<instance>/links/<role>-<ifindex>-<hook>   XDP and TCX links (role: tsi | underlay)
import { join } from 'node:path';

export const DEFAULT_PIN_BASE = '/sys/fs/bpf/roam';
/** An instance name becomes a directory: keep it to a safe alphabet. */
const INSTANCE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export type LinkRole = 'tsi' | 'underlay';
export type LinkHook = 'xdp' | 'tc';

/** A pinned link, as its file name says. */
export interface LinkPin {
  role: LinkRole;
  ifindex: number;
  hook: LinkHook;
}

/** Throws a clear error for an instance name that is not a plain directory name. */
export function checkInstanceName(instance: string): void {
  if (!INSTANCE_NAME.test(instance)) {
    throw new Error(
      `instance name "${instance}" must be 1-64 of [A-Za-z0-9_.-], starting with a letter or digit`,
    );
  }
}

export class PinLayout {
  readonly root: string;

  constructor(instance: string, base = DEFAULT_PIN_BASE) {
    checkInstanceName(instance);
    this.root = join(base, instance);
  }

  map(name: string): string {
    return join(this.root, name);
  }

  get progsDir(): string {
    return join(this.root, 'progs');
  }

  program(name: string): string {
    return join(this.progsDir, name);
  }

  get linksDir(): string {
    return join(this.root, 'links');
  }

  link(pin: LinkPin): string {
    return join(this.linksDir, linkPinName(pin));
  }
}

export function linkPinName(p: LinkPin): string {
  return `${p.role}-${p.ifindex}-${p.hook}`;
}

/** Parses a link pin's file name; null for anything else. */
export function parseLinkPinName(name: string): LinkPin | null {
  const m = /^(tsi|underlay)-(\d+)-(xdp|tc)$/.exec(name);
  if (!m) return null;
  return { role: m[1] as LinkRole, ifindex: Number(m[2]), hook: m[3] as LinkHook };
}
