// TC clsact attachment of a SCHED_CLS program (bpf_tc_hook_create + bpf_tc_attach, direct
// action). detach() removes exactly our filter; the clsact qdisc goes too only when this process
// created it and holds no other filter on that interface.
import { BpfError, check } from './errors.ts';
import * as L from './libbpf.ts';
import { installLibbpfLogger } from './log.ts';
import { currentNetns, inNetns } from './netns.ts';

// libbpf's messages go to pino from the first call on, not only after an object was opened.
installLibbpfLogger();

const EEXIST = 17;
const BPF_TC_INGRESS = 1;
const BPF_TC_EGRESS = 2;

export type TcDirection = 'ingress' | 'egress';

export interface TcAttachOptions {
  /** Filter priority (0: the kernel picks). */
  priority?: number;
  /** Filter handle (0: the kernel picks). */
  handle?: number;
}

/** Something with a program fd and a name (a BpfProgram). */
interface ProgLike {
  readonly fd: number;
  readonly name: string;
}

// Interfaces whose clsact qdisc this process created, with how many live filters it holds there.
const ownedHooks = new Map<string, number>();

function hookBuf(ifindex: number, direction: TcDirection | 'both'): Buffer {
  const h = Buffer.alloc(L.TC_HOOK.size);
  h.writeBigUInt64LE(BigInt(L.TC_HOOK.size), 0);
  h.writeInt32LE(ifindex, L.TC_HOOK.ifindex);
  const point =
    direction === 'ingress'
      ? BPF_TC_INGRESS
      : direction === 'egress'
        ? BPF_TC_EGRESS
        : BPF_TC_INGRESS | BPF_TC_EGRESS;
  h.writeUInt32LE(point, L.TC_HOOK.attachPoint);
  return h;
}

function optsBuf(handle: number, priority: number, progFd = 0): Buffer {
  const o = Buffer.alloc(L.TC_OPTS.size);
  o.writeBigUInt64LE(BigInt(L.TC_OPTS.size), 0);
  o.writeInt32LE(progFd, L.TC_OPTS.progFd);
  o.writeUInt32LE(handle, L.TC_OPTS.handle);
  o.writeUInt32LE(priority, L.TC_OPTS.priority);
  return o;
}

/** A TC filter we attached; detach() removes it. */
export class TcAttachment {
  private attached = true;

  constructor(
    readonly ifindex: number,
    readonly direction: TcDirection,
    /** Handle and priority the kernel gave the filter. */
    readonly handle: number,
    readonly priority: number,
    /** Namespace it was attached in (inNetns name), so detach goes back there. */
    readonly netns: string | undefined,
    private readonly label: string,
    private readonly hookKey: string,
  ) {}

  /** Is the filter still there? (bpf_tc_query) */
  isAttached(): boolean {
    return inNetns(this.netns, () => {
      const ret = L.bpf_tc_query(
        hookBuf(this.ifindex, this.direction),
        optsBuf(this.handle, this.priority),
      );
      return ret === 0;
    });
  }

  /** Remove our filter (and the clsact qdisc if we created it and nothing of ours is left). Idempotent. */
  detach(): void {
    if (!this.attached) return;
    inNetns(this.netns, () => {
      const hook = hookBuf(this.ifindex, this.direction);
      check(
        L.bpf_tc_detach(hook, optsBuf(this.handle, this.priority)),
        `detach tc ${this.direction}`,
        this.label,
      );
      this.attached = false;
      const left = ownedHooks.get(this.hookKey);
      if (left === undefined) return;
      if (left > 1) {
        ownedHooks.set(this.hookKey, left - 1);
        return;
      }
      ownedHooks.delete(this.hookKey);
      check(
        L.bpf_tc_hook_destroy(hookBuf(this.ifindex, 'both')),
        'destroy clsact qdisc',
        this.label,
      );
    });
  }
}

/** Attach prog to ifindex's clsact hook in the given direction (see TcAttachment). */
export function attachTc(
  prog: ProgLike,
  ifindex: number,
  direction: TcDirection,
  opts: TcAttachOptions = {},
): TcAttachment {
  const label = `program ${prog.name}`;
  const netns = currentNetns();
  const hookKey = `${netns ?? ''}/${ifindex}`;
  const hook = hookBuf(ifindex, direction);
  const created = L.bpf_tc_hook_create(hook);
  if (created < 0 && created !== -EEXIST)
    check(created, `create clsact on ifindex ${ifindex}`, label);
  if (created === 0) ownedHooks.set(hookKey, 0);
  const o = optsBuf(opts.handle ?? 0, opts.priority ?? 0, prog.fd);
  const ret = L.bpf_tc_attach(hook, o);
  if (ret < 0) {
    if (created === 0 && ownedHooks.get(hookKey) === 0) {
      ownedHooks.delete(hookKey);
      L.bpf_tc_hook_destroy(hookBuf(ifindex, 'both'));
    }
    throw new BpfError(`attach tc ${direction} to ifindex ${ifindex}`, label, -ret);
  }
  const owned = ownedHooks.get(hookKey);
  if (owned !== undefined) ownedHooks.set(hookKey, owned + 1);
  return new TcAttachment(
    ifindex,
    direction,
    o.readUInt32LE(L.TC_OPTS.handle),
    o.readUInt32LE(L.TC_OPTS.priority),
    netns,
    `${label} (tc ${direction} on ifindex ${ifindex})`,
    hookKey,
  );
}
