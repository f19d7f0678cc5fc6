// A table kept in a BPF ARRAY of slots, with a hash map as spill: how roam keeps the tables
// every frame reads (tsis, ...) out of hash-map lookups (bpf/lib/slots.h). A key lives in one of
// `probes` consecutive slots from its home slot; when those are all taken it goes to the spill
// map, which the programs read only when the slots miss. Readers in the kernel probe every slot
// of the window (they never stop at a free one), so a delete only clears its slot.
// One write batch reads the whole array once (a few hundred KiB at most), so several writers
// (the agent, a test, the CLI) never work from a stale copy.
import type { BpfMap } from '../bpf/map.ts';
import type { Table } from './table.ts';

/** How a table's keys and values sit in the slot array (mirrors bpf/roam.h and slots.h). */
export interface SlotSpec<K, V> {
  /** Slots in the array: a power of two. */
  readonly slots: number;
  /** Consecutive slots a key may take from its home slot. */
  readonly probes: number;
  /** Bytes of one slot. */
  readonly slotSize: number;
  /** The key's first slot (what the BPF side computes per frame). */
  home(key: K): number;
  /** Writes key and value into a zeroed slot at b[o]. */
  encode(key: K, value: V, b: Buffer, o: number): void;
  /** The key and value a slot holds, or undefined when it is free. */
  decode(b: Buffer, o: number): [K, V] | undefined;
  /** Equal keys give equal strings (as the kernel compares their bytes). */
  keyId(key: K): string;
}

export class SlotTable<K, V> implements Table<K, V> {
  private readonly keyBuf = Buffer.alloc(4);
  private readonly slotBuf: Buffer;

  constructor(
    readonly name: string,
    private readonly array: BpfMap,
    private readonly spill: Table<K, V>,
    private readonly spec: SlotSpec<K, V>,
  ) {
    if (array.maxEntries !== spec.slots || array.valueSize !== spec.slotSize) {
      throw new RangeError(
        `map ${array.name} is not the slot array of ${name}: ${array.maxEntries} slots of ` +
          `${array.valueSize} bytes, expected ${spec.slots} of ${spec.slotSize}`,
      );
    }
    this.slotBuf = Buffer.alloc(array.valueBytes);
  }

  get(key: K): V | undefined {
    const id = this.spec.keyId(key);
    for (const i of this.window(key)) {
      this.keyBuf.writeUInt32LE(i, 0);
      if (!this.array.lookupInto(this.keyBuf, this.slotBuf)) continue;
      const kv = this.spec.decode(this.slotBuf, 0);
      if (kv && this.spec.keyId(kv[0]) === id) return kv[1];
    }
    return this.spill.get(key);
  }

  setMany(entries: ReadonlyArray<readonly [K, V]>): void {
    if (entries.length === 0) return;
    const slots = this.readSlots();
    const dirty = new Set<number>();
    const spilled: [K, V][] = [];
    const placed: K[] = [];
    for (const [k, v] of entries) {
      const id = this.spec.keyId(k);
      const at = this.find(slots, k, id) ?? this.free(slots, k);
      if (at === undefined) {
        spilled.push([k, v]);
        continue;
      }
      if (slots[at] === undefined) placed.push(k);
      slots[at] = { id, kv: [k, v] };
      dirty.add(at);
    }
    // Slots first, then the spill: a reader finds a key that moves into the array all along.
    this.writeSlots(slots, dirty);
    if (placed.length > 0) this.deleteFromSpill(placed);
    if (spilled.length > 0) this.spill.setMany(spilled);
  }

  deleteMany(keys: readonly K[]): void {
    if (keys.length === 0) return;
    const slots = this.readSlots();
    const dirty = new Set<number>();
    for (const k of keys) {
      const at = this.find(slots, k, this.spec.keyId(k));
      if (at === undefined) continue;
      slots[at] = undefined;
      dirty.add(at);
    }
    this.writeSlots(slots, dirty);
    this.deleteFromSpill(keys);
  }

  *entries(): IterableIterator<[K, V]> {
    const seen = new Set<string>();
    for (const s of this.readSlots()) {
      if (!s) continue;
      seen.add(s.id);
      yield s.kv;
    }
    for (const [k, v] of this.spill.entries()) {
      if (!seen.has(this.spec.keyId(k))) yield [k, v];
    }
  }

  size(): number {
    return [...this.entries()].length;
  }

  /** Keys the slots had no room for (held in the spill map; each frame for them pays a hash lookup). */
  spilled(): number {
    return this.spill.size();
  }

  // Deletes those of `keys` the spill holds (usually none: one read, no per-key syscalls).
  private deleteFromSpill(keys: readonly K[]): void {
    const held = new Set<string>();
    for (const [k] of this.spill.entries()) held.add(this.spec.keyId(k));
    if (held.size === 0) return;
    const gone = keys.filter((k) => held.has(this.spec.keyId(k)));
    if (gone.length > 0) this.spill.deleteMany(gone);
  }

  // The slot indexes a key may occupy, home first.
  private window(key: K): number[] {
    const home = this.spec.home(key);
    return Array.from({ length: this.spec.probes }, (_, i) => (home + i) & (this.spec.slots - 1));
  }

  private find(slots: (Slot<K, V> | undefined)[], key: K, id: string): number | undefined {
    return this.window(key).find((i) => slots[i]?.id === id);
  }

  private free(slots: (Slot<K, V> | undefined)[], key: K): number | undefined {
    return this.window(key).find((i) => slots[i] === undefined);
  }

  private readSlots(): (Slot<K, V> | undefined)[] {
    const out = new Array<Slot<K, V> | undefined>(this.spec.slots).fill(undefined);
    const d = this.array.lookupAll();
    for (let n = 0; n < d.count; n++) {
      const kv = this.spec.decode(d.values, n * this.array.valueBytes);
      if (kv) out[d.keys.readUInt32LE(n * 4)] = { id: this.spec.keyId(kv[0]), kv };
    }
    return out;
  }

  private writeSlots(slots: (Slot<K, V> | undefined)[], dirty: Set<number>): void {
    if (dirty.size === 0) return;
    const size = this.array.valueBytes;
    const keys = Buffer.alloc(dirty.size * 4);
    const values = Buffer.alloc(dirty.size * size);
    [...dirty].forEach((i, n) => {
      keys.writeUInt32LE(i, n * 4);
      const s = slots[i];
      if (s) this.spec.encode(s.kv[0], s.kv[1], values, n * size);
    });
    this.array.updateBatch(keys, values, dirty.size);
  }
}

interface Slot<K, V> {
  id: string;
  kv: [K, V];
}
