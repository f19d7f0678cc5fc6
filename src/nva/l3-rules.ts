// The directory's rules for the L3 overlay (issue 6, docs/l3.md): which VRF and routed-VN
// configurations are coherent, and which routing state an NVE needs from the VNs it serves.
// Pure functions over VN configs, table-tested like rules.ts.
import { isIP } from 'node:net';
import { canonicalIp, canonicalIpPrefix } from '../protocol/ip-text.ts';
import { ipBytes } from './address.ts';
import {
  ANCHOR_WINDOW_MS,
  isVni,
  ROUTES_PER_VRF_MAX,
  VRF_MAX,
  type Anchor,
  type Entry,
  type Mac,
  type PrefixRoute,
  type VnConfig,
  type VrfConfig,
  type Vni,
} from './model.ts';

/** Router MAC of a VRF that is given none: locally administered, unicast. */
export const DEFAULT_ROUTER_MAC = '02:00:5e:00:01:01';

export type L3Decision = { ok: true; vn: VnConfig } | { ok: false; reason: string };

/** The L3 VNI's config of VRF `vrf` among `vns`, if the VRF exists. */
export function vrfVn(vns: readonly VnConfig[], vrf: number): VnConfig | undefined {
  return vns.find((v) => v.l3?.kind === 'vrf' && v.l3.vrf === vrf);
}

/** Every VRF, from the configs of their L3 VNIs. */
export function vrfsOf(vns: readonly VnConfig[]): VrfConfig[] {
  const out: VrfConfig[] = [];
  for (const v of vns) {
    if (v.l3?.kind !== 'vrf') continue;
    out.push({ vrf: v.l3.vrf, l3Vni: v.vni, routerMac: v.l3.routerMac, name: v.name });
  }
  return out.sort((a, b) => a.vrf - b.vrf);
}

const isUnicastMac = (m: Mac): boolean =>
  /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(m) && (parseInt(m.slice(0, 2), 16) & 1) === 0;

/** Create (or rename, or re-MAC) a VRF: its L3 VNI is stored as a VN of kind `vrf`. */
export function decideVrf(cfg: VrfConfig, vns: readonly VnConfig[]): L3Decision {
  if (!Number.isInteger(cfg.vrf) || cfg.vrf < 1 || cfg.vrf > VRF_MAX)
    return { ok: false, reason: `VRF id must be 1..${VRF_MAX}` };
  if (!isVni(cfg.l3Vni)) return { ok: false, reason: `L3 VNI must be 1..16777215` };
  if (!isUnicastMac(cfg.routerMac))
    return { ok: false, reason: `router MAC ${cfg.routerMac} is not a unicast MAC` };
  const existing = vrfVn(vns, cfg.vrf);
  if (existing && existing.vni !== cfg.l3Vni)
    return {
      ok: false,
      reason: `VRF ${cfg.vrf} already has L3 VNI ${existing.vni} (one L3 VNI per VRF)`,
    };
  const other = vns.find((v) => v.vni === cfg.l3Vni);
  if (other && !(other.l3?.kind === 'vrf' && other.l3.vrf === cfg.vrf))
    return {
      ok: false,
      reason:
        other.l3?.kind === 'vrf'
          ? `VNI ${cfg.l3Vni} is already the L3 VNI of VRF ${other.l3.vrf}`
          : `VNI ${cfg.l3Vni} is a tenant VN: an L3 VNI carries no VMs`,
    };
  const routes = existing?.l3?.kind === 'vrf' ? existing.l3.routes : undefined;
  return {
    ok: true,
    vn: {
      vni: cfg.l3Vni,
      ...(cfg.name ? { name: cfg.name } : {}),
      routed: false,
      learning: 'provisioned',
      l3: { kind: 'vrf', vrf: cfg.vrf, routerMac: cfg.routerMac, ...(routes ? { routes } : {}) },
    },
  };
}

/**
 * Add (or replace) a static route of a VRF, or delete one (`via` undefined): the prefix is a
 * network address with its length, `via` an address of the same family. Returns the VRF's new
 * config; deleting a route that is not there is refused (the caller says so).
 */
export function decideRoute(
  vns: readonly VnConfig[],
  vrf: number,
  prefix: string,
  via: string | undefined,
): L3Decision {
  const vn = vrfVn(vns, vrf);
  if (vn?.l3?.kind !== 'vrf') return { ok: false, reason: `VRF ${vrf} does not exist` };
  const p = parsePrefix(prefix);
  if (!p) return { ok: false, reason: `"${prefix}" is not an address/len` };
  const hostBits = p.bytes.some((b, i) => {
    const keep = Math.max(0, Math.min(8, p.len - i * 8));
    return (b & (0xff >> keep)) !== 0;
  });
  if (hostBits)
    return { ok: false, reason: `${prefix}: host bits set (a prefix is a network address)` };
  const routes = (vn.l3.routes ?? []).filter((r) => r.prefix !== p.text);
  if (via === undefined) {
    if (routes.length === (vn.l3.routes ?? []).length)
      return { ok: false, reason: `VRF ${vrf} has no route ${p.text}` };
  } else {
    const fam = isIP(via);
    if (fam === 0 || (fam === 4) !== (p.bytes.length === 4))
      return { ok: false, reason: `via ${via}: not an address of the prefix's family` };
    if (routes.length >= ROUTES_PER_VRF_MAX)
      return { ok: false, reason: `VRF ${vrf} has ${ROUTES_PER_VRF_MAX} routes already` };
    routes.push({ prefix: p.text, via: canonicalIp(via) });
  }
  routes.sort((a, b) => a.prefix.localeCompare(b.prefix));
  const l3 = { ...vn.l3, routes };
  return { ok: true, vn: { ...vn, l3 } };
}

/** The static routes of a VRF. */
export function routesOf(vns: readonly VnConfig[], vrf: number): PrefixRoute[] {
  const vn = vrfVn(vns, vrf);
  return vn?.l3?.kind === 'vrf' ? (vn.l3.routes ?? []) : [];
}

/**
 * Configure a tenant VN, routed (`l3.kind === 'gateway'`) or not: the VRF must exist, the VN
 * cannot be an L3 VNI, it needs a gateway address of each family it routes and a unicast
 * gateway MAC, and its subnets may not overlap another routed VN's in the same VRF (a host
 * address would belong to two subnets of one routing domain).
 */
export function decideVn(cfg: VnConfig, vns: readonly VnConfig[]): L3Decision {
  const prev = vns.find((v) => v.vni === cfg.vni);
  if (prev?.l3?.kind === 'vrf')
    return { ok: false, reason: `VNI ${cfg.vni} is the L3 VNI of VRF ${prev.l3.vrf}` };
  const l3 = cfg.l3;
  if (!l3) return { ok: true, vn: { ...cfg, routed: false } };
  if (l3.kind !== 'gateway')
    return { ok: false, reason: 'a VRF is configured with its own command (roam nva vrf)' };
  if (!vrfVn(vns, l3.vrf)) return { ok: false, reason: `VRF ${l3.vrf} does not exist` };
  if (!isUnicastMac(l3.gatewayMac))
    return { ok: false, reason: `gateway MAC ${l3.gatewayMac} is not a unicast MAC` };
  if (!l3.gateway4 && !l3.gateway6)
    return { ok: false, reason: 'a routed VN needs a gateway IPv4 or IPv6 address (ip/len)' };
  const gw: { gateway4?: string; gateway6?: string } = {};
  for (const [field, family] of [
    ['gateway4', 4],
    ['gateway6', 6],
  ] as const) {
    const text = l3[field];
    if (text === undefined) continue;
    const p = parsePrefix(text);
    if (!p || p.bytes.length !== (family === 4 ? 4 : 16))
      return { ok: false, reason: `${field}: "${text}" is not an IPv${family} address/len` };
    if (p.len === 0 || p.len === p.bytes.length * 8)
      return { ok: false, reason: `${field}: "${text}" needs a subnet length (e.g. /24, /64)` };
    for (const o of vns) {
      if (o.vni === cfg.vni || o.l3?.kind !== 'gateway' || o.l3.vrf !== l3.vrf) continue;
      const q = o.l3[field] !== undefined ? parsePrefix(o.l3[field]) : null;
      if (q && overlaps(p, q))
        return {
          ok: false,
          reason: `${field} ${text} overlaps VN ${o.vni}'s ${o.l3[field]} in VRF ${l3.vrf}`,
        };
    }
    gw[field] = p.text;
  }
  return {
    ok: true,
    vn: { ...cfg, routed: true, l3: { ...l3, gateway4: gw.gateway4, gateway6: gw.gateway6 } },
  };
}

/**
 * The anchors of a VM registering `ips` in a routed VN: those it had (minus addresses it holds
 * again), plus the addresses of its entries in the VRF's other routed VNs (live, or withdrawn
 * less than ANCHOR_WINDOW_MS ago) that it does not keep: a VM that moved into another subnet and
 * took a new address there keeps its old one reachable through the NVE it had it at.
 */
export function decideAnchors(
  kept: readonly Anchor[],
  others: readonly Entry[],
  ips: readonly string[],
  now: number,
): Anchor[] {
  const mine = new Set(ips);
  const out = kept.filter((a) => !mine.has(a.ip));
  for (const o of others) {
    if (o.state === 'withdrawn' && o.changedAt < now - ANCHOR_WINDOW_MS) continue;
    for (const b of o.ips) {
      if (mine.has(b.ip) || out.some((a) => a.ip === b.ip)) continue;
      out.push({ ip: b.ip, fromVni: o.vni, nveId: o.nveId, nveAddr: o.nveAddr, since: now });
    }
  }
  return out;
}

/** Same anchors (ip, origin and anchor NVE), ignoring their age. */
export function sameAnchors(a: readonly Anchor[] = [], b: readonly Anchor[] = []): boolean {
  const key = (x: Anchor) => `${x.ip}|${x.fromVni}|${x.nveId}|${x.nveAddr}`;
  const ka = a.map(key).sort();
  const kb = b.map(key).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i]);
}

/** The other routed VNs of the VRF of routed VN `vni` (where the same VM may have been). */
export function siblingVns(vns: readonly VnConfig[], vni: Vni): Vni[] {
  const vn = vns.find((v) => v.vni === vni);
  if (vn?.l3?.kind !== 'gateway') return [];
  const vrf = vn.l3.vrf;
  return vns
    .filter((v) => v.vni !== vni && v.l3?.kind === 'gateway' && v.l3.vrf === vrf)
    .map((v) => v.vni);
}

/** What an NVE that serves `served` must know of the L3 overlay. */
export interface NveL3View {
  /** Configs of every routed VN and L3 VNI of the VRFs it takes part in. */
  configs: VnConfig[];
  /** L3 VNIs of those VRFs (it joins them: peers, tunnels). */
  l3Vnis: Vni[];
  /** Routed VNs of those VRFs it does not serve: it needs their entries for host routes only. */
  routeVnis: Vni[];
}

/** The VRFs of the routed VNs an NVE serves, and everything of them it needs. */
export function nveL3View(vns: readonly VnConfig[], served: Iterable<Vni>): NveL3View {
  const servedSet = new Set(served);
  const vrfs = new Set<number>();
  for (const v of vns) if (servedSet.has(v.vni) && v.l3?.kind === 'gateway') vrfs.add(v.l3.vrf);
  const configs = vns.filter((v) => v.l3 !== undefined && vrfs.has(v.l3.vrf));
  return {
    configs,
    l3Vnis: configs.filter((v) => v.l3?.kind === 'vrf').map((v) => v.vni),
    routeVnis: configs
      .filter((v) => v.l3?.kind === 'gateway' && !servedSet.has(v.vni))
      .map((v) => v.vni),
  };
}

interface Prefix {
  text: string;
  len: number;
  bytes: number[];
}

function parsePrefix(text: string): Prefix | null {
  const canon = canonicalIpPrefix(text);
  if (!canon) return null;
  const slash = canon.indexOf('/');
  const bytes = ipBytes(canon.slice(0, slash));
  return bytes ? { text: canon, len: Number(canon.slice(slash + 1)), bytes } : null;
}

/** Two subnets share addresses: the shorter prefix's bits match the other's. */
function overlaps(a: Prefix, b: Prefix): boolean {
  if (a.bytes.length !== b.bytes.length) return false;
  const len = Math.min(a.len, b.len);
  for (let bit = 0; bit < len; bit++) {
    const i = bit >> 3;
    const m = 0x80 >> (bit & 7);
    if (((a.bytes[i] ?? 0) & m) !== ((b.bytes[i] ?? 0) & m)) return false;
  }
  return true;
}
