// The benchmark's helper programs on a lab topology, loaded through roam's libbpf binding:
// the bare VXLAN forwarder (bpf/bench/bare-forwarder.bpf.c, the floor of what XDP costs here)
// and the counting receiver (bpf/bench/count-drop.bpf.c) that counts and drops frames at the
// far VM so the receiving stack is never the bottleneck. Links are not pinned: closing them
// (detach()) removes the programs, and so does the process ending.
import { BpfObject, inNetns, sumU64, type BpfLink } from '../bpf/index.ts';
import { ipv4Bytes, macBytes, VXLAN_PORT } from './addressing.ts';
import type { Netns } from './netns.ts';
import type { NveNode, VmNode } from './topology.ts';

export const BARE_FORWARDER_OBJECT = 'build/bpf/bench/bare-forwarder.bpf.o';
export const COUNT_DROP_OBJECT = 'build/bpf/bench/count-drop.bpf.o';

/** Byte offsets of struct bare_config (bpf/bench/bare-forwarder.h). */
const CFG = {
  outerDmac: 0,
  outerSmac: 6,
  outerSaddr: 12,
  outerDaddr: 16,
  vni: 20,
  underlayIfindex: 24,
  tsiIfindex: 28,
  udpDport: 32,
  size: 36,
} as const;

/** XDP attached inside a namespace, for as long as the link is open. */
function attachIn(ns: Netns, ifname: string, obj: BpfObject, prog: string): BpfLink {
  return inNetns(ns.name, () => obj.program(prog).attachXdp(ns.ifindex(ifname)));
}

/** Run-time statistics of one attached program (needs enableBpfStats()). */
export interface ProgStats {
  runCount: bigint;
  runTimeNs: bigint;
}

/** What the bare forwarder is built for (struct bare_config); the UDP port is always 4789. */
export interface BareConfig {
  outerDmac?: string;
  outerSmac?: string;
  outerSaddr?: string;
  outerDaddr?: string;
  vni?: number;
  underlayIfindex?: number;
  tsiIfindex?: number;
}

/** The bare forwarder's object, loaded with `cfg` as its read-only data and not attached. */
export function loadBareForwarder(cfg: BareConfig): BpfObject {
  const obj = BpfObject.open(BARE_FORWARDER_OBJECT);
  try {
    const buf = Buffer.alloc(CFG.size);
    if (cfg.outerDmac) Buffer.from(macBytes(cfg.outerDmac)).copy(buf, CFG.outerDmac);
    if (cfg.outerSmac) Buffer.from(macBytes(cfg.outerSmac)).copy(buf, CFG.outerSmac);
    if (cfg.outerSaddr) Buffer.from(ipv4Bytes(cfg.outerSaddr)).copy(buf, CFG.outerSaddr);
    if (cfg.outerDaddr) Buffer.from(ipv4Bytes(cfg.outerDaddr)).copy(buf, CFG.outerDaddr);
    buf.writeUInt32LE(cfg.vni ?? 0, CFG.vni);
    buf.writeUInt32LE(cfg.underlayIfindex ?? 0, CFG.underlayIfindex);
    buf.writeUInt32LE(cfg.tsiIfindex ?? 0, CFG.tsiIfindex);
    buf.writeUInt16LE(VXLAN_PORT, CFG.udpDport);
    obj.setRodata(padTo(buf, obj.initialValue('.rodata').length));
    obj.load();
    return obj;
  } catch (err) {
    obj.close();
    throw err;
  }
}

/** One direction of the bare forwarder: encap on a TSI, or decap on an underlay interface. */
export class BareForwarder {
  private constructor(
    private readonly obj: BpfObject,
    private readonly link: BpfLink,
    readonly program: 'bare_encap' | 'bare_decap',
  ) {}

  /** Encapsulate everything from `vm`'s TSI at `local` towards `remote`, with `vni`. */
  static encap(local: NveNode, vm: VmNode, remote: NveNode, vni: number): BareForwarder {
    const obj = loadBareForwarder({
      outerDmac: remote.underlayMac,
      outerSmac: local.underlayMac,
      outerSaddr: local.ipv4,
      outerDaddr: remote.ipv4,
      vni,
      underlayIfindex: local.underlayIfindex,
    });
    try {
      return new BareForwarder(obj, attachIn(local.ns, vm.tsi, obj, 'bare_encap'), 'bare_encap');
    } catch (err) {
      obj.close();
      throw err;
    }
  }

  /** Decapsulate every VXLAN frame reaching `local`'s underlay and hand it to `vm`'s TSI. */
  static decap(local: NveNode, vm: VmNode): BareForwarder {
    const obj = loadBareForwarder({ tsiIfindex: vm.tsiIfindex });
    try {
      return new BareForwarder(
        obj,
        attachIn(local.ns, local.underlayIf, obj, 'bare_decap'),
        'bare_decap',
      );
    } catch (err) {
      obj.close();
      throw err;
    }
  }

  stats(): ProgStats {
    return this.obj.program(this.program).runStats();
  }

  /** Remove the program from its interface and free it. */
  detach(): void {
    this.link.close();
    this.obj.close();
  }
}

/** Counts every frame arriving at a VM's interface, then drops it (or passes it). */
export class CountingReceiver {
  private constructor(
    private readonly obj: BpfObject,
    private readonly link: BpfLink,
  ) {}

  static attach(vm: VmNode, mode: 'drop' | 'pass' = 'drop'): CountingReceiver {
    const obj = BpfObject.open(COUNT_DROP_OBJECT);
    try {
      obj.load();
      const prog = mode === 'drop' ? 'count_drop' : 'count_pass';
      return new CountingReceiver(obj, attachIn(vm.ns, vm.ifname, obj, prog));
    } catch (err) {
      obj.close();
      throw err;
    }
  }

  /** Frames seen so far, summed over CPUs. */
  count(): bigint {
    return this.slot(0);
  }

  /** IPv4 UDP frames seen so far (the generators' kind, not the namespace's own chatter). */
  countUdp4(): bigint {
    return this.slot(1);
  }

  private slot(i: number): bigint {
    const key = Buffer.alloc(4);
    key.writeUInt32LE(i);
    return sumU64(this.obj.map('rx_count').lookupPerCpu(key) ?? []);
  }

  detach(): void {
    this.link.close();
    this.obj.close();
  }
}

function padTo(buf: Buffer, size: number): Buffer {
  if (size < buf.length)
    throw new Error(`bare forwarder .rodata is ${size} bytes, expected >= ${buf.length}`);
  const out = Buffer.alloc(size);
  buf.copy(out);
  return out;
}
