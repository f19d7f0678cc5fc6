// What the agent knows of the L3 overlay (docs/l3.md) and the routing tables it derives from it:
// the routed VNs and L3 VNIs of its VRFs (from the NVA's snapshot), and from the directory and the
// VMs here, one host route per VM address of the VRF: local VM -> its TSI, elsewhere -> its NVE
// over the L3 VNI. A VM that moved away is routed where its FDB entry points (the move machinery
// of nve-state.ts and moves.ts decides), so every NVE it lived on follows it in one hop.
import type { PrefixKey, RouteEntry, RouteKey, RoutedVni } from '../dataplane/l3-codecs.ts';
import type { RoutedVnConfig } from './nva-port.ts';
import type { NveState } from './nve-state.ts';

/** A VRF as the agent installs it. */
interface Vrf {
  l3Vni: number;
  routerMac: string;
}

export const routeId = (k: RouteKey): string => `${k.vrf}/${k.ip}`;
export const prefixId = (k: PrefixKey): string => `${k.vrf}/${k.prefix}`;

export function parsePrefixId(id: string): PrefixKey {
  const slash = id.indexOf('/');
  return { vrf: Number(id.slice(0, slash)), prefix: id.slice(slash + 1) };
}

export function parseRouteId(id: string): RouteKey {
  const slash = id.indexOf('/');
  return { vrf: Number(id.slice(0, slash)), ip: id.slice(slash + 1) };
}

export function routeEqual(a: RouteEntry, b: RouteEntry): boolean {
  // `used` is the dataplane's (an anchored address was looked up): not a difference
  if (a.kind === 'local')
    return (
      b.kind === 'local' &&
      a.vni === b.vni &&
      a.ifindex === b.ifindex &&
      a.mac === b.mac &&
      !a.anchor === !b.anchor
    );
  return b.kind === 'remote' && a.l3Vni === b.l3Vni && a.nve === b.nve;
}

export function routedVniEqual(a: RoutedVni, b: RoutedVni): boolean {
  if (a.kind === 'l3') return b.kind === 'l3' && a.vrf === b.vrf && a.routerMac === b.routerMac;
  return (
    b.kind === 'tenant' &&
    a.vrf === b.vrf &&
    a.gatewayMac === b.gatewayMac &&
    a.gatewayIp4 === b.gatewayIp4 &&
    a.gatewayIp6 === b.gatewayIp6 &&
    a.unreachable === b.unreachable
  );
}

/** "10.1.0.1/24" -> "10.1.0.1"; '' -> undefined. */
const addressOf = (prefix: string): string | undefined =>
  prefix ? prefix.slice(0, prefix.indexOf('/')) : undefined;

export class L3State {
  /** Routed tenant VNs of this NVE's VRFs, by VNI. */
  private gateways = new Map<number, RoutedVnConfig>();
  /** VRF id -> its L3 VNI. */
  private vrfs = new Map<number, Vrf>();
  /** VNI -> VRF, for tenant VNs and L3 VNIs. */
  private vrfOfVni = new Map<number, number>();
  /** VRF -> its routed tenant VNIs. */
  private vnisOfVrf = new Map<number, number[]>();
  /** Static routes: prefix id ("vrf/prefix") -> the route id of its next hop ("vrf/via"). */
  private statics = new Map<string, string>();
  /** Route id of a next hop -> the prefix ids routed through it. */
  private staticsByVia = new Map<string, string[]>();

  /** Replace the configuration (every snapshot carries all of it). */
  load(routedVns: readonly RoutedVnConfig[]): void {
    this.gateways = new Map();
    this.vrfs = new Map();
    this.vrfOfVni = new Map();
    this.vnisOfVrf = new Map();
    this.statics = new Map();
    this.staticsByVia = new Map();
    for (const r of routedVns) {
      this.vrfOfVni.set(r.vni, r.vrf);
      if (r.l3) {
        this.vrfs.set(r.vrf, { l3Vni: r.vni, routerMac: r.gatewayMac });
        for (const rt of r.routes ?? []) {
          const id = prefixId({ vrf: r.vrf, prefix: rt.prefix });
          const via = routeId({ vrf: r.vrf, ip: rt.via });
          this.statics.set(id, via);
          this.staticsByVia.set(via, [...(this.staticsByVia.get(via) ?? []), id]);
        }
        continue;
      }
      this.gateways.set(r.vni, r);
      this.vnisOfVrf.set(r.vrf, [...(this.vnisOfVrf.get(r.vrf) ?? []), r.vni]);
    }
  }

  get empty(): boolean {
    return this.vrfOfVni.size === 0;
  }

  /** The VRF of a routed tenant VN (undefined: not routed). */
  vrfOfGateway(vni: number): number | undefined {
    return this.gateways.has(vni) ? this.vrfOfVni.get(vni) : undefined;
  }

  isL3Vni(vni: number): boolean {
    const vrf = this.vrfOfVni.get(vni);
    return vrf !== undefined && this.vrfs.get(vrf)?.l3Vni === vni;
  }

  /**
   * `routed_vnis` rows: each routed VN served here (`serves`) with its anycast gateway, and the
   * L3 VNI of each of their VRFs (a VRF whose L3 VNI is unknown routes nothing).
   */
  *routedVnis(serves: (vni: number) => boolean): IterableIterator<readonly [number, RoutedVni]> {
    const vrfs = new Set<number>();
    for (const [vni, g] of this.gateways) {
      if (!serves(vni) || !this.vrfs.has(g.vrf)) continue;
      vrfs.add(g.vrf);
      const gw4 = addressOf(g.gatewayIp4);
      const gw6 = addressOf(g.gatewayIp6);
      yield [
        vni,
        {
          kind: 'tenant',
          vrf: g.vrf,
          gatewayMac: g.gatewayMac,
          ...(gw4 !== undefined ? { gatewayIp4: gw4 } : {}),
          ...(gw6 !== undefined ? { gatewayIp6: gw6 } : {}),
          unreachable: g.unreachable,
        },
      ];
    }
    for (const vrf of vrfs) {
      const v = this.vrfs.get(vrf)!;
      yield [v.l3Vni, { kind: 'l3', vrf, routerMac: v.routerMac }];
    }
  }

  /**
   * The host route of one address of a VRF: the VM that answers for it in one of the VRF's
   * routed VNs (a local one first), routed where its FDB entry points here.
   */
  hostRoute(s: NveState, k: RouteKey): RouteEntry | undefined {
    const vrf = this.vrfs.get(k.vrf);
    if (!vrf) return undefined;
    let remote: RouteEntry | undefined;
    let live = false;
    const vnis = this.vnisOfVrf.get(k.vrf) ?? [];
    for (const vni of vnis) {
      const owner = s.desiredNeigh(`${vni}/${k.ip}`);
      if (!owner) continue;
      const id = `${vni}/${owner.mac}`;
      const fdb = s.desiredFdb(id);
      if (!fdb) continue;
      if (fdb.kind === 'local' || fdb.kind === 'dual')
        return { kind: 'local', vni, ifindex: fdb.ifindex, mac: owner.mac };
      if (!remote || (!live && s.liveEntry(id))) {
        remote = { kind: 'remote', l3Vni: vrf.l3Vni, nve: fdb.vtep };
        live = s.liveEntry(id) !== undefined;
      }
    }
    // A VM registered with the address wins; else an anchor (over a withdrawn VM lingering).
    if (live) return remote;
    return this.anchorRoute(s, k, vnis, vrf.l3Vni) ?? remote;
  }

  /**
   * An anchored address: to the VM where it is local; from the anchor NVE to the VM's NVE (one
   * re-tunnel); from anywhere else to the anchor NVE, as the old subnet's traffic went.
   */
  private anchorRoute(
    s: NveState,
    k: RouteKey,
    vnis: readonly number[],
    l3Vni: number,
  ): RouteEntry | undefined {
    for (const vni of vnis) {
      const a = s.anchors.get(`${vni}/${k.ip}`);
      const e = a && s.liveEntry(a.id);
      if (!a || !e) continue;
      const fdb = s.desiredFdb(a.id);
      if (fdb?.kind === 'local' || fdb?.kind === 'dual')
        return { kind: 'local', vni: e.vni, ifindex: fdb.ifindex, mac: e.mac, anchor: true };
      if (a.nveId === s.nveId)
        return {
          kind: 'remote',
          l3Vni,
          nve: fdb?.kind === 'remote' || fdb?.kind === 'moved' ? fdb.vtep : e.nveAddr,
        };
      return { kind: 'remote', l3Vni, nve: a.nveAddr };
    }
    return undefined;
  }

  /** Route ids ("vrf/ip") of the VN addresses `ipIds` ("vni/ip") that belong to routed VNs. */
  routeIdsOf(ipIds: Iterable<string>): Set<string> {
    const out = new Set<string>();
    for (const id of ipIds) {
      const slash = id.indexOf('/');
      const vrf = this.vrfOfGateway(Number(id.slice(0, slash)));
      if (vrf !== undefined) out.add(`${vrf}/${id.slice(slash + 1)}`);
    }
    return out;
  }

  /** A static route goes where the host route of its next hop goes (undefined: nowhere yet). */
  prefixRoute(s: NveState, id: string): RouteEntry | undefined {
    const via = this.statics.get(id);
    return via === undefined ? undefined : this.hostRoute(s, parseRouteId(via));
  }

  /** Prefix ids of the static routes whose next hop is among `routeIds`. */
  prefixIdsVia(routeIds: Iterable<string>): string[] {
    if (this.staticsByVia.size === 0) return [];
    const out: string[] = [];
    for (const r of routeIds) out.push(...(this.staticsByVia.get(r) ?? []));
    return out;
  }

  /** Every static route that resolves. */
  *prefixRoutes(s: NveState): IterableIterator<readonly [PrefixKey, RouteEntry, string]> {
    for (const id of this.statics.keys()) {
      const v = this.prefixRoute(s, id);
      if (v) yield [parsePrefixId(id), v, id];
    }
  }

  /** Every host route: one per address of a VM of the VRFs' routed VNs. */
  *hostRoutes(s: NveState): IterableIterator<readonly [RouteKey, RouteEntry, string]> {
    if (this.gateways.size === 0) return;
    const seen = new Set<string>();
    const candidates = function* (): IterableIterator<readonly [number, string]> {
      for (const [k] of s.allNeigh()) yield [k.vni, k.ip];
      for (const ipIdText of s.anchors.keys()) {
        const slash = ipIdText.indexOf('/');
        yield [Number(ipIdText.slice(0, slash)), ipIdText.slice(slash + 1)];
      }
    };
    for (const [vni, ip] of candidates()) {
      const vrf = this.vrfOfGateway(vni);
      if (vrf === undefined) continue;
      const id = `${vrf}/${ip}`;
      if (seen.has(id)) continue;
      seen.add(id);
      const key = { vrf, ip };
      const v = this.hostRoute(s, key);
      if (v) yield [key, v, id];
    }
  }
}
