// The Linux kernel's own VXLAN VTEP on a lab NVE: per VN a vxlan device (no learning) and a
// bridge holding it and the VN's local TSIs, with static FDB entries for every remote VM and
// an all-zero entry per remote NVE of the VN for broadcast (head-end replication). It is the
// interop peer in the netns tests and the "kernel" row of the benchmark. Configuration as an
// operator would type it:
//   ip link add vx100 type vxlan id 100 local 10.99.0.1 dev ul0 dstport 4789 nolearning
//   ip link add br100 type bridge; ip link set vx100 master br100; ip link set tsi-a master br100
//   bridge fdb append 02:00:00:00:64:02 dev vx100 dst 10.99.0.2 self permanent
//   bridge fdb append 00:00:00:00:00:00 dev vx100 dst 10.99.0.2 self permanent
import { VXLAN_PORT } from './addressing.ts';
import type { NveNode, Topology, VmNode } from './topology.ts';

export type UnderlayFamily = 'ipv4' | 'ipv6';

export interface KernelVtepOptions {
  /** Underlay address family of the tunnels (default ipv4). */
  family?: UnderlayFamily;
  dstPort?: number;
  /**
   * IPv6 underlay only: send and accept a zero outer UDP checksum (RFC 6935), i.e. vxlan's
   * udp6zerocsumtx/udp6zerocsumrx. Off (the default): full outer checksums both ways.
   */
  udp6ZeroChecksum?: boolean;
  /** Also pin remote MACs in the bridge (default true), so known unicast is never flooded. */
  staticBridgeFdb?: boolean;
}

const ZERO_MAC = '00:00:00:00:00:00';
const MAX_VNI_DEVICE_NAME = 15;

/** Device names of one VN's VTEP on an NVE. */
export function vtepDevices(vni: number): { vxlan: string; bridge: string } {
  const names = { vxlan: `vx${vni}`, bridge: `br${vni}` };
  if (names.vxlan.length > MAX_VNI_DEVICE_NAME)
    throw new Error(`VNI ${vni} is too long for a device name`);
  return names;
}

/** A kernel VTEP installed on one NVE of a topology. */
export class KernelVtep {
  private readonly vnis = new Set<number>();

  constructor(
    readonly topo: Topology,
    readonly nve: NveNode,
    readonly options: Required<KernelVtepOptions>,
  ) {}

  private addr(n: NveNode): string {
    return this.options.family === 'ipv6' ? n.ipv6 : n.ipv4;
  }

  /** Create devices for every VN this NVE serves and fill the FDB from the topology. */
  install(): void {
    const local = this.topo.vms.filter((v) => v.nve === this.nve.index);
    for (const vni of new Set(local.map((v) => v.vni))) this.addVn(vni);
    for (const vm of local) this.attachTsi(vm);
    this.syncFdb();
  }

  /** Create the vxlan + bridge pair of one VN (idempotent). */
  addVn(vni: number): void {
    if (this.vnis.has(vni)) return;
    const { vxlan, bridge } = vtepDevices(vni);
    const ns = this.nve.ns;
    const csum =
      this.options.family === 'ipv6' && this.options.udp6ZeroChecksum
        ? ['udp6zerocsumtx', 'udp6zerocsumrx']
        : [];
    ns.ip(
      'link',
      'add',
      vxlan,
      'type',
      'vxlan',
      'id',
      String(vni),
      'local',
      this.addr(this.nve),
      'dev',
      this.nve.underlayIf,
      'dstport',
      String(this.options.dstPort),
      'nolearning',
      ...csum,
    );
    // Multicast snooping off: IPv6 ND to solicited-node groups must flood like broadcast.
    ns.ip('link', 'add', bridge, 'type', 'bridge', 'stp_state', '0', 'mcast_snooping', '0');
    ns.ip('link', 'set', vxlan, 'master', bridge);
    ns.ip('link', 'set', vxlan, 'up');
    ns.ip('link', 'set', bridge, 'up');
    this.vnis.add(vni);
  }

  /** Put a local VM's TSI into its VN's bridge. */
  attachTsi(vm: VmNode): void {
    this.addVn(vm.vni);
    this.nve.ns.ip('link', 'set', vm.tsi, 'master', vtepDevices(vm.vni).bridge);
  }

  /**
   * Make the FDB match the topology: each remote VM's MAC points at its NVE, and each remote NVE
   * of the VN gets an all-zero entry (flooding). Entries of VMs that moved are replaced.
   */
  syncFdb(): void {
    for (const vni of this.vnis) {
      const { vxlan } = vtepDevices(vni);
      const ns = this.nve.ns;
      // Rebuild the all-zero (flood) list: flush it, then one entry per remote NVE.
      this.flushFloodList(vxlan);
      for (const peer of this.topo.nvesServing(vni)) {
        if (peer.index === this.nve.index) continue;
        ns.run('bridge', [
          'fdb',
          'append',
          ZERO_MAC,
          'dev',
          vxlan,
          'dst',
          this.addr(peer),
          'self',
          'permanent',
        ]);
      }
      for (const vm of this.topo.vmsOf(vni)) {
        if (vm.nve === this.nve.index) {
          // A VM now local: drop any tunnel entry left from when it lived elsewhere.
          this.tryRun(['fdb', 'del', vm.mac, 'dev', vxlan, 'self']);
          this.tryRun(['fdb', 'del', vm.mac, 'dev', vxlan, 'master']);
          continue;
        }
        const peer = this.topo.nve(vm.nve);
        ns.run('bridge', [
          'fdb',
          'replace',
          vm.mac,
          'dev',
          vxlan,
          'dst',
          this.addr(peer),
          'self',
          'permanent',
        ]);
        if (this.options.staticBridgeFdb) {
          ns.run('bridge', ['fdb', 'replace', vm.mac, 'dev', vxlan, 'master', 'static']);
        }
      }
    }
  }

  /** Point one MAC at another NVE now (what a script does at the moment of a move). */
  pointMac(vni: number, mac: string, toNve: number): void {
    const { vxlan } = vtepDevices(vni);
    const ns = this.nve.ns;
    ns.run('bridge', [
      'fdb',
      'replace',
      mac,
      'dev',
      vxlan,
      'dst',
      this.addr(this.topo.nve(toNve)),
      'self',
      'permanent',
    ]);
    if (this.options.staticBridgeFdb)
      ns.run('bridge', ['fdb', 'replace', mac, 'dev', vxlan, 'master', 'static']);
  }

  /** Delete every device this VTEP created (TSIs stay, released from the bridges). */
  remove(): void {
    for (const vni of this.vnis) {
      const { vxlan, bridge } = vtepDevices(vni);
      this.tryIp(['link', 'del', vxlan]);
      this.tryIp(['link', 'del', bridge]);
    }
    this.vnis.clear();
  }

  private flushFloodList(vxlan: string): void {
    const out = this.nve.ns.run('bridge', ['-j', 'fdb', 'show', 'dev', vxlan]);
    const entries = JSON.parse(out || '[]') as { mac: string; dst?: string }[];
    for (const e of entries) {
      if (e.mac === ZERO_MAC && e.dst !== undefined) {
        this.tryRun(['fdb', 'del', ZERO_MAC, 'dev', vxlan, 'dst', e.dst, 'self']);
      }
    }
  }

  private tryRun(args: string[]): void {
    try {
      this.nve.ns.run('bridge', args);
    } catch {
      // absent already
    }
  }

  private tryIp(args: string[]): void {
    try {
      this.nve.ns.ip(...args);
    } catch {
      // absent already (the namespace may be gone)
    }
  }
}

/** Install a kernel VTEP on one NVE of a topology, with FDB entries for every other VM. */
export function installKernelVtep(
  topo: Topology,
  nveIndex: number,
  opts: KernelVtepOptions = {},
): KernelVtep {
  const vtep = new KernelVtep(topo, topo.nve(nveIndex), {
    family: opts.family ?? 'ipv4',
    dstPort: opts.dstPort ?? VXLAN_PORT,
    udp6ZeroChecksum: opts.udp6ZeroChecksum ?? false,
    staticBridgeFdb: opts.staticBridgeFdb ?? true,
  });
  vtep.install();
  return vtep;
}
