// Typed tables over roam's BPF maps (bpf/lib/maps.h): each implements Table<K,V> with batched
// writes, so the reconciler drives real maps and their in-memory twins (memoryTables) alike.
// Plus the readers of what the kernel writes: per-CPU verdict counters and the test trace.
import type { BpfMap } from '../bpf/map.ts';
import { TypedMap } from '../bpf/typed-map.ts';
import type { Codec } from '../bpf/codec.ts';
import { MemoryTable } from './memory-table.ts';
import type { Table } from './table.ts';
import {
  fdbEntry,
  fdbKey,
  floodList,
  neighEntry,
  neighKey,
  nexthop,
  nveAddr,
  peerInfo,
  peerKey,
  rarpEntry,
  roamConfig,
  statsKey,
  statsValue,
  traceRec,
  tsiInfo,
  u32,
  verdictName,
  vniInfo,
  type FdbEntry,
  type FdbKey,
  type FloodList,
  type NeighKey,
  type PeerKey,
  type RoamConfig,
  type TraceRec,
  type TsiInfo,
  type VniInfo,
} from './codecs.ts';

/** Names of the maps roam's objects pin under their pin root (bpf/lib/maps.h). */
export const MAP_NAMES = [
  'config',
  'tsis',
  'vnis',
  'peers',
  'fdb',
  'neigh',
  'rarp',
  'nexthops',
  'flood',
  'stats',
  'events',
  'event_limits',
  'learn_sample',
  'trace',
  'trace_len',
] as const;
export type MapName = (typeof MAP_NAMES)[number];

/** The tables the control plane writes. */
export interface DataplaneTables {
  /** (vni, MAC) -> local TSI / remote NVE / moved-to NVE. */
  fdb: Table<FdbKey, FdbEntry>;
  /** (vni, IP) -> MAC, for ARP and ND answers. */
  neigh: Table<NeighKey, string>;
  /** (vni, MAC) -> IPv4, for RARP answers. */
  rarp: Table<FdbKey, string>;
  /** TSI ifindex -> its VNI. */
  tsis: Table<number, TsiInfo>;
  /** VNIs served here. */
  vnis: Table<number, VniInfo>;
  /** (vni, NVE) allowed to send us that VNI. */
  peers: Table<PeerKey, true>;
  /** NVE underlay address -> next-hop MAC. */
  nexthops: Table<string, string>;
  /** VNI -> head-end replication list. */
  flood: Table<number, FloodList>;
  /** The underlay configuration (one entry). */
  config: ConfigTable;
}

/** The single-entry `config` map. */
export interface ConfigTable {
  get(): RoamConfig | undefined;
  set(config: RoamConfig): void;
}

/** Finds one of roam's maps, e.g. `(n) => obj.map(n)` or a BpfMap.fromPinned under the root. */
export type MapSource = (name: MapName) => BpfMap;

// Keys of MemoryTable twins, compared as a BPF hash compares bytes: by their encoding.
function keyIdOf<K>(codec: Codec<K>): (k: K) => string {
  const buf = Buffer.alloc(codec.size);
  return (k) => {
    codec.encode(k, buf, 0);
    return buf.toString('hex');
  };
}

/** A ConfigTable over any Table<number, RoamConfig> (key 0). */
function configTable(t: Table<number, RoamConfig>): ConfigTable {
  return {
    get: () => t.get(0),
    set: (c) => t.setMany([[0, c]]),
  };
}

/** Typed tables over the maps of a loaded roam object (or pinned maps). */
export function openTables(mapOf: MapSource): DataplaneTables {
  return {
    fdb: new TypedMap(mapOf('fdb'), fdbKey, fdbEntry),
    neigh: new TypedMap(mapOf('neigh'), neighKey, neighEntry),
    rarp: new TypedMap(mapOf('rarp'), fdbKey, rarpEntry),
    tsis: new TypedMap(mapOf('tsis'), u32, tsiInfo),
    vnis: new TypedMap(mapOf('vnis'), u32, vniInfo),
    peers: new TypedMap(mapOf('peers'), peerKey, peerInfo),
    nexthops: new TypedMap(mapOf('nexthops'), nveAddr, nexthop),
    flood: new TypedMap(mapOf('flood'), u32, floodList),
    config: configTable(new TypedMap(mapOf('config'), u32, roamConfig)),
  };
}

/** In-memory twins of every table, for unit tests of the control loop (no root, no kernel). */
export function memoryTables(): DataplaneTables {
  return {
    fdb: new MemoryTable('fdb', keyIdOf(fdbKey)),
    neigh: new MemoryTable('neigh', keyIdOf(neighKey)),
    rarp: new MemoryTable('rarp', keyIdOf(fdbKey)),
    tsis: new MemoryTable('tsis', keyIdOf(u32)),
    vnis: new MemoryTable('vnis', keyIdOf(u32)),
    peers: new MemoryTable('peers', keyIdOf(peerKey)),
    nexthops: new MemoryTable('nexthops', keyIdOf(nveAddr)),
    flood: new MemoryTable('flood', keyIdOf(u32)),
    config: configTable(new MemoryTable('config', keyIdOf(u32))),
  };
}

/** One verdict counter, summed over CPUs. */
export interface StatsRow {
  vni: number;
  /** Counter slot (enum roam_verdict). */
  slot: number;
  /** Its name, e.g. "encap" or "drop-mtu". */
  verdict: string;
  packets: bigint;
  bytes: bigint;
}

/** Reads the per-CPU `stats` map: every (vni, verdict) counter, summed over CPUs. */
export class StatsReader {
  private readonly keyBuf = Buffer.alloc(statsKey.size);

  constructor(private readonly map: BpfMap) {}

  /** Every counter with its totals. */
  read(): StatsRow[] {
    const rows: StatsRow[] = [];
    for (const key of this.map.keys()) {
      const k = statsKey.decode(key, 0);
      const slots = this.map.lookupPerCpu(key);
      if (!slots) continue; // deleted while we iterated
      let packets = 0n;
      let bytes = 0n;
      for (const s of slots) {
        const v = statsValue.decode(s, 0);
        packets += v.packets;
        bytes += v.bytes;
      }
      rows.push({ vni: k.vni, slot: k.verdict, verdict: verdictName(k.verdict), packets, bytes });
    }
    return rows;
  }

  /** Packets counted for (vni, slot), 0n when the counter does not exist yet. */
  packets(vni: number, slot: number): bigint {
    statsKey.encode({ vni, verdict: slot }, this.keyBuf, 0);
    return this.map.sumPerCpuU64(this.keyBuf, 0);
  }

  /** Forgets every counter (e.g. between test cases). */
  clear(): void {
    const keys = [...this.map.keys()];
    if (keys.length > 0) this.map.deleteBatch(Buffer.concat(keys), keys.length);
  }
}

/** The test-only `trace` of where frames would have left (F_CFG_TRACE). */
export class TraceReader {
  private readonly zero = Buffer.alloc(4);
  private readonly lenBuf = Buffer.alloc(4);

  constructor(
    private readonly trace: BpfMap,
    private readonly traceLen: BpfMap,
  ) {}

  /** Records since the last clear, in order. */
  read(): TraceRec[] {
    const n = this.traceLen.lookup(this.zero)?.readUInt32LE(0) ?? 0;
    const out: TraceRec[] = [];
    const key = Buffer.alloc(4);
    for (let i = 0; i < n && i < this.trace.maxEntries; i++) {
      key.writeUInt32LE(i, 0);
      const v = this.trace.lookup(key);
      if (v) out.push(traceRec.decode(v, 0));
    }
    return out;
  }

  /** Starts a new trace. */
  clear(): void {
    this.lenBuf.writeUInt32LE(0, 0);
    this.traceLen.update(this.zero, this.lenBuf);
  }
}
