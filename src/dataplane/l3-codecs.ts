// Codecs for the L3 overlay's structs (the L3 part of bpf/roam.h): routed VNIs, host and prefix route keys,
// route entries. Pure encode/decode pairs with the C layout they mirror; test/kernel/l3 checks
// the layouts against the objects' BTF and the constants against the header.
import type { StructCodec } from './codecs.ts';
import { checkVni, nveAddr, readMac, structCodec, writeMac } from './codecs.ts';
import { FAMILY_V4, FAMILY_V6, ipFamily, readIp, writeIp } from './ip-address.ts';

// ---- L3 constants of bpf/roam.h -------------------------------------------------------------

export const F_RVNI_ROUTED = 1 << 0;
export const F_RVNI_L3 = 1 << 1;
export const F_RVNI_UNREACH = 1 << 2;
export const F_RVNI_GW4 = 1 << 3;
export const F_RVNI_GW6 = 1 << 4;
export const ROUTE_LOCAL = 1;
export const ROUTE_REMOTE = 2;
export const F_ROUTE_ANCHOR = 1 << 0;
export const F_ROUTE_USED = 1 << 1;
/** Bits of an LPM key in front of the address (vrf, family, _pad): always matched whole. */
export const ROUTE_LPM_FIXED_BITS = 64;
/** VRF ids are u32. */
export const VRF_MAX = 0xffffffff;

// ---- helpers --------------------------------------------------------------------------------

function checkVrf(vrf: number): void {
  if (!Number.isInteger(vrf) || vrf < 0 || vrf > VRF_MAX) {
    throw new RangeError(`not a VRF id (0..${VRF_MAX}): ${vrf}`);
  }
}

// ---- struct routed_vni ------------------------------------------------------------------------

/**
 * A VNI that takes part in routing: a tenant VN whose VMs use the anycast gateway (the same MAC
 * and addresses on every NVE; `unreachable` answers ICMP destination unreachable where no route
 * exists instead of dropping), or the L3 VNI of a VRF that routed frames travel in between
 * NVEs (its routerMac is the inner MAC of those frames: use the anycast gateway MAC).
 */
export type RoutedVni =
  | {
      kind: 'tenant';
      vrf: number;
      gatewayMac: string;
      gatewayIp4?: string;
      gatewayIp6?: string;
      unreachable: boolean;
    }
  | { kind: 'l3'; vrf: number; routerMac: string };

export const routedVni: StructCodec<RoutedVni> = structCodec(
  {
    cName: 'routed_vni',
    size: 36,
    members: { vrf: 0, flags: 4, gw_mac: 8, _pad: 14, gw_ip4: 16, gw_ip6: 20 },
  },
  (v, b, o) => {
    checkVrf(v.vrf);
    b.writeUInt32LE(v.vrf, o);
    if (v.kind === 'l3') {
      b.writeUInt32LE(F_RVNI_L3, o + 4);
      writeMac(v.routerMac, b, o + 8);
      return;
    }
    let flags = F_RVNI_ROUTED | (v.unreachable ? F_RVNI_UNREACH : 0);
    writeMac(v.gatewayMac, b, o + 8);
    if (v.gatewayIp4 !== undefined) {
      if (ipFamily(v.gatewayIp4) !== FAMILY_V4) {
        throw new RangeError(`gateway IPv4 is not an IPv4 address: "${v.gatewayIp4}"`);
      }
      const tmp = Buffer.alloc(16);
      writeIp(v.gatewayIp4, tmp, 0);
      tmp.copy(b, o + 16, 0, 4);
      flags |= F_RVNI_GW4;
    }
    if (v.gatewayIp6 !== undefined) {
      if (ipFamily(v.gatewayIp6) !== FAMILY_V6) {
        throw new RangeError(`gateway IPv6 is not an IPv6 address: "${v.gatewayIp6}"`);
      }
      writeIp(v.gatewayIp6, b, o + 20);
      flags |= F_RVNI_GW6;
    }
    b.writeUInt32LE(flags >>> 0, o + 4);
  },
  (b, o) => {
    const vrf = b.readUInt32LE(o);
    const flags = b.readUInt32LE(o + 4);
    const mac = readMac(b, o + 8);
    if (flags & F_RVNI_L3) return { kind: 'l3', vrf, routerMac: mac };
    if (!(flags & F_RVNI_ROUTED))
      throw new RangeError(`routed VNI with flags 0x${flags.toString(16)}`);
    const v: RoutedVni = {
      kind: 'tenant',
      vrf,
      gatewayMac: mac,
      unreachable: (flags & F_RVNI_UNREACH) !== 0,
    };
    if (flags & F_RVNI_GW4) {
      v.gatewayIp4 = readIp(
        FAMILY_V4,
        Buffer.concat([b.subarray(o + 16, o + 20), Buffer.alloc(12)]),
        0,
      );
    }
    if (flags & F_RVNI_GW6) v.gatewayIp6 = readIp(FAMILY_V6, b, o + 20);
    return v;
  },
);

// ---- struct route_key / route_lpm_key -----------------------------------------------------------

/** A host route's address (/32 or /128) inside a VRF. */
export interface RouteKey {
  vrf: number;
  ip: string;
}

export const routeKey: StructCodec<RouteKey> = structCodec(
  { cName: 'route_key', size: 24, members: { vrf: 0, family: 4, _pad: 5, ip: 8 } },
  (v, b, o) => {
    checkVrf(v.vrf);
    b.writeUInt32LE(v.vrf, o);
    b[o + 4] = writeIp(v.ip, b, o + 8);
  },
  (b, o) => ({ vrf: b.readUInt32LE(o), ip: readIp(b[o + 4] ?? 0, b, o + 8) }),
);

/** A prefix inside a VRF, "10.1.0.0/16" or "fd10::/64" (host bits must be zero). */
export interface PrefixKey {
  vrf: number;
  prefix: string;
}

/** Parses "ip/len": null when it is not a prefix with zero host bits. */
export function parsePrefix(text: string): { ip: string; len: number; family: number } | null {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text);
  if (!m?.[1] || m[2] === undefined) return null;
  const family = ipFamily(m[1]);
  const len = Number(m[2]);
  if (family === null || len > (family === FAMILY_V4 ? 32 : 128)) return null;
  const b = Buffer.alloc(16);
  writeIp(m[1], b, 0);
  for (let bit = len; bit < 128; bit++) {
    if (((b[bit >> 3] ?? 0) >> (7 - (bit & 7))) & 1) return null;
  }
  return { ip: m[1], len, family };
}

export const routeLpmKey: StructCodec<PrefixKey> = structCodec(
  {
    cName: 'route_lpm_key',
    size: 28,
    members: { prefixlen: 0, vrf: 4, family: 8, _pad: 9, ip: 12 },
  },
  (v, b, o) => {
    checkVrf(v.vrf);
    const p = parsePrefix(v.prefix);
    if (!p) throw new RangeError(`not a prefix with zero host bits: "${v.prefix}"`);
    b.writeUInt32LE(ROUTE_LPM_FIXED_BITS + p.len, o);
    b.writeUInt32LE(v.vrf, o + 4);
    b[o + 8] = writeIp(p.ip, b, o + 12);
  },
  (b, o) => {
    const family = b[o + 8] ?? 0;
    const ip = readIp(family, b, o + 12);
    return {
      vrf: b.readUInt32LE(o + 4),
      prefix: `${ip}/${b.readUInt32LE(o) - ROUTE_LPM_FIXED_BITS}`,
    };
  },
);

// ---- struct route_entry -----------------------------------------------------------------------

/** Where a routed packet goes: a VM (its tenant VNI, TSI and MAC) or an NVE over the VRF's L3
 * VNI. A moved VM's host route names the NVE it lives on NOW on every NVE, old ones too. */
export type RouteEntry =
  | {
      kind: 'local';
      vni: number;
      ifindex: number;
      mac: string;
      /** An anchored (old) address of the VM: the dataplane flags its use (F_ROUTE_ANCHOR). */
      anchor?: boolean;
      /** Set by the dataplane when an anchored address was looked up (F_ROUTE_USED). */
      used?: boolean;
    }
  | { kind: 'remote'; l3Vni: number; nve: string };

export const routeEntry: StructCodec<RouteEntry> = structCodec(
  {
    cName: 'route_entry',
    size: 40,
    members: { kind: 0, flags: 1, _pad0: 2, vni: 4, ifindex: 8, mac: 12, _pad1: 18, remote: 20 },
  },
  (v, b, o) => {
    if (v.kind === 'local') {
      checkVni(v.vni);
      b[o] = ROUTE_LOCAL;
      b[o + 1] = (v.anchor ? F_ROUTE_ANCHOR : 0) | (v.used ? F_ROUTE_USED : 0);
      b.writeUInt32LE(v.vni, o + 4);
      b.writeUInt32LE(v.ifindex, o + 8);
      writeMac(v.mac, b, o + 12);
    } else {
      checkVni(v.l3Vni);
      b[o] = ROUTE_REMOTE;
      b.writeUInt32LE(v.l3Vni, o + 4);
      nveAddr.encode(v.nve, b, o + 20);
    }
  },
  (b, o) => {
    const kind = b[o];
    if (kind === ROUTE_LOCAL) {
      const flags = b[o + 1] ?? 0;
      return {
        kind: 'local',
        vni: b.readUInt32LE(o + 4),
        ifindex: b.readUInt32LE(o + 8),
        mac: readMac(b, o + 12),
        ...(flags & F_ROUTE_ANCHOR ? { anchor: true } : {}),
        ...(flags & F_ROUTE_USED ? { used: true } : {}),
      };
    }
    if (kind === ROUTE_REMOTE) {
      return { kind: 'remote', l3Vni: b.readUInt32LE(o + 4), nve: nveAddr.decode(b, o + 20) };
    }
    throw new RangeError(`route entry with unknown kind ${kind}`);
  },
);

/** Every L3 struct codec, for the layout check against BTF. */
export const L3_STRUCT_CODECS: readonly StructCodec<unknown>[] = [
  routedVni,
  routeKey,
  routeLpmKey,
  routeEntry,
] as StructCodec<unknown>[];
