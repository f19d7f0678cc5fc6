// Adapts roam's real dataplane tables (src/dataplane/tables.ts, BPF maps or their twins) to the
// agent's narrow view (tables.ts). Mostly renames; two real translations:
// - time: the agent keeps a moved entry's deadline in wall-clock ms, the C compares it with
//   bpf_ktime_get_ns() (CLOCK_MONOTONIC, as process.hrtime.bigint()). The kernel's deadline is set
//   MOVED_GRACE_MS after the agent's own, so the agent's hold timer always replaces the entry
//   before the C would start dropping frames for it as expired.
// - "dual" maps to the C's FDB_DUAL (local TSI, and a copy to the new NVE by the TC program).
import type { DataplaneTables } from '../dataplane/tables.ts';
import type { FdbEntry as DpFdbEntry, RoamEvent } from '../dataplane/codecs.ts';
import type { LearnEvent } from './learner.ts';
import type { Table } from '../dataplane/table.ts';
import type {
  AgentTables,
  FdbEntry,
  FloodEntry,
  IpKey,
  MacKey,
  NeighEntry,
  PeerKey,
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
    fdb: mappedTable<MacKey, FdbEntry, MacKey, DpFdbEntry>(dp.fdb, identity, {
      to: (v) => fdbToDataplane(v, clocks),
      from: (v) => fdbFromDataplane(v, clocks),
    }),
    neigh: mappedTable<IpKey, NeighEntry, IpKey, string>(dp.neigh, identity, {
      to: (v) => v.mac,
      from: (mac) => ({ mac }),
    }),
    flood: mappedTable<number, FloodEntry, number, FloodEntry>(dp.flood, identity, {
      to: (v) => ({ local: v.local, remote: v.remote }),
      from: (v) => ({ local: [...v.local].sort((a, b) => a - b), remote: [...v.remote].sort() }),
    }),
    peers: mappedTable<PeerKey, true, { vni: number; nve: string }, true>(
      dp.peers,
      { to: (k) => ({ vni: k.vni, nve: k.vtep }), from: (k) => ({ vni: k.vni, vtep: k.nve }) },
      identity,
    ),
    rarp: mappedTable<MacKey, string, MacKey, string>(dp.rarp, identity, identity),
  };
}

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
