// Adapts roam's real dataplane tables (src/dataplane/tables.ts, BPF maps or their twins) to the
// agent's narrow view (tables.ts). Mostly renames; two real translations:
// - time: the agent keeps a moved entry's deadline in wall-clock ms, the C compares it with
//   bpf_ktime_get_ns() (CLOCK_MONOTONIC, as process.hrtime.bigint()). The kernel's deadline is set
//   MOVED_GRACE_MS after the agent's own, so the agent's hold timer always replaces the entry
//   before the C would start dropping frames for it as expired.
// - "dual" maps to the C's FDB_DUAL (local TSI, and a copy to the new NVE by the TC program).
// (An entry's `rarp` is the C's rarp_ip4: the IPv4 the XDP answers a RARP for the MAC with.)
import type { DataplaneTables } from '../dataplane/tables.ts';
import { TypedMap } from '../bpf/typed-map.ts';
import {
  FDB_DUAL,
  FDB_LOCAL,
  FDB_MOVED,
  FDB_RARP_IP4_OFF,
  FDB_REMOTE,
  fdbEntry,
  fdbKey,
  neighEntry,
  neighKey,
  readMac,
  type FdbEntry as DpFdbEntry,
  type RoamEvent,
} from '../dataplane/codecs.ts';
import {
  FDB_ENTRY_BYTES,
  encodeFdbEntry,
  encodeFdbRemote,
  encodeIpKey,
  encodeMacKey,
  encodeNeighEntry,
} from './fast-encode.ts';
import { readU32, sameBytes, type ByteCodec, type RawTable } from './raw-table.ts';
import type { LearnEvent } from './learner.ts';
import type { Table } from '../dataplane/table.ts';
import {
  MOVED_DEADLINE_SLACK_MS,
  type AgentTables,
  type FdbEntry,
  type FloodEntry,
  type IpKey,
  type MacKey,
  type NeighEntry,
  type PeerKey,
} from './tables.ts';

/** How long after the agent's hold time the kernel itself stops re-tunnelling (ms). */
export const MOVED_GRACE_MS = 5_000;

/** The two clocks the translation needs (tests pass fixed ones). */
export interface Clocks {
  wallMs: () => number;
  monoNs: () => bigint;
}

export const systemClocks: Clocks = { wallMs: Date.now, monoNs: () => process.hrtime.bigint() };

/** A Table<K, V> seen through key and value translations. */
export function mappedTable<K, V, DK, DV>(
  t: Table<DK, DV>,
  key: { to: (k: K) => DK; from: (k: DK) => K },
  value: { to: (v: V) => DV; from: (v: DV) => V },
): Table<K, V> {
  return {
    name: t.name,
    get: (k) => {
      const v = t.get(key.to(k));
      return v === undefined ? undefined : value.from(v);
    },
    setMany: (entries) => t.setMany(entries.map(([k, v]) => [key.to(k), value.to(v)] as const)),
    deleteMany: (keys) => t.deleteMany(keys.map(key.to)),
    *entries() {
      for (const [k, v] of t.entries()) yield [key.from(k), value.from(v)];
    },
    size: () => t.size(),
  };
}

const same = <T>(x: T): T => x;
const identity = { to: same, from: same };

/** Agent FDB entry -> C fdb_entry. */
export function fdbToDataplane(v: FdbEntry, c: Clocks = systemClocks): DpFdbEntry {
  const place = fdbPlaceToDataplane(v, c);
  return v.rarp === undefined ? place : { ...place, rarpIp4: v.rarp };
}

function fdbPlaceToDataplane(v: FdbEntry, c: Clocks): DpFdbEntry {
  switch (v.kind) {
    case 'local':
      return { kind: 'local', ifindex: v.ifindex };
    case 'dual':
      return { kind: 'dual', ifindex: v.ifindex, nve: v.vtep };
    case 'remote':
      return { kind: 'remote', nve: v.vtep };
    case 'moved': {
      const leftMs = Math.max(0, v.untilMs + MOVED_GRACE_MS - c.wallMs());
      return { kind: 'moved', nve: v.vtep, untilNs: c.monoNs() + BigInt(Math.round(leftMs * 1e6)) };
    }
  }
}

/** C fdb_entry -> agent FDB entry (a moved deadline back in wall-clock ms, whole ms). */
export function fdbFromDataplane(v: DpFdbEntry, c: Clocks = systemClocks): FdbEntry {
  const place = fdbPlaceFromDataplane(v, c);
  return v.rarpIp4 === undefined ? place : { ...place, rarp: v.rarpIp4 };
}

function fdbPlaceFromDataplane(v: DpFdbEntry, c: Clocks): FdbEntry {
  if (v.kind === 'local') return { kind: 'local', ifindex: v.ifindex };
  if (v.kind === 'remote') return { kind: 'remote', vtep: v.nve };
  if (v.kind === 'moved') {
    const leftMs = Number(v.untilNs - c.monoNs()) / 1e6;
    return {
      kind: 'moved',
      vtep: v.nve,
      untilMs: Math.round(c.wallMs() + leftMs - MOVED_GRACE_MS),
    };
  }
  return { kind: 'dual', ifindex: v.ifindex, vtep: v.nve };
}

/** The agent's tables over the dataplane's. */
export function agentTablesOver(dp: DataplaneTables, clocks: Clocks = systemClocks): AgentTables {
  return {
    fdb: withRaw(
      mappedTable<MacKey, FdbEntry, MacKey, DpFdbEntry>(dp.fdb, identity, {
        to: (v) => fdbToDataplane(v, clocks),
        from: (v) => fdbFromDataplane(v, clocks),
      }),
      dp.fdb,
      fdbByteCodec(clocks),
    ),
    neigh: withRaw(
      mappedTable<IpKey, NeighEntry, IpKey, string>(dp.neigh, identity, {
        to: (v) => v.mac,
        from: (mac) => ({ mac }),
      }),
      dp.neigh,
      neighByteCodec,
    ),
    flood: mappedTable<number, FloodEntry, number, FloodEntry>(dp.flood, identity, {
      to: (v) => ({ local: v.local, remote: v.remote }),
      from: (v) => ({ local: [...v.local].sort((a, b) => a - b), remote: [...v.remote].sort() }),
    }),
    peers: mappedTable<PeerKey, true, { vni: number; nve: string }, true>(
      dp.peers,
      { to: (k) => ({ vni: k.vni, nve: k.vtep }), from: (k) => ({ vni: k.vni, vtep: k.nve }) },
      identity,
    ),
  };
}

/** A table over a BPF map (a TypedMap) also offers the byte view the resync's fast path uses. */
function withRaw<K, V, DK, DV>(
  t: Table<K, V>,
  under: Table<DK, DV>,
  codec: ByteCodec<K, V>,
): Table<K, V> & { raw?: RawTable<K, V> } {
  return under instanceof TypedMap ? Object.assign(t, { raw: { map: under.map, codec } }) : t;
}

// struct fdb_entry byte offsets (bpf/roam.h).
const FDB_IFINDEX_OFF = 4;
const FDB_UNTIL_OFF = 8;
const FDB_REMOTE_OFF = 16;
const FDB_REMOTE_END = 36;
const NS_PER_MS = 1e6;

/** Agent FDB entries as struct fdb_entry bytes (the clock translation as fdbToDataplane). */
export function fdbByteCodec(c: Clocks = systemClocks): ByteCodec<MacKey, FdbEntry> {
  return {
    encodeKey: (k, b, o) => encodeMacKey(k.vni, k.mac, b, o),
    encodeValue: (v, b, o) => {
      if (v.kind === 'remote') encodeFdbRemote(v.vtep, b, o, v.rarp);
      else encodeFdbEntry(fdbToDataplane(v, c), b, o);
    },
    decodeKey: (b, o) => fdbKey.decode(b, o),
    decodeValue: (b, o) => fdbFromDataplane(fdbEntry.decode(b, o), c),
    sameValue: (a, ao, b, bo) => {
      const kind = a[ao];
      if (kind !== b[bo] || !sameBytes(a, ao + FDB_RARP_IP4_OFF, b, bo + FDB_RARP_IP4_OFF, 4))
        return false;
      // Only what the kind uses (no closures here: this runs once per entry).
      const ifindexSame =
        kind === FDB_REMOTE ||
        kind === FDB_MOVED ||
        sameBytes(a, ao + FDB_IFINDEX_OFF, b, bo + FDB_IFINDEX_OFF, 4);
      const nveSame =
        kind === FDB_LOCAL ||
        sameBytes(a, ao + FDB_REMOTE_OFF, b, bo + FDB_REMOTE_OFF, FDB_REMOTE_END - FDB_REMOTE_OFF);
      if (kind === FDB_LOCAL || kind === FDB_REMOTE || kind === FDB_DUAL)
        return ifindexSame && nveSame;
      if (kind === FDB_MOVED) {
        const lo = readU32(a, ao + FDB_UNTIL_OFF) - readU32(b, bo + FDB_UNTIL_OFF);
        const hi = readU32(a, ao + FDB_UNTIL_OFF + 4) - readU32(b, bo + FDB_UNTIL_OFF + 4);
        const diffMs = (hi * 2 ** 32 + lo) / NS_PER_MS;
        return nveSame && Math.abs(diffMs) < MOVED_DEADLINE_SLACK_MS;
      }
      return sameBytes(a, ao, b, bo, FDB_ENTRY_BYTES);
    },
    vniOfKey: readU32,
    tag: (b, o) => FDB_KIND_NAMES[b[o]!] ?? 'unknown',
  };
}

/** FdbEntry kinds by the C's FDB_* value. */
const FDB_KIND_NAMES: Record<number, FdbEntry['kind']> = {
  [FDB_LOCAL]: 'local',
  [FDB_REMOTE]: 'remote',
  [FDB_MOVED]: 'moved',
  [FDB_DUAL]: 'dual',
};

const neighByteCodec: ByteCodec<IpKey, NeighEntry> = {
  encodeKey: (k, b, o) => encodeIpKey(k.vni, k.ip, b, o),
  encodeValue: (v, b, o) => encodeNeighEntry(v.mac, b, o),
  decodeKey: (b, o) => neighKey.decode(b, o),
  decodeValue: (b, o) => ({ mac: neighEntry.decode(b, o) }),
  sameValue: (a, ao, b, bo) => sameBytes(a, ao, b, bo, 6),
  vniOfKey: readU32,
  tag: readMac,
};

/** A ring-buffer event as the learner takes it. */
export function learnEventOf(ev: RoamEvent): LearnEvent {
  const kind = EVENT_KIND[ev.kind];
  return ev.ip === undefined
    ? { kind, ifindex: ev.ifindex, vni: ev.vni, mac: ev.mac }
    : { kind, ifindex: ev.ifindex, vni: ev.vni, mac: ev.mac, ip: ev.ip };
}

const EVENT_KIND: Record<RoamEvent['kind'], LearnEvent['kind']> = {
  garp: 'garp',
  'unsolicited-na': 'una',
  rarp: 'rarp',
  'new-mac': 'new_mac',
};
