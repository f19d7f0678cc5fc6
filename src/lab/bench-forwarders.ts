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

/** One direction of the bare forwarder: encap on a TSI, or decap on an underlay interface. */
export class BareForwarder {
  private constructor(
    private readonly obj: BpfObject,
    private readonly link: BpfLink,
    readonly program: 'bare_encap' | 'bare_decap',
  ) {}

  /** Encapsulate everything from `vm`'s TSI at `local` towards `remote`, with `vni`. */
  static encap(local: NveNode, vm: VmNode, remote: NveNode, vni: number): BareForwarder {
    const obj = BpfObject.open(BARE_FORWARDER_OBJECT);
    try {
      const cfg = Buffer.alloc(CFG.size);
      Buffer.from(macBytes(remote.underlayMac)).copy(cfg, CFG.outerDmac);
      Buffer.from(macBytes(local.underlayMac)).copy(cfg, CFG.outerSmac);
      Buffer.from(ipv4Bytes(local.ipv4)).copy(cfg, CFG.outerSaddr);
      Buffer.from(ipv4Bytes(remote.ipv4)).copy(cfg, CFG.outerDaddr);
      cfg.writeUInt32LE(vni, CFG.vni);
      cfg.writeUInt32LE(local.underlayIfindex, CFG.underlayIfindex);
      cfg.writeUInt16LE(VXLAN_PORT, CFG.udpDport);
      obj.setRodata(padTo(cfg, obj.initialValue('.rodata').length));
      obj.load();
      return new BareForwarder(obj, attachIn(local.ns, vm.tsi, obj, 'bare_encap'), 'bare_encap');
    } catch (err) {
      obj.close();
      throw err;
    }
  }

  /** Decapsulate every VXLAN frame reaching `local`'s underlay and hand it to `vm`'s TSI. */
  static decap(local: NveNode, vm: VmNode): BareForwarder {
    const obj = BpfObject.open(BARE_FORWARDER_OBJECT);
    try {
      const cfg = Buffer.alloc(CFG.size);
      cfg.writeUInt32LE(vm.tsiIfindex, CFG.tsiIfindex);
      cfg.writeUInt16LE(VXLAN_PORT, CFG.udpDport);
      obj.setRodata(padTo(cfg, obj.initialValue('.rodata').length));
      obj.load();
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
    const key = Buffer.alloc(4);
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
