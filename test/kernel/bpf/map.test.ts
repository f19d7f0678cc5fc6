// BpfMap: element ops, iteration, batch ops on 1,000,000 entries, the per-element fallback for
// a map type without batch ops (LPM trie), per-CPU values, typed errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BPF_EXIST,
  BPF_MAP_TYPE,
  BPF_NOEXIST,
  BpfError,
  BpfMap,
  BpfObject,
  possibleCpus,
} from '../../../src/bpf/index.ts';
import { TEST_OBJ, u32Key } from './fixtures.ts';

const BIG = 1_000_000;
const KV = 16;

function kvBuffers(n: number, seed: number): { keys: Buffer; values: Buffer } {
  const keys = Buffer.alloc(n * KV);
  const values = Buffer.alloc(n * KV);
  for (let i = 0; i < n; i++) {
    keys.writeUInt32LE(i, i * KV);
    keys.writeUInt32LE(seed, i * KV + 4);
    values.writeUInt32LE(i * 7 + seed, i * KV);
    values.writeUInt32LE(~i >>> 0, i * KV + 12);
  }
  return { keys, values };
}

describe('BpfMap', () => {
  let obj: BpfObject;
  beforeAll(() => {
    obj = BpfObject.open(TEST_OBJ);
    obj.load();
  });
  afterAll(() => obj.close());

  it('get/set/delete/iterate one element at a time', () => {
    const kv = obj.map('kv');
    const k = Buffer.alloc(KV, 1);
    const v = Buffer.alloc(KV, 2);
    expect(kv.lookup(k)).toBeNull();
    kv.update(k, v);
    expect(kv.lookup(k)).toEqual(v);
    const out = Buffer.alloc(KV);
    expect(kv.lookupInto(k, out)).toBe(true);
    expect(out).toEqual(v);
    expect(() => kv.update(k, v, BPF_NOEXIST)).toThrow(/map kv: update: EEXIST/);
    kv.update(k, Buffer.alloc(KV, 3), BPF_EXIST);
    expect([...kv.entries()]).toEqual([[k, Buffer.alloc(KV, 3)]]);
    expect(kv.delete(k)).toBe(true);
    expect(kv.delete(k)).toBe(false);
    expect([...kv.keys()]).toEqual([]);
  });

  it('a full map reports E2BIG as a typed error', () => {
    const kv = obj.map('kv');
    const { keys, values } = kvBuffers(kv.maxEntries, 9);
    kv.updateBatch(keys, values, kv.maxEntries);
    let err: BpfError | undefined;
    try {
      kv.update(Buffer.alloc(KV, 0xee), Buffer.alloc(KV));
    } catch (e) {
      err = e as BpfError;
    }
    expect(err?.code).toBe('E2BIG');
    expect(err?.message).toBe('map kv: update: E2BIG (Argument list too long)');
    expect(kv.deleteBatch(keys, kv.maxEntries)).toBe(kv.maxEntries);
  });

  it(`batch-writes ${BIG.toLocaleString('en')} entries of a hash and reads them all back`, () => {
    const m = BpfMap.create(BPF_MAP_TYPE.HASH, 'big', KV, KV, BIG);
    try {
      const { keys, values } = kvBuffers(BIG, 5);
      m.updateBatch(keys, values, BIG);
      const d = m.lookupAll();
      expect(d.count).toBe(BIG);
      // Order is the hash's: index by key and compare every value.
      const seen = new Uint8Array(BIG);
      for (let i = 0; i < d.count; i++) {
        const idx = d.keys.readUInt32LE(i * KV);
        expect(d.keys.readUInt32LE(i * KV + 4)).toBe(5);
        if (d.values.readUInt32LE(i * KV) !== idx * 7 + 5)
          throw new Error(`value of key ${idx} is wrong`);
        seen[idx] = 1;
      }
      expect(seen.every((x) => x === 1)).toBe(true);
      // Delete half (plus absent keys, which are skipped), the rest remains.
      const half = BIG / 2;
      expect(m.deleteBatch(keys, half)).toBe(half);
      expect(m.deleteBatch(keys, half + 10)).toBe(10);
      expect(m.lookupAll().count).toBe(BIG - half - 10);
    } finally {
      m.close();
    }
  });

  it('falls back to per-element ops on a map type without batch ops (LPM trie)', () => {
    const lpm = obj.map('lpm');
    const n = 3;
    const keys = Buffer.alloc(8 * n);
    const values = Buffer.alloc(4 * n);
    for (let i = 0; i < n; i++) {
      keys.writeUInt32LE(24, i * 8);
      keys.writeUInt32BE(0x0a000000 + (i << 8), i * 8 + 4);
      values.writeUInt32LE(100 + i, i * 4);
    }
    lpm.updateBatch(keys, values, n);
    const probe = Buffer.alloc(8);
    probe.writeUInt32LE(32, 0);
    probe.writeUInt32BE(0x0a000105, 4); // 10.0.1.5 falls in 10.0.1.0/24
    expect(lpm.lookup(probe)?.readUInt32LE(0)).toBe(101);
    const d = lpm.lookupAll();
    expect(d.count).toBe(n);
    expect(lpm.deleteBatch(keys, n)).toBe(n);
    expect(lpm.lookupAll().count).toBe(0);
  });

  it('per-CPU values: one slot per possible CPU, summed', () => {
    const counters = obj.map('counters');
    const cpus = possibleCpus();
    expect(cpus).toBeGreaterThanOrEqual(1);
    expect(counters.perCpu).toBe(true);
    const all = Buffer.alloc(counters.valueBytes);
    for (let c = 0; c < cpus; c++) all.writeBigUInt64LE(BigInt(c + 1) * 10n, c * 8);
    counters.update(u32Key(3), all);
    const slots = counters.lookupPerCpu(u32Key(3));
    expect(slots?.length).toBe(cpus);
    expect(slots?.[0]?.readBigUInt64LE(0)).toBe(10n);
    expect(counters.sumPerCpuU64(u32Key(3))).toBe(BigInt((cpus * (cpus + 1)) / 2) * 10n);
    // zero it everywhere through updatePerCpu
    counters.updatePerCpu(
      u32Key(3),
      Array.from({ length: cpus }, () => Buffer.alloc(8)),
    );
    expect(counters.sumPerCpuU64(u32Key(3))).toBe(0n);
    expect(() => counters.updatePerCpu(u32Key(3), [])).toThrow(/0 slots given/);
    expect(() => obj.map('kv').lookupPerCpu(Buffer.alloc(KV))).toThrow(/not a per-CPU map/);
  });

  it('info() reports what the kernel holds', () => {
    const i = obj.map('kv').info();
    expect(i).toMatchObject({ name: 'kv', type: BPF_MAP_TYPE.HASH, keySize: KV, valueSize: KV });
    expect(i.id).toBeGreaterThan(0);
  });
});
