// An in-memory stand-in for a BpfMap (hash map semantics over key bytes), so the reconciler's byte
// path (TypedMap-backed tables, byte-sync.ts) runs in unit tests without root. Batch calls are
// counted; `lookupAll` returns one packed dump, like the binding's batch lookups.
import type { BpfMap, MapDump } from '../../../src/bpf/map.ts';
import {
  fdbEntry,
  fdbKey,
  floodList,
  neighEntry,
  neighKey,
  nexthop,
  nexthopSlot,
  NEXTHOP_SLOTS,
  nveAddr,
  PEER_SLOTS,
  peerInfo,
  peerKey,
  peerSlot,
  roamConfig,
  tsiInfo,
  tsiSlot,
  TSI_SLOTS,
  vniInfo,
} from '../../../src/dataplane/codecs.ts';
import { openTables, type DataplaneTables, type MapName } from '../../../src/dataplane/tables.ts';

/** Key and value sizes of the maps openTables() types (the codecs' sizes). */
const SIZES: Partial<Record<MapName, [number, number]>> = {
  fdb: [fdbKey.size, fdbEntry.size],
  neigh: [neighKey.size, neighEntry.size],
  tsis: [4, tsiInfo.size],
  vnis: [4, vniInfo.size],
  peers: [peerKey.size, peerInfo.size],
  nexthops: [nveAddr.size, nexthop.size],
  flood: [4, floodList.size],
  config: [4, roamConfig.size],
};

/** Slot arrays (src/dataplane/slot-table.ts): a fixed number of slots of one size each. */
const SLOT_ARRAYS: Partial<Record<MapName, [number, number]>> = {
  tsi_slots: [TSI_SLOTS, tsiSlot.size],
  peer_slots: [PEER_SLOTS, peerSlot.size],
  nexthop_slots: [NEXTHOP_SLOTS, nexthopSlot.size],
};

export class FakeBpfMap {
  readonly perCpu = false;
  readonly rows = new Map<string, Buffer>();
  updateBatchCalls = 0;
  deleteBatchCalls = 0;

  constructor(
    readonly name: string,
    readonly keySize: number,
    readonly valueSize: number,
    readonly maxEntries = 1 << 30,
  ) {}

  get valueBytes(): number {
    return this.valueSize;
  }

  lookupInto(key: Buffer, out: Buffer): boolean {
    const v = this.rows.get(key.toString('hex'));
    if (!v) return false;
    v.copy(out);
    return true;
  }

  update(key: Buffer, value: Buffer): void {
    this.rows.set(
      key.subarray(0, this.keySize).toString('hex'),
      Buffer.from(value.subarray(0, this.valueSize)),
    );
  }

  delete(key: Buffer): boolean {
    return this.rows.delete(key.subarray(0, this.keySize).toString('hex'));
  }

  *keys(): IterableIterator<Buffer> {
    for (const k of [...this.rows.keys()]) yield Buffer.from(k, 'hex');
  }

  updateBatch(keys: Buffer, values: Buffer, count: number): void {
    this.updateBatchCalls++;
    for (let i = 0; i < count; i++) {
      this.update(
        keys.subarray(i * this.keySize, (i + 1) * this.keySize),
        values.subarray(i * this.valueSize, (i + 1) * this.valueSize),
      );
    }
  }

  deleteBatch(keys: Buffer, count: number): number {
    this.deleteBatchCalls++;
    let n = 0;
    for (let i = 0; i < count; i++)
      if (this.delete(keys.subarray(i * this.keySize, (i + 1) * this.keySize))) n++;
    return n;
  }

  lookupAll(): MapDump {
    const ks = [...this.rows.keys()].map((k) => Buffer.from(k, 'hex'));
    return {
      keys: Buffer.concat(ks),
      values: Buffer.concat([...this.rows.values()]),
      count: ks.length,
    };
  }
}

/** roam's typed tables (real TypedMaps and codecs) over fake maps of the codecs' sizes. */
export function fakeDataplaneTables(): {
  tables: DataplaneTables;
  maps: Map<string, FakeBpfMap>;
} {
  const maps = new Map<string, FakeBpfMap>();
  const tables = openTables((name: MapName) => {
    const slots = SLOT_ARRAYS[name];
    const [k, v] = slots ? [4, slots[1]] : (SIZES[name] ?? [4, 4]);
    const m = new FakeBpfMap(name, k, v, slots?.[0]);
    maps.set(name, m);
    return m as unknown as BpfMap;
  });
  return { tables, maps };
}
