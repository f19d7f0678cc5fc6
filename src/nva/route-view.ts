// The routes of each VRF as the directory sees them, for `roam route list` (Admin ListRoutes):
// one host route per address of each live VM of a routed VN, the static routes resolved to the
// NVE their next hop lives on, and address anchors. Pure: the NVEs derive the same from the
// same directory (src/nve/l3-state.ts), this is the operator's view of it.
import type { WireRouteRecord } from '../protocol/admin-client.ts';
import type { Entry, VnConfig } from './model.ts';

/** One route of a VRF, as Admin ListRoutes carries it (`kind`: host, static or anchor). */
export type RouteRecord = WireRouteRecord;

const hostPrefix = (ip: string): string => `${ip}/${ip.includes(':') ? 128 : 32}`;

/** Routes of `vrf` (every VRF when undefined), host routes first, each kind sorted. */
export function routeView(
  vns: readonly VnConfig[],
  entries: readonly Entry[],
  vrf?: number,
): RouteRecord[] {
  const vrfOf = new Map<number, number>();
  for (const v of vns) if (v.l3?.kind === 'gateway') vrfOf.set(v.vni, v.l3.vrf);
  const hosts: RouteRecord[] = [];
  /** vrf/ip -> the host route, to resolve static next hops. */
  const byIp = new Map<string, RouteRecord>();
  for (const e of entries) {
    const r = vrfOf.get(e.vni);
    if (r === undefined || (vrf !== undefined && r !== vrf) || e.state === 'withdrawn') continue;
    for (const b of e.ips) {
      const rec: RouteRecord = {
        vrf: r,
        prefix: hostPrefix(b.ip),
        kind: 'host',
        vni: e.vni,
        mac: e.mac,
        nveId: e.nveId,
        via: '',
        state: e.state,
      };
      hosts.push(rec);
      byIp.set(`${r}/${b.ip}`, rec);
    }
  }
  const statics: RouteRecord[] = [];
  for (const v of vns) {
    if (v.l3?.kind !== 'vrf' || (vrf !== undefined && v.l3.vrf !== vrf)) continue;
    for (const rt of v.l3.routes ?? []) {
      const to = byIp.get(`${v.l3.vrf}/${rt.via}`);
      statics.push({
        vrf: v.l3.vrf,
        prefix: rt.prefix,
        kind: 'static',
        vni: to?.vni ?? 0,
        mac: to?.mac ?? '',
        nveId: to?.nveId ?? '',
        via: rt.via,
        state: to ? 'active' : 'unresolved',
      });
    }
  }
  const anchors: RouteRecord[] = [];
  for (const e of entries) {
    const r = vrfOf.get(e.vni);
    if (r === undefined || (vrf !== undefined && r !== vrf) || e.state === 'withdrawn') continue;
    for (const a of e.anchors ?? []) {
      anchors.push({
        vrf: r,
        prefix: hostPrefix(a.ip),
        kind: 'anchor',
        vni: e.vni,
        mac: e.mac,
        nveId: e.nveId,
        via: a.nveId,
        state: `from VN ${a.fromVni} since ${new Date(a.since).toISOString()}`,
      });
    }
  }
  const order = (a: RouteRecord, b: RouteRecord) =>
    a.vrf - b.vrf || a.prefix.localeCompare(b.prefix);
  return [...hosts.sort(order), ...statics.sort(order), ...anchors.sort(order)];
}
