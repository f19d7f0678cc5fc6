// Typed tables over roam's BPF maps (bpf/lib/maps.h): each implements Table<K,V> with batched
// writes, so the reconciler drives real maps and their in-memory twins (memoryTables) alike.
// Plus the readers of what the kernel writes: per-CPU verdict counters and the test trace.
import { possibleCpus, type BpfMap } from '../bpf/map.ts';
import { BPF_MAP_TYPE } from '../bpf/map-types.ts';
import { TypedMap } from '../bpf/typed-map.ts';
import type { Codec } from '../bpf/codec.ts';
import { MemoryTable } from './memory-table.ts';
import { SlotTable, type SlotSpec } from './slot-table.ts';
import type { Table } from './table.ts';
import {
  fdbEntry,
  fdbKey,
  floodList,
  neighEntry,
  neighKey,
  nexthop,
  nexthopHomeSlot,
  nexthopSlot,
  NEXTHOP_SLOTS,
  nveAddr,
  PEER_SLOTS,
  peerHomeSlot,
  peerInfo,
  peerKey,
  peerSlot,
  roamConfig,
  SLOT_PROBES,
  STATS_PROBES,
  STATS_SLOTS,
  statsKey,
  statsSlot,
  statsSlotIndex,
  statsValue,
  traceRec,
  TSI_SLOTS,
  tsiHomeSlot,
  tsiInfo,
  tsiSlot,
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
  'tsi_slots',
  'tsis',
  'vnis',
  'peer_slots',
  'peers',
  'fdb',
  'neigh',
  'nexthop_slots',
  'nexthops',
  'flood',
  'stats',
  'stats_spill',
  'events',
  'event_limits',
  'learn_sample',
  'trace',
  'trace_len',
] as const;
export type MapName = (typeof MAP_NAMES)[number];

/** The tables the control plane writes. */
export interface DataplaneTables {
  /** (vni, MAC) -> local TSI / remote NVE / moved-to NVE, and the MAC's IPv4 for RARP answers. */
  fdb: Table<FdbKey, FdbEntry>;
  /** (vni, IP) -> MAC, for ARP and ND answers. */
  neigh: Table<NeighKey, string>;
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

// How tsis, peers and nexthops sit in their slot arrays (bpf/roam.h, bpf/lib/slots.h).
const TSI_SLOT_SPEC: SlotSpec<number, TsiInfo> = {
  slots: TSI_SLOTS,
  probes: SLOT_PROBES,
  slotSize: tsiSlot.size,
  home: tsiHomeSlot,
  encode: (ifindex, info, b, o) => {
    if (!Number.isInteger(ifindex) || ifindex <= 0 || ifindex > 0xffffffff)
      throw new RangeError(`not an interface index: ${ifindex}`);
    tsiSlot.encode({ ifindex, info }, b, o);
  },
  decode: (b, o) => {
    const s = tsiSlot.decode(b, o);
    return s.ifindex === 0 ? undefined : [s.ifindex, s.info];
  },
  keyId: String,
};

const PEER_SLOT_SPEC: SlotSpec<PeerKey, true> = {
  slots: PEER_SLOTS,
  probes: SLOT_PROBES,
  slotSize: peerSlot.size,
  home: peerHomeSlot,
  encode: (k, _v, b, o) => peerSlot.encode(k, b, o),
  // family (after the u32 vni) 0: a free slot
  decode: (b, o) => (b[o + 4] === 0 ? undefined : [peerSlot.decode(b, o), true]),
  keyId: keyIdOf(peerKey),
};

const NEXTHOP_SLOT_SPEC: SlotSpec<string, string> = {
  slots: NEXTHOP_SLOTS,
  probes: SLOT_PROBES,
  slotSize: nexthopSlot.size,
  home: nexthopHomeSlot,
  encode: (nve, mac, b, o) => nexthopSlot.encode({ nve, mac }, b, o),
  decode: (b, o) => {
    if (b[o] === 0) return undefined;
    const s = nexthopSlot.decode(b, o);
    return [s.nve, s.mac];
  },
  keyId: keyIdOf(nveAddr),
};

/**
 * The tables the programs read per frame, over their slot array and spill hash. withSlots false
 * (benchmarks comparing with a build from before the slot arrays): the hash map alone.
 */
export function openTsis(mapOf: MapSource, withSlots = true): Table<number, TsiInfo> {
  const spill = new TypedMap(mapOf('tsis'), u32, tsiInfo);
  return withSlots ? new SlotTable('tsis', mapOf('tsi_slots'), spill, TSI_SLOT_SPEC) : spill;
}

export function openPeers(mapOf: MapSource, withSlots = true): Table<PeerKey, true> {
  const spill = new TypedMap(mapOf('peers'), peerKey, peerInfo);
  return withSlots ? new SlotTable('peers', mapOf('peer_slots'), spill, PEER_SLOT_SPEC) : spill;
}

export function openNexthops(mapOf: MapSource, withSlots = true): Table<string, string> {
  const spill = new TypedMap(mapOf('nexthops'), nveAddr, nexthop);
  return withSlots
    ? new SlotTable('nexthops', mapOf('nexthop_slots'), spill, NEXTHOP_SLOT_SPEC)
    : spill;
}

/** The config table over the `config` map. */
export function openConfig(mapOf: MapSource): ConfigTable {
  return configTable(new TypedMap(mapOf('config'), u32, roamConfig));
}

/** Typed tables over the maps of a loaded roam object (or pinned maps). */
export function openTables(mapOf: MapSource): DataplaneTables {
  return {
    fdb: new TypedMap(mapOf('fdb'), fdbKey, fdbEntry),
    neigh: new TypedMap(mapOf('neigh'), neighKey, neighEntry),
    tsis: openTsis(mapOf),
    vnis: new TypedMap(mapOf('vnis'), u32, vniInfo),
    peers: openPeers(mapOf),
    nexthops: openNexthops(mapOf),
    flood: new TypedMap(mapOf('flood'), u32, floodList),
    config: openConfig(mapOf),
  };
}

/** In-memory twins of every table, for unit tests of the control loop (no root, no kernel). */
export function memoryTables(): DataplaneTables {
  return {
    fdb: new MemoryTable('fdb', keyIdOf(fdbKey)),
    neigh: new MemoryTable('neigh', keyIdOf(neighKey)),
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

/**
 * Reads the verdict counters: the per-CPU slot array `stats` (each slot names the (vni, verdict)
 * it counts) and, when given, the per-CPU hash `stats_spill` for pairs that found no free slot.
 * Pass both: `new StatsReader(map('stats'), map('stats_spill'))`.
 */
export class StatsReader {
  private readonly keyBuf = Buffer.alloc(4);
  private readonly spillKey = Buffer.alloc(statsKey.size);

  constructor(
    private readonly map: BpfMap,
    private readonly spill?: BpfMap,
  ) {
    if (map.type !== BPF_MAP_TYPE.PERCPU_ARRAY || map.maxEntries !== STATS_SLOTS) {
      throw new RangeError(
        `map ${map.name} is not roam's stats array (per-CPU array of ${STATS_SLOTS} slots): ` +
          `type ${map.type}, ${map.maxEntries} entries`,
      );
    }
  }

  /** Every counter with its totals, summed over CPUs. */
  read(): StatsRow[] {
    const acc = new Map<string, StatsRow>();
    const add = (vni: number, slot: number, packets: bigint, bytes: bigint) => {
      const id = `${vni}/${slot}`;
      const row = acc.get(id);
      if (row) {
        row.packets += packets;
        row.bytes += bytes;
      } else {
        acc.set(id, { vni, slot, verdict: verdictName(slot), packets, bytes });
      }
    };
    this.forEachUsedSlot((buf, off) => {
      const slot = statsSlot.decode(buf, off);
      add(slot.vni, slot.verdict, slot.packets, slot.bytes);
    });
    if (this.spill) {
      for (const key of this.spill.keys()) {
        const k = statsKey.decode(key, 0);
        for (const cpu of this.spill.lookupPerCpu(key) ?? []) {
          const v = statsValue.decode(cpu, 0);
          add(k.vni, k.verdict, v.packets, v.bytes);
        }
      }
    }
    return [...acc.values()];
  }

  /** Every packet counted, any VNI and verdict (cheaper than summing read()). */
  totalPackets(): bigint {
    let total = 0n;
    this.forEachUsedSlot((buf, off) => {
      total += buf.readBigUInt64LE(off + 8);
    });
    for (const key of this.spill?.keys() ?? []) total += this.spill?.sumPerCpuU64(key, 0) ?? 0n;
    return total;
  }

  // Calls fn(buffer, offset) for each CPU's slot of `stats` that counts something.
  private forEachUsedSlot(fn: (buf: Buffer, off: number) => void): void {
    const d = this.map.lookupAll();
    const stride = this.map.valueBytes / possibleCpus();
    const end = d.count * this.map.valueBytes;
    for (let off = 0; off < end; off += stride) {
      // packets is the u64 at +8: skip free slots without building a BigInt
      if (d.values.readUInt32LE(off + 8) !== 0 || d.values.readUInt32LE(off + 12) !== 0) {
        fn(d.values, off);
      }
    }
  }

  /** Packets counted for (vni, slot), 0n when nothing was counted yet. */
  packets(vni: number, slot: number): bigint {
    let total = 0n;
    const first = statsSlotIndex(vni, slot);
    for (let i = 0; i < STATS_PROBES; i++) {
      this.keyBuf.writeUInt32LE((first + i) & (STATS_SLOTS - 1), 0);
      for (const cpu of this.map.lookupPerCpu(this.keyBuf) ?? []) {
        const s = statsSlot.decode(cpu, 0);
        if (s.packets > 0n && s.vni === vni && s.verdict === slot) total += s.packets;
      }
    }
    if (this.spill) {
      statsKey.encode({ vni, verdict: slot }, this.spillKey, 0);
      total += this.spill.sumPerCpuU64(this.spillKey, 0);
    }
    return total;
  }

  /** Forgets every counter (e.g. between test cases). */
  clear(): void {
    const keys = Buffer.alloc(4 * STATS_SLOTS);
    for (let i = 0; i < STATS_SLOTS; i++) keys.writeUInt32LE(i, 4 * i);
    this.map.updateBatch(keys, Buffer.alloc(this.map.valueBytes * STATS_SLOTS), STATS_SLOTS);
    if (this.spill) {
      const spilled = [...this.spill.keys()];
      if (spilled.length > 0) this.spill.deleteBatch(Buffer.concat(spilled), spilled.length);
    }
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
