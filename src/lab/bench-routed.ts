// The routed row of bench:dataplane: roam on both NVEs of the benchmark topology as the
// distributed anycast gateway of one VRF with two routed VNs (the sender's and the routed
// receiver's), the VRF's L3 VNI with peers and next hops on both NVEs, and full-sized L3
// tables: `hostRoutes` host routes and `prefixRoutes` prefix routes besides the VMs' own. The
// generator's frames go to the gateway MAC with the receiver's IP, so NVE0 routes them by host
// route into the L3 VNI and NVE1 delivers them by host route (docs/l3.md). Tables are filled
// once; rounds only attach and detach the programs.
import { pinnedL3Tables, type PinnedL3Tables } from '../dataplane/routes.ts';
import type { RouteEntry, RouteKey, PrefixKey, RoutedVni } from '../dataplane/l3-codecs.ts';
import type { PeerKey } from '../dataplane/codecs.ts';
import { installRoamNve, type RoamNve } from './roam-nve.ts';
import type { Topology, VmNode } from './topology.ts';
import { BENCH_ROUTED_RECEIVER, BENCH_SENDER } from './bench-topology.ts';

export const ROUTED_VRF = 1;
/** The VRF's L3 VNI: routed frames travel between NVEs in it. */
export const ROUTED_L3_VNI = 5001;
/** The anycast gateway MAC of every routed VN (and the L3 VNI's router MAC). */
export const ANYCAST_GW_MAC = '02:00:5e:00:01:01';
/** The gateway's host number in each lab subnet (10.1.n.254, fd01:n::fe). */
const GW_HOST = 254;
export const DEFAULT_HOST_ROUTES = 100_000;
export const DEFAULT_PREFIX_ROUTES = 1_000;
/** Filler prefixes are /24s in 172.16.0.0/12: at most 4096 of them. */
const MAX_PREFIX_ROUTES = 4096;
/** Entries written per batched update. */
const BATCH = 10_000;

export interface RoutedBenchOptions {
  /** Filler host routes (half IPv4, half IPv6) toward the other NVE, besides the VMs' own. */
  hostRoutes?: number;
  /** Filler /24 prefix routes toward the other NVE. */
  prefixRoutes?: number;
}

/** The anycast gateway addresses of a VM's subnet in the lab's address plan. */
export function gatewayOf(vm: VmNode): { ip4: string; ip6: string } {
  const ip4 = vm.ipv4.replace(/\.\d+$/, `.${GW_HOST}`);
  const ip6 = vm.ipv6.replace(/::[0-9a-f]+$/, `::${GW_HOST.toString(16)}`);
  return { ip4, ip6 };
}

/** The i-th filler host route's address: 10.128.0.0/9 for IPv4, fd10::/64 for IPv6. */
function fillerHostIp(i: number): string {
  const j = i >>> 1;
  return i % 2 === 0
    ? `10.${128 + ((j >>> 16) & 0x7f)}.${(j >>> 8) & 0xff}.${j & 0xff}`
    : `fd10::${(j >>> 16).toString(16)}:${(j & 0xffff).toString(16)}`;
}

/** The i-th filler prefix: 172.16.0.0/24, 172.16.1.0/24, ... */
function fillerPrefix(i: number): string {
  return `172.${16 + (i >>> 8)}.${i & 0xff}.0/24`;
}

function inBatches<T>(n: number, make: (i: number) => T, write: (batch: T[]) => void): void {
  for (let start = 0; start < n; start += BATCH) {
    const batch: T[] = [];
    for (let i = start; i < Math.min(n, start + BATCH); i++) batch.push(make(i));
    write(batch);
  }
}

/** roam on NVE0 and NVE1 of the bench topology, routing a -> r through the anycast gateway. */
export class RoutedBench {
  private constructor(
    readonly topo: Topology,
    readonly nves: [RoamNve, RoamNve],
    private readonly l3: PinnedL3Tables[],
  ) {}

  /** Load, attach and fill both NVEs. */
  static install(topo: Topology, opts: RoutedBenchOptions = {}): RoutedBench {
    const hostRoutes = opts.hostRoutes ?? DEFAULT_HOST_ROUTES;
    const prefixRoutes = opts.prefixRoutes ?? DEFAULT_PREFIX_ROUTES;
    if (prefixRoutes > MAX_PREFIX_ROUTES)
      throw new RangeError(`at most ${MAX_PREFIX_ROUTES} filler prefix routes`);
    const nves: RoamNve[] = [];
    const l3: PinnedL3Tables[] = [];
    try {
      for (const i of [0, 1]) nves.push(installRoamNve(topo, i));
      const bench = new RoutedBench(topo, nves as [RoamNve, RoamNve], l3);
      for (const r of nves) {
        const t = pinnedL3Tables(r.dp.layout);
        l3.push(t);
        bench.fillL3(r, t, hostRoutes, prefixRoutes);
      }
      return bench;
    } catch (err) {
      for (const t of l3) t.close();
      for (const r of nves) r.remove();
      throw err;
    }
  }

  /** The generator's target: the routed receiver's IP behind the gateway MAC. */
  target(): VmNode {
    return { ...this.topo.vm(BENCH_ROUTED_RECEIVER), mac: ANYCAST_GW_MAC };
  }

  /** Frames NVE0 routed into the L3 VNI (by host route, in the sender's VN). */
  routedOut(): bigint {
    return this.nves[0].count(this.topo.vm(BENCH_SENDER).vni, 'routed-remote');
  }

  /** Frames NVE1 received in the L3 VNI and delivered to a local VM by route. */
  routedIn(): bigint {
    return this.nves[1].count(ROUTED_L3_VNI, 'routed-local');
  }

  /** Routes installed per NVE (read back from the kernel's maps; O(entries)). */
  routeCounts(): { hostRoutes: number; prefixRoutes: number }[] {
    return this.l3.map((t) => ({
      hostRoutes: t.hostRoutes.size(),
      prefixRoutes: t.prefixRoutes.size(),
    }));
  }

  /** Attach again after detach() (tables are kept). */
  attach(): void {
    for (const r of this.nves) r.install();
  }

  /** Take the programs off the interfaces, keeping the instances and their tables. */
  detach(): void {
    for (const r of this.nves) {
      for (const vm of r.localVms()) r.dp.detachTsi(vm.tsiIfindex);
      r.dp.detachUnderlay();
    }
  }

  /** Remove both instances completely. */
  remove(): void {
    for (const t of this.l3) t.close();
    this.l3.length = 0;
    for (const r of this.nves) r.remove();
  }

  /** What an agent would install from the directory for the VRF, plus the filler routes. */
  private fillL3(r: RoamNve, t: PinnedL3Tables, hostRoutes: number, prefixRoutes: number): void {
    const other = r.addr(this.topo.nve(1 - r.nve.index));
    const remote: RouteEntry = { kind: 'remote', l3Vni: ROUTED_L3_VNI, nve: other };
    // Every VN of the topology is a routed VN of the VRF, each with its anycast gateway.
    const vns = new Map<number, VmNode>();
    for (const vm of this.topo.vms) if (!vns.has(vm.vni)) vns.set(vm.vni, vm);
    t.routedVnis.setMany([
      ...[...vns].map(([vni, vm]): [number, RoutedVni] => {
        const gw = gatewayOf(vm);
        return [
          vni,
          {
            kind: 'tenant',
            vrf: ROUTED_VRF,
            gatewayMac: ANYCAST_GW_MAC,
            gatewayIp4: gw.ip4,
            gatewayIp6: gw.ip6,
            unreachable: false,
          },
        ];
      }),
      [ROUTED_L3_VNI, { kind: 'l3', vrf: ROUTED_VRF, routerMac: ANYCAST_GW_MAC }],
    ]);
    // The VMs' host routes: local, or over the L3 VNI to their NVE.
    t.hostRoutes.setMany(
      this.topo.vms.flatMap((vm): [RouteKey, RouteEntry][] => {
        const e: RouteEntry =
          vm.nve === r.nve.index
            ? { kind: 'local', vni: vm.vni, ifindex: vm.tsiIfindex, mac: vm.mac }
            : { kind: 'remote', l3Vni: ROUTED_L3_VNI, nve: r.addr(this.topo.nve(vm.nve)) };
        return [
          [{ vrf: ROUTED_VRF, ip: vm.ipv4 }, e],
          [{ vrf: ROUTED_VRF, ip: vm.ipv6 }, e],
        ];
      }),
    );
    inBatches(
      hostRoutes,
      (i): [RouteKey, RouteEntry] => [{ vrf: ROUTED_VRF, ip: fillerHostIp(i) }, remote],
      (b) => t.hostRoutes.setMany(b),
    );
    inBatches(
      prefixRoutes,
      (i): [PrefixKey, RouteEntry] => [{ vrf: ROUTED_VRF, prefix: fillerPrefix(i) }, remote],
      (b) => t.prefixRoutes.setMany(b),
    );
    // The L3 VNI is checked on the underlay like any VNI: the other NVE is its peer. Next hops
    // to the other NVE are installed by syncTables (every NVE of the topology).
    r.dp.tables.peers.setMany([[{ vni: ROUTED_L3_VNI, nve: other } satisfies PeerKey, true]]);
  }
}
