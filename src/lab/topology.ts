// A namespace topology for tests, the demo and benchmarks: an underlay, N NVE namespaces each
// with one underlay interface (ul0, IPv4 and IPv6 addresses), and VMs as namespaces, each
// plugged into an NVE by a veth whose NVE end is the VM's TSI. It only builds the plumbing:
// which forwarder runs on the NVEs (roam, the kernel's VXLAN, the bare bench forwarder) is the
// caller's choice. destroy() always removes every namespace, and so do process exit and the
// test run's global sweep (src/lab/netns.ts).
import { existsSync } from 'node:fs';
import { createNetns, vethPair, type Netns } from './netns.ts';
import {
  UNDERLAY_V4_PREFIX_LEN,
  UNDERLAY_V6_PREFIX_LEN,
  VM_V4_PREFIX_LEN,
  VM_V6_PREFIX_LEN,
  nveIpv4,
  nveIpv6,
  vmIpv4,
  vmIpv6,
  vmMac,
} from './addressing.ts';
import { tuneVeth } from './veth-tuning.ts';
import { CountingReceiver } from './bench-forwarders.ts';

/** Name of every NVE's underlay interface, and of every VM's interface. */
export const UNDERLAY_IF = 'ul0';
export const VM_IF = 'eth0';
/** The underlay bridge, inside the underlay namespace. */
export const UNDERLAY_BRIDGE = 'br0';
/**
 * Default MTUs (bytes): the underlay carries a full 1500-byte VM frame plus VXLAN's overhead
 * over IPv6 (70 bytes), so default-sized VM traffic never meets the too-big drop.
 */
export const DEFAULT_UNDERLAY_MTU = 1600;
export const DEFAULT_VM_MTU = 1500;
/** Linux limits interface names to 15 bytes; a TSI is "tsi-" + the VM's name. */
const MAX_VM_NAME_LEN = 11;

export type UnderlayKind = 'bridge' | 'p2p';

/** One VM to create: its name, the NVE it is plugged into and its VN; addresses default. */
export interface VmSpec {
  name: string;
  nve: number;
  vni: number;
  mac?: string;
  /** Without prefix length (the lab's subnets are /24 and /64). */
  ipv4?: string;
  ipv6?: string;
}

export interface TopologyOptions {
  /** How many NVE namespaces. */
  nves: number;
  /** 'bridge' (default): one bridge in an underlay namespace; 'p2p': one veth, two NVEs only. */
  underlay?: UnderlayKind;
  vms?: VmSpec[];
  underlayMtu?: number;
  vmMtu?: number;
  /**
   * 'pass' (default): a tiny counting XDP_PASS program on every VM interface. Needed: a veth
   * only flushes frames an XDP program on its peer sent back with XDP_TX (roam's ARP/ND
   * replies) when it has an XDP program of its own; GRO alone is not enough for XDP_TX.
   * 'none': leave VM interfaces free (the benchmark puts its count-and-drop program there).
   */
  vmXdp?: 'pass' | 'none';
}

/** An NVE namespace and its underlay interface. */
export interface NveNode {
  index: number;
  ns: Netns;
  underlayIf: string;
  underlayIfindex: number;
  underlayMac: string;
  ipv4: string;
  ipv6: string;
}

/** A VM namespace and the TSI that plugs it into its NVE. */
export interface VmNode {
  name: string;
  nve: number;
  vni: number;
  ns: Netns;
  ifname: string;
  mac: string;
  ipv4: string;
  ipv6: string;
  /** The TSI: the NVE end of the VM's veth, in the NVE's namespace. */
  tsi: string;
  tsiIfindex: number;
  /** Counts frames arriving at the VM (vmXdp 'pass'). */
  rx?: CountingReceiver | undefined;
}

export class Topology {
  readonly nves: NveNode[] = [];
  readonly vms: VmNode[] = [];
  underlay: Netns | undefined;
  private readonly vniRanks = new Map<number, number>();
  private readonly hostsUsed = new Map<number, number>();

  constructor(readonly options: Required<Omit<TopologyOptions, 'vms'>>) {}

  /** The NVE with this index; throws when there is none. */
  nve(index: number): NveNode {
    const n = this.nves[index];
    if (n === undefined)
      throw new Error(`topology has no NVE ${index} (it has ${this.nves.length})`);
    return n;
  }

  /** The VM with this name; throws when there is none. */
  vm(name: string): VmNode {
    const v = this.vms.find((x) => x.name === name);
    if (v === undefined) throw new Error(`topology has no VM "${name}"`);
    return v;
  }

  /** Every VNI with at least one VM, in the order they first appeared. */
  vnis(): number[] {
    return [...this.vniRanks.keys()];
  }

  /** The VMs of one VN. */
  vmsOf(vni: number): VmNode[] {
    return this.vms.filter((v) => v.vni === vni);
  }

  /** The NVEs that have a VM of this VN (its flood list, in a static world). */
  nvesServing(vni: number): NveNode[] {
    const idx = new Set(this.vmsOf(vni).map((v) => v.nve));
    return this.nves.filter((n) => idx.has(n.index));
  }

  /** Create a VM namespace plugged into an NVE by a new TSI; addresses follow the lab plan. */
  addVm(spec: VmSpec): VmNode {
    if (
      spec.name.length === 0 ||
      spec.name.length > MAX_VM_NAME_LEN ||
      !/^[a-z0-9-]+$/.test(spec.name)
    ) {
      throw new Error(`VM name "${spec.name}" must be 1-${MAX_VM_NAME_LEN} of [a-z0-9-]`);
    }
    if (this.vms.some((v) => v.name === spec.name))
      throw new Error(`VM "${spec.name}" exists already`);
    const nve = this.nve(spec.nve);
    let rank = this.vniRanks.get(spec.vni);
    if (rank === undefined) {
      rank = this.vniRanks.size;
      this.vniRanks.set(spec.vni, rank);
    }
    const k = (this.hostsUsed.get(spec.vni) ?? 0) + 1;
    this.hostsUsed.set(spec.vni, k);
    const vm: VmNode = {
      name: spec.name,
      nve: spec.nve,
      vni: spec.vni,
      ns: createNetns(`vm-${spec.name}`),
      ifname: VM_IF,
      mac: spec.mac ?? vmMac(spec.vni, k),
      ipv4: spec.ipv4 ?? vmIpv4(rank, k),
      ipv6: spec.ipv6 ?? vmIpv6(rank, k),
      tsi: `tsi-${spec.name}`,
      tsiIfindex: 0,
    };
    quietIpv6(vm.ns);
    this.plug(vm, nve);
    this.vms.push(vm);
    return vm;
  }

  /**
   * Move a VM to another NVE the way a migration looks from the network: its TSI disappears at
   * the old NVE and a new one appears at the new NVE; the VM keeps its namespace, MAC and IPs.
   */
  moveVm(name: string, toNve: number): VmNode {
    const vm = this.vm(name);
    const from = this.nve(vm.nve);
    const to = this.nve(toNve);
    // Deleting one end of a veth deletes both: the VM loses eth0 with it.
    vm.rx?.detach();
    vm.rx = undefined;
    // A source NVE that died outright (its namespace deleted) took the veth with it already.
    if (existsSync(from.ns.path)) from.ns.ip('link', 'del', vm.tsi);
    vm.nve = toNve;
    this.plug(vm, to);
    return vm;
  }

  /**
   * Move a VM into another subnet (another VN) at NVE `toNve`: its TSI goes at the old NVE, a new
   * one (`next.tsi`) appears at the new NVE, the VM takes the new addresses and keeps its old ones
   * as /32 and /128 (its open connections still use them; new ones pick the new subnet's).
   */
  moveVmToSubnet(
    name: string,
    toNve: number,
    next: { tsi: string; vni: number; ipv4: string; ipv6: string },
  ): VmNode {
    const vm = this.vm(name);
    const from = this.nve(vm.nve);
    vm.rx?.detach();
    vm.rx = undefined;
    if (existsSync(from.ns.path)) from.ns.ip('link', 'del', vm.tsi);
    const old = { ipv4: vm.ipv4, ipv6: vm.ipv6 };
    Object.assign(vm, next, { nve: toNve });
    this.plug(vm, this.nve(toNve));
    vm.ns.ip('addr', 'add', `${old.ipv4}/32`, 'dev', vm.ifname);
    vm.ns.ip('-6', 'addr', 'add', `${old.ipv6}/128`, 'dev', vm.ifname, 'nodad');
    return vm;
  }

  /** Delete every namespace of the topology (idempotent). */
  destroy(): void {
    for (const v of this.vms) {
      v.rx?.detach();
      v.rx = undefined;
      v.ns.destroy();
    }
    for (const n of this.nves) n.ns.destroy();
    this.underlay?.destroy();
  }

  /** A veth VM eth0 <-> NVE tsi-<name>, addressed and tuned; fills in tsiIfindex. */
  private plug(vm: VmNode, nve: NveNode): void {
    vethPair(vm.ns, vm.ifname, nve.ns, vm.tsi);
    vm.ns.ip('link', 'set', vm.ifname, 'down');
    vm.ns.ip('link', 'set', vm.ifname, 'address', vm.mac, 'mtu', String(this.options.vmMtu));
    nve.ns.ip('link', 'set', vm.tsi, 'mtu', String(this.options.vmMtu));
    vm.ns.ip('link', 'set', vm.ifname, 'up');
    vm.ns.ip('addr', 'add', `${vm.ipv4}/${VM_V4_PREFIX_LEN}`, 'dev', vm.ifname);
    vm.ns.ip('-6', 'addr', 'add', `${vm.ipv6}/${VM_V6_PREFIX_LEN}`, 'dev', vm.ifname, 'nodad');
    tuneVeth(vm.ns, vm.ifname);
    tuneVeth(nve.ns, vm.tsi);
    vm.tsiIfindex = nve.ns.ifindex(vm.tsi);
    if (this.options.vmXdp === 'pass') vm.rx = CountingReceiver.attach(vm, 'pass');
  }
}

/**
 * No DAD and no router solicitations: addresses work at once, and the only IPv6 frames a VM
 * sends are the ones a test provokes (MLD reports from the kernel remain).
 */
function quietIpv6(ns: Netns): void {
  for (const scope of ['all', 'default']) {
    ns.sysctl(`net.ipv6.conf.${scope}.accept_dad`, '0');
    ns.sysctl(`net.ipv6.conf.${scope}.router_solicitations`, '0');
  }
}

/** Build a topology; on any failure everything created so far is removed before rethrowing. */
export function buildTopology(opts: TopologyOptions): Topology {
  const options = {
    nves: opts.nves,
    underlay: opts.underlay ?? 'bridge',
    underlayMtu: opts.underlayMtu ?? DEFAULT_UNDERLAY_MTU,
    vmMtu: opts.vmMtu ?? DEFAULT_VM_MTU,
    vmXdp: opts.vmXdp ?? 'pass',
  };
  if (!Number.isInteger(options.nves) || options.nves < 1) {
    throw new Error(`a topology needs at least one NVE, got ${options.nves}`);
  }
  if (options.underlay === 'p2p' && options.nves !== 2) {
    throw new Error(`a p2p underlay joins exactly two NVEs, got ${options.nves}`);
  }
  const topo = new Topology(options);
  try {
    const nsList: Netns[] = [];
    for (let i = 0; i < options.nves; i++) {
      const ns = createNetns(`nve${i}`);
      quietIpv6(ns);
      nsList.push(ns);
    }
    // Underlay links: one veth per NVE into a bridge, or one veth between the two NVEs.
    if (options.underlay === 'bridge') {
      const ul = createNetns('underlay');
      topo.underlay = ul;
      ul.ip(
        'link',
        'add',
        UNDERLAY_BRIDGE,
        'type',
        'bridge',
        'stp_state',
        '0',
        'mcast_snooping',
        '0',
      );
      ul.ip('link', 'set', UNDERLAY_BRIDGE, 'mtu', String(options.underlayMtu), 'up');
      nsList.forEach((ns, i) => {
        const port = `n${i}`;
        vethPair(ns, UNDERLAY_IF, ul, port);
        ul.ip('link', 'set', port, 'mtu', String(options.underlayMtu), 'master', UNDERLAY_BRIDGE);
        tuneVeth(ul, port);
      });
    } else {
      const [a, b] = nsList as [Netns, Netns];
      vethPair(a, UNDERLAY_IF, b, UNDERLAY_IF);
    }
    nsList.forEach((ns, i) => {
      ns.ip('link', 'set', UNDERLAY_IF, 'mtu', String(options.underlayMtu));
      ns.ip('addr', 'add', `${nveIpv4(i)}/${UNDERLAY_V4_PREFIX_LEN}`, 'dev', UNDERLAY_IF);
      ns.ip(
        '-6',
        'addr',
        'add',
        `${nveIpv6(i)}/${UNDERLAY_V6_PREFIX_LEN}`,
        'dev',
        UNDERLAY_IF,
        'nodad',
      );
      tuneVeth(ns, UNDERLAY_IF);
      topo.nves.push({
        index: i,
        ns,
        underlayIf: UNDERLAY_IF,
        underlayIfindex: ns.ifindex(UNDERLAY_IF),
        underlayMac: ns.mac(UNDERLAY_IF),
        ipv4: nveIpv4(i),
        ipv6: nveIpv6(i),
      });
    });
    for (const spec of opts.vms ?? []) topo.addVm(spec);
    return topo;
  } catch (err) {
    topo.destroy();
    throw err;
  }
}
