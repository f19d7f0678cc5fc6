// SlotTable over a fake BPF array: keys go to a free slot of their window (home slot and the
// SLOT_PROBES - 1 after it), the spill table when the window is full, back into the slots when
// one frees; reads see both; every write batch is one array update.
import { describe, expect, it } from 'vitest';
import type { BpfMap, MapDump } from '../../../src/bpf/map.ts';
import { MemoryTable } from '../../../src/dataplane/memory-table.ts';
import { SlotTable, type SlotSpec } from '../../../src/dataplane/slot-table.ts';

const SLOTS = 16;
const PROBES = 4;
const SLOT_SIZE = 8; // key u32 (0: free), value u32

/** The part of BpfMap a SlotTable uses, as a kernel array behaves. */
class FakeArray {
  readonly name = 'fake_slots';
  readonly maxEntries = SLOTS;
  readonly valueSize = SLOT_SIZE;
  readonly valueBytes = SLOT_SIZE;
  readonly data = Buffer.alloc(SLOTS * SLOT_SIZE);
  batches = 0;

  lookupInto(key: Buffer, out: Buffer): boolean {
    const i = key.readUInt32LE(0);
    if (i >= SLOTS) return false;
    this.data.copy(out, 0, i * SLOT_SIZE, (i + 1) * SLOT_SIZE);
    return true;
  }

  lookupAll(): MapDump {
    const keys = Buffer.alloc(SLOTS * 4);
    for (let i = 0; i < SLOTS; i++) keys.writeUInt32LE(i, i * 4);
    return { keys, values: Buffer.from(this.data), count: SLOTS };
  }

  updateBatch(keys: Buffer, values: Buffer, count: number): void {
    this.batches++;
    for (let n = 0; n < count; n++) {
      const i = keys.readUInt32LE(n * 4);
      values.copy(this.data, i * SLOT_SIZE, n * SLOT_SIZE, (n + 1) * SLOT_SIZE);
    }
  }

  slotKey(i: number): number {
    return this.data.readUInt32LE(i * SLOT_SIZE);
  }
}

// Keys are nonzero u32s whose home slot is the key itself modulo SLOTS.
const spec: SlotSpec<number, number> = {
  slots: SLOTS,
  probes: PROBES,
  slotSize: SLOT_SIZE,
  home: (k) => k & (SLOTS - 1),
  encode: (k, v, b, o) => {
    b.writeUInt32LE(k, o);
    b.writeUInt32LE(v, o + 4);
  },
  decode: (b, o) => {
    const k = b.readUInt32LE(o);
    return k === 0 ? undefined : [k, b.readUInt32LE(o + 4)];
  },
  keyId: String,
};

function table() {
  const array = new FakeArray();
  const spill = new MemoryTable<number, number>('spill', String);
  const t = new SlotTable('t', array as unknown as BpfMap, spill, spec);
  return { array, spill, t };
}

describe('SlotTable', () => {
  it('puts a key in its home slot, or the next free one of its window, in one batch', () => {
    const { array, t } = table();
    t.setMany([
      [3, 30],
      [19, 190], // home 3 too: the next slot
      [5, 50], // home 5: free (19 took 4)
    ]);
    expect(array.batches).toBe(1);
    expect([array.slotKey(3), array.slotKey(4), array.slotKey(5)]).toEqual([3, 19, 5]);
    expect([t.get(3), t.get(19), t.get(5), t.get(35)]).toEqual([30, 190, 50, undefined]);
  });

  it('replaces a key where it is, never a second copy', () => {
    const { array, t } = table();
    t.setMany([
      [3, 30],
      [19, 190],
    ]);
    t.setMany([[19, 191]]);
    expect(array.slotKey(4)).toBe(19);
    expect(t.get(19)).toBe(191);
    expect(t.size()).toBe(2);
  });

  it('spills a key whose window is full, and reads it from there', () => {
    const { spill, t } = table();
    const window = [1, 17, 33, 49]; // all home 1
    t.setMany(window.map((k) => [k, k * 10]));
    t.setMany([[65, 650]]);
    expect(t.spilled()).toBe(1);
    expect(spill.get(65)).toBe(650);
    expect(t.get(65)).toBe(650);
    expect([...t.entries()].sort((a, b) => a[0] - b[0])).toEqual(
      [...window, 65].map((k) => [k, k * 10]),
    );
    // an update of a spilled key stays in the spill while the window is full
    t.setMany([[65, 651]]);
    expect(spill.get(65)).toBe(651);
  });

  it('moves a spilled key into a slot that frees, and out of the spill', () => {
    const { array, spill, t } = table();
    t.setMany([1, 17, 33, 49, 65].map((k) => [k, k]));
    t.deleteMany([17]);
    expect(array.slotKey(2)).toBe(0);
    t.setMany([[65, 66]]);
    expect(array.slotKey(2)).toBe(65);
    expect(spill.size()).toBe(0);
    expect(t.get(65)).toBe(66);
    expect(t.size()).toBe(4);
  });

  it('deletes from the slots and the spill; absent keys are ignored', () => {
    const { array, t } = table();
    t.setMany([1, 17, 33, 49, 65].map((k) => [k, k]));
    t.deleteMany([65, 1, 999]);
    expect(t.spilled()).toBe(0);
    expect(array.slotKey(1)).toBe(0);
    expect([...t.entries()].map(([k]) => k).sort((a, b) => a - b)).toEqual([17, 33, 49]);
  });

  it('wraps the window around the end of the array', () => {
    const { array, t } = table();
    t.setMany([15, 31, 47].map((k) => [k, k]));
    expect([array.slotKey(15), array.slotKey(0), array.slotKey(1)]).toEqual([15, 31, 47]);
    expect(t.get(47)).toBe(47);
  });

  it('refuses an array of another shape', () => {
    const array = new FakeArray();
    expect(
      () =>
        new SlotTable('t', array as unknown as BpfMap, new MemoryTable('s', String), {
          ...spec,
          slots: 32,
        }),
    ).toThrow(/not the slot array of t/);
  });
});
