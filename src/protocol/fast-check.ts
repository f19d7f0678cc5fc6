// A hand-written fast path for the two messages an NVE receives in bulk (Change and Snapshot):
// every NVE validates every entry of every move, so zod's per-field machinery dominated NVE CPU
// in benchmarks. These checks accept exactly what the zod schemas in schema.ts accept (a unit
// test holds them to that on a table of cases) and return the same values; anything they do not
// accept goes through zod, which gives the readable reason.
import { isIP } from 'node:net';
import { canonicalIp, canonicalIpPrefix } from './ip-text.ts';
import { LIMITS } from './limits.ts';
import type {
  Ack,
  AnnouncementKind,
  ChangeMsg,
  Register,
  SnapshotMsg,
  WireEntry,
  WireEntryKey,
  WireMember,
  WireRoutedVn,
} from './schema.ts';

export const VNI_MAX = 0xffffff;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
export const NVE_ID_RE = /^[A-Za-z0-9._-]+$/;
const STATES: Record<string, WireEntry['state']> = {
  ENTRY_STATE_ACTIVE: 'active',
  ENTRY_STATE_MOVING: 'moving',
  ENTRY_STATE_DUPLICATE: 'duplicate',
  ENTRY_STATE_WITHDRAWN: 'withdrawn',
};

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown, min: number, max: number): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
const isVni = (v: unknown): v is number => isInt(v, 1, VNI_MAX);
const isCount = (v: unknown): v is number => isInt(v, 0, Number.MAX_SAFE_INTEGER);
/** An IP in the canonical text zod's `ip` gives (IPv6 compressed, lower case); null if not an IP. */
function ipText(v: unknown): string | null {
  if (typeof v !== 'string' || v.length > 45) return null;
  const family = isIP(v);
  return family === 4 ? v : family === 6 ? canonicalIp(v) : null;
}
const isNveId = (v: unknown): v is string =>
  typeof v === 'string' && v.length >= 1 && v.length <= LIMITS.nveIdChars && NVE_ID_RE.test(v);

function mac(v: unknown): string | null {
  if (typeof v !== 'string' || v.length > 17) return null;
  const m = v.toLowerCase();
  return MAC_RE.test(m) ? m : null;
}

function state(v: unknown): WireEntry['state'] | null {
  if (typeof v === 'string') return STATES[v] ?? STATES[`ENTRY_STATE_${v.toUpperCase()}`] ?? null;
  if (typeof v === 'number') return Object.values(STATES)[v - 1] ?? null;
  return null;
}

export function fastEntry(v: unknown): WireEntry | null {
  if (!isObj(v) || !isVni(v.vni) || !Array.isArray(v.ips) || v.ips.length > LIMITS.ipsPerEntry) {
    return null;
  }
  const m = mac(v.mac);
  const st = state(v.state);
  const nveAddr = ipText(v.nveAddr);
  if (m === null || st === null || !isNveId(v.nveId) || nveAddr === null || !isCount(v.seq))
    return null;
  if (!isInt(v.changedAtMs, 0, Number.MAX_SAFE_INTEGER)) return null;
  let tsi = '';
  if (v.tsi !== undefined) {
    if (typeof v.tsi !== 'string' || v.tsi.length > LIMITS.tsiChars) return null;
    tsi = v.tsi;
  }
  const ips: WireEntry['ips'] = [];
  for (const b of v.ips) {
    const ip = isObj(b) ? ipText(b.ip) : null;
    if (ip === null || !isCount((b as Obj).seq)) return null;
    ips.push({ ip, seq: (b as Obj).seq as number });
  }
  // anchors are rare (a VM that changed subnet): an entry with any goes to zod
  if (v.anchors !== undefined && (!Array.isArray(v.anchors) || v.anchors.length > 0)) return null;
  return {
    vni: v.vni,
    mac: m,
    ips,
    nveId: v.nveId,
    nveAddr,
    seq: v.seq,
    state: st,
    changedAtMs: v.changedAtMs,
    tsi,
    anchors: [],
  };
}

function fastList<T>(v: unknown, each: (x: unknown) => T | null): T[] | null {
  if (!Array.isArray(v)) return null;
  const out: T[] = [];
  for (const x of v) {
    const r = each(x);
    if (r === null) return null;
    out.push(r);
  }
  return out;
}

function fastMember(v: unknown): WireMember | null {
  const nveAddr = isObj(v) ? ipText(v.nveAddr) : null;
  return isObj(v) && isVni(v.vni) && isNveId(v.nveId) && nveAddr !== null
    ? { vni: v.vni, nveId: v.nveId, nveAddr }
    : null;
}

function fastKey(v: unknown): WireEntryKey | null {
  if (!isObj(v) || !isVni(v.vni)) return null;
  const m = mac(v.mac);
  return m === null ? null : { vni: v.vni, mac: m };
}

export function fastChange(v: unknown): ChangeMsg | null {
  if (!isObj(v) || !isCount(v.revision) || !isVni(v.vni)) return null;
  const upserts = fastList(v.upserts, fastEntry);
  const deletes = fastList(v.deletes, fastKey);
  const membersUpserted = fastList(v.membersUpserted, fastMember);
  const membersRemoved = fastList(v.membersRemoved, (x) => (isNveId(x) ? x : null));
  if (!upserts || !deletes || !membersUpserted || !membersRemoved) return null;
  return { revision: v.revision, vni: v.vni, upserts, deletes, membersUpserted, membersRemoved };
}

/** "ip/len" in canonical text or '' as zod's ipPrefixOrNone gives it; null if neither. */
function prefixOrNone(v: unknown): string | null {
  if (typeof v !== 'string' || v.length > 49) return null;
  return v === '' ? '' : canonicalIpPrefix(v);
}

function fastRoutedVn(v: unknown): WireRoutedVn | null {
  if (!isObj(v) || !isVni(v.vni) || !isInt(v.vrf, 1, 0xffffffff)) return null;
  if (typeof v.l3 !== 'boolean' || typeof v.unreachable !== 'boolean') return null;
  const gatewayMac = mac(v.gatewayMac);
  const gatewayIp4 = prefixOrNone(v.gatewayIp4);
  const gatewayIp6 = prefixOrNone(v.gatewayIp6);
  if (gatewayMac === null || gatewayIp4 === null || gatewayIp6 === null) return null;
  const routes =
    v.routes === undefined
      ? []
      : fastList(v.routes, (r) => {
          if (!isObj(r)) return null;
          const prefix = typeof r.prefix === 'string' ? prefixOrNone(r.prefix) : null;
          const via = ipText(r.via);
          return prefix && via !== null ? { prefix, via } : null;
        });
  if (routes === null || routes.length > LIMITS.routesPerVrf) return null;
  return {
    vni: v.vni,
    vrf: v.vrf,
    l3: v.l3,
    gatewayMac,
    gatewayIp4,
    gatewayIp6,
    unreachable: v.unreachable,
    routes,
  };
}

export function fastSnapshot(v: unknown): SnapshotMsg | null {
  if (!isObj(v) || !isCount(v.revision)) return null;
  const vnis = fastList(v.vnis, (x) => (isVni(x) ? x : null));
  const entries = fastList(v.entries, fastEntry);
  const members = fastList(v.members, fastMember);
  const routedVns = v.routedVns === undefined ? [] : fastList(v.routedVns, fastRoutedVn);
  if (!vnis || !entries || !members || !routedVns) return null;
  if (routedVns.length > LIMITS.routedVnsPerSnapshot) return null;
  return { revision: v.revision, vnis, entries, members, routedVns };
}

/** Acks arrive at the NVA once per Change per NVE: the NVA's most frequent message. */
export function fastAck(v: unknown): Ack | null {
  if (!isObj(v) || !isCount(v.revision)) return null;
  if (!Array.isArray(v.digests) || v.digests.length > LIMITS.vnisPerHello) return null;
  const digests = fastList(v.digests, (d) =>
    isObj(d) &&
    isVni(d.vni) &&
    typeof d.digest === 'string' &&
    d.digest.length <= LIMITS.digestChars
      ? { vni: d.vni, digest: d.digest }
      : null,
  );
  return digests && { revision: v.revision, digests };
}

const KINDS: Record<string, AnnouncementKind> = {
  ANNOUNCEMENT_KIND_UNSPECIFIED: 'unspecified',
  ANNOUNCEMENT_KIND_LEARNED: 'learned',
  ANNOUNCEMENT_KIND_GARP: 'garp',
  ANNOUNCEMENT_KIND_RARP: 'rarp',
  ANNOUNCEMENT_KIND_PROVISIONED: 'provisioned',
};

/** Registrations: one per move, from the NVE the VM arrived at. Other kind spellings: zod. */
export function fastRegister(v: unknown): Register | null {
  if (!isObj(v) || !isCount(v.requestId) || !isVni(v.vni) || !isCount(v.seq)) return null;
  if (!Array.isArray(v.ips) || v.ips.length > LIMITS.ipsPerEntry) return null;
  const m = mac(v.mac);
  const ips = fastList(v.ips, ipText);
  const kind = v.kind === undefined ? 'unspecified' : KINDS[v.kind as string];
  if (m === null || ips === null || kind === undefined) return null;
  let tsi = '';
  if (v.tsi !== undefined) {
    if (typeof v.tsi !== 'string' || v.tsi.length > LIMITS.tsiChars) return null;
    tsi = v.tsi;
  }
  return { requestId: v.requestId, vni: v.vni, mac: m, ips, seq: v.seq, tsi, kind };
}
