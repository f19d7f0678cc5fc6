// Directory data -> roam.v1 wire messages (the shapes proto-loader serializes). Changes of one VNI
// that follow each other are coalesced into one Change message carrying the last revision: an NVE
// that acks it has installed them all, and a thousand NVEs cost one message each, not one per move.
import { encodeChangeMessage, encodeEntry, type EntryOut } from '../protocol/change-encoder.ts';
import type { WireRoutedVn } from '../protocol/schema.ts';
import type { Entry, Membership, MoveHint, VnConfig } from './model.ts';
import type { Change, Snapshot } from './store.ts';

/** An entry as NVEs are sent it: the shape the Change encoder takes. */
export type WireEntryOut = EntryOut;

export interface WireChangeOut {
  revision: number;
  vni: number;
  upserts: WireEntryOut[];
  deletes: { vni: number; mac: string }[];
  membersUpserted: Membership[];
  membersRemoved: string[];
}

/** An entry as NVEs see it (conflicting IPs are not installed, so not sent). */
export function entryToWire(e: Entry): WireEntryOut {
  return {
    vni: e.vni,
    mac: e.mac,
    ips: e.ips.map((b) => ({ ip: b.ip, seq: b.seq })),
    nveId: e.nveId,
    nveAddr: e.nveAddr,
    seq: e.seq,
    state: `ENTRY_STATE_${e.state.toUpperCase()}`,
    changedAtMs: Math.floor(e.changedAt),
    tsi: e.tsi ?? '',
    anchors: (e.anchors ?? []).map((a) => ({
      ip: a.ip,
      fromVni: a.fromVni,
      nveId: a.nveId,
      nveAddr: a.nveAddr,
      sinceMs: Math.floor(a.since),
    })),
  };
}

/** A routed VN or L3 VNI as snapshots carry it (the schema's type: what NVEs validate). */
export type WireRoutedVnOut = WireRoutedVn;

/** The routing of a VN (routed VN or L3 VNI) as NVEs install it. */
export function routedVnToWire(v: VnConfig): WireRoutedVnOut {
  const l3 = v.l3;
  if (l3?.kind === 'vrf') {
    return {
      vni: v.vni,
      vrf: l3.vrf,
      l3: true,
      gatewayMac: l3.routerMac,
      gatewayIp4: '',
      gatewayIp6: '',
      unreachable: false,
      routes: (l3.routes ?? []).map((r) => ({ prefix: r.prefix, via: r.via })),
    };
  }
  if (l3?.kind !== 'gateway') throw new Error(`VN ${v.vni} is not routed`);
  return {
    vni: v.vni,
    vrf: l3.vrf,
    l3: false,
    gatewayMac: l3.gatewayMac,
    gatewayIp4: l3.gateway4 ?? '',
    gatewayIp6: l3.gateway6 ?? '',
    unreachable: l3.unreachable,
    routes: [],
  };
}

export function snapshotToWire(
  s: Snapshot,
  vnis: readonly number[],
  routedVns: readonly WireRoutedVnOut[] = [],
): { snapshot: object } {
  return {
    snapshot: {
      revision: s.revision,
      vnis: [...vnis],
      entries: s.entries.map(entryToWire),
      members: s.memberships.map((m) => ({ vni: m.vni, nveId: m.nveId, nveAddr: m.nveAddr })),
      routedVns: [...routedVns],
    },
  };
}

export function hintToWire(h: MoveHint, toAddr: string): { moveHint: object } {
  return {
    moveHint: {
      vni: h.vni,
      mac: h.mac,
      fromNve: h.fromNve,
      toNve: h.toNve,
      expiresAtMs: Math.floor(h.expiresAt),
      toAddr,
    },
  };
}

/** A run of changes of one VNI merged: the latest state per MAC, members joined and left. */
interface MergedRun {
  revision: number;
  vni: number;
  upserts: Entry[];
  deletes: { vni: number; mac: string }[];
  membersUpserted: Membership[];
  membersRemoved: string[];
}

/** Merge a run of changes of one VNI (revision order): the last state of each MAC wins. */
function mergeRun(run: readonly Change[]): MergedRun | null {
  const last = run[run.length - 1];
  if (!last) return null;
  const entries = new Map<string, Entry>();
  const members = new Map<string, Membership | null>();
  for (const c of run) {
    for (const e of c.upserts) entries.set(e.mac, e);
    for (const m of c.members ?? []) members.set(m.nveId, m);
    for (const id of c.membersRemoved ?? []) members.set(id, null);
  }
  const out: MergedRun = {
    revision: last.revision,
    vni: last.vni,
    upserts: [],
    deletes: [],
    membersUpserted: [],
    membersRemoved: [],
  };
  for (const e of entries.values()) {
    if (e.state === 'withdrawn') out.deletes.push({ vni: e.vni, mac: e.mac });
    else out.upserts.push(e);
  }
  for (const [id, m] of members) {
    if (m) out.membersUpserted.push({ vni: m.vni, nveId: m.nveId, nveAddr: m.nveAddr });
    else out.membersRemoved.push(id);
  }
  return out;
}

/** Merge a run of changes of one VNI (revision order) into one Change message; null if empty. */
export function coalesce(run: readonly Change[]): WireChangeOut | null {
  const m = mergeRun(run);
  return m && { ...m, upserts: m.upserts.map(entryToWire) };
}

/** Where an already encoded message keeps its bytes (server.ts's serializer writes them as is). */
export const ENCODED = Symbol('roam.v1 NvaMessage bytes');

/** NvaMessage{change}, encoded: what a session writes; `change` says what it covers. */
export interface EncodedChange {
  change: { revision: number; vni: number; upserts: number };
  [ENCODED]: Buffer;
}

/** Each committed entry encoded once, whatever runs and NVEs it goes to (entries never change). */
const entryBytes = new WeakMap<Entry, Buffer>();

function encodedEntry(e: Entry): Buffer {
  let b = entryBytes.get(e);
  if (!b) {
    b = encodeEntry(entryToWire(e));
    entryBytes.set(e, b);
  }
  return b;
}

/**
 * coalesce(), encoded: the same message, built from each entry's bytes (encoded once) rather than
 * by protobufjs for every NVE. Null if the run is empty.
 */
export function encodeRun(run: readonly Change[]): EncodedChange | null {
  const m = mergeRun(run);
  if (!m) return null;
  return {
    change: { revision: m.revision, vni: m.vni, upserts: m.upserts.length },
    [ENCODED]: encodeChangeMessage({ ...m, upserts: m.upserts.map(encodedEntry) }),
  };
}

/** Split changes (revision order) into runs of one VNI each. */
export function runsByVni(changes: readonly Change[]): Change[][] {
  const runs: Change[][] = [];
  for (const c of changes) {
    const cur = runs[runs.length - 1];
    if (cur && cur[0]?.vni === c.vni) cur.push(c);
    else runs.push([c]);
  }
  return runs;
}
