// TypedMap over a real hash: Table-shaped get/setMany/deleteMany/entries/size with codecs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BpfError, BpfObject, TypedMap, codec } from '../../../src/bpf/index.ts';
import type { Table } from '../../../src/dataplane/table.ts';
import { TEST_OBJ } from './fixtures.ts';

const key = codec.struct({ vni: codec.u32, mac: codec.mac, _pad: codec.pad(6) });
const value = codec.struct({
  vtep: codec.ipv4,
  port: codec.u16be,
  _pad: codec.pad(2),
  seq: codec.u64,
});
type K = { vni: number; mac: string };
type V = { vtep: string; port: number; seq: bigint };

describe('TypedMap', () => {
  let obj: BpfObject;
  beforeAll(() => {
    obj = BpfObject.open(TEST_OBJ);
    obj.load();
  });
  afterAll(() => obj.close());

  it('is a Table<K,V> over a BPF hash', () => {
    const t: Table<K, V> = new TypedMap<K, V>(obj.map('kv'), key, value);
    const entries: [K, V][] = [];
    for (let i = 0; i < 300; i++) {
      entries.push([
        {
          vni: 100 + (i % 3),
          mac: `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
        },
        { vtep: `192.0.2.${i % 250}`, port: 4789, seq: BigInt(i) },
      ]);
    }
    t.setMany(entries);
    expect(t.size()).toBe(300);
    expect(t.get({ vni: 101, mac: '02:00:00:00:00:01' })).toEqual({
      vtep: '192.0.2.1',
      port: 4789,
      seq: 1n,
    });
    expect(t.get({ vni: 100, mac: '02:00:00:00:00:01' })).toBeUndefined();
    const all = new Map([...t.entries()].map(([k, v]) => [`${k.vni}/${k.mac}`, v.seq]));
    expect(all.size).toBe(300);
    expect(all.get('102/02:00:00:00:01:2b')).toBe(299n);
    // absent keys are ignored
    t.deleteMany([...entries.slice(0, 100).map(([k]) => k), { vni: 9, mac: '02:00:00:00:00:09' }]);
    expect(t.size()).toBe(200);
    t.deleteMany(entries.map(([k]) => k));
    expect(t.size()).toBe(0);
  });

  it('refuses codecs whose sizes do not match the map', () => {
    expect(() => new TypedMap(obj.map('kv'), codec.u32, codec.u32)).toThrow(/codec sizes/);
    expect(() => new TypedMap(obj.map('kv'), key, value)).not.toThrow(BpfError);
  });
});
