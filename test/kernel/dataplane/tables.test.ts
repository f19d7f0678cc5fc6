// The typed tables over the real maps: batched writes and reads of every table, the config
// entry, and the stats reader, against the same maps the programs use.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { possibleCpus } from '../../../src/bpf/map.ts';
import {
  SLOT_PROBES,
  STATS_PROBES,
  STATS_SLOTS,
  statsSlot,
  statsSlotIndex,
  TSI_SLOTS,
  verdictSlot,
  type FdbEntry,
  type FdbKey,
  type TsiInfo,
} from '../../../src/dataplane/codecs.ts';
import type { SlotTable } from '../../../src/dataplane/slot-table.ts';
import { memoryTables, StatsReader } from '../../../src/dataplane/tables.ts';
import { vmUdp } from './frames.ts';
import { LO, openDataplane, testConfig, type TestDataplane } from './harness.ts';

let dp: TestDataplane;
beforeAll(() => {
  dp = openDataplane('tables');
});
afterAll(() => dp?.close());
beforeEach(() => dp.reset());

const mac = (i: number) =>
  `02:00:${[i >> 24, i >> 16, i >> 8, i].map((b) => (b & 255).toString(16).padStart(2, '0')).join(':')}`;

describe('typed tables over the BPF maps', () => {
  it('fdb: 4,000 entries of every kind written in one batch, read back, deleted in one batch', () => {
    const kinds = (i: number): FdbEntry => {
      switch (i % 4) {
        case 0:
          return { kind: 'local', ifindex: i };
        case 1:
          return { kind: 'remote', nve: `10.0.${(i >> 8) & 255}.${i & 255}` };
        case 2:
          return { kind: 'moved', nve: 'fd00::9', untilNs: BigInt(i) * 1000n };
        default:
          return { kind: 'dual', ifindex: i, nve: '10.9.9.9' };
      }
    };
    const rows: [FdbKey, FdbEntry][] = Array.from({ length: 4000 }, (_, i) => [
      { vni: 1 + (i % 3), mac: mac(i) },
      kinds(i),
    ]);
    dp.tables.fdb.setMany(rows);
    expect(dp.tables.fdb.size()).toBe(4000);
    const back = new Map([...dp.tables.fdb.entries()].map(([k, v]) => [`${k.vni}/${k.mac}`, v]));
    for (const [k, v] of rows) expect(back.get(`${k.vni}/${k.mac}`)).toEqual(v);
    expect(dp.tables.fdb.get({ vni: 2, mac: mac(1) })).toEqual(kinds(1));
    dp.tables.fdb.deleteMany(rows.slice(0, 3000).map(([k]) => k));
    expect(dp.tables.fdb.size()).toBe(1000);
  });

  it('every other table round-trips as its in-memory twin does', () => {
    const mem = memoryTables();
    for (const t of [dp.tables, mem]) {
      t.neigh.setMany([
        [{ vni: 1, ip: '10.1.1.1' }, '02:00:00:00:00:01'],
        [{ vni: 1, ip: 'fd00::1' }, '02:00:00:00:00:02'],
      ]);
      t.tsis.setMany([[7, { vni: 1, strictSource: true }]]);
      t.vnis.setMany([[1, { floodUnknown: true }]]);
      t.peers.setMany([[{ vni: 1, nve: 'fd00::2' }, true]]);
      t.nexthops.setMany([['fd00::2', '02:00:00:00:00:99']]);
      t.flood.setMany([[1, { local: [7, 8], remote: ['10.0.0.2', 'fd00::2'] }]]);
      t.config.set(testConfig({ mtu: 9000 }));
    }
    for (const name of ['neigh', 'tsis', 'vnis', 'peers', 'nexthops', 'flood'] as const) {
      const real = [...dp.tables[name].entries()].map((e) => JSON.stringify(e)).sort();
      const twin = [...mem[name].entries()].map((e) => JSON.stringify(e)).sort();
      expect(real, name).toEqual(twin);
    }
    expect(dp.tables.config.get()).toEqual(mem.config.get());
    expect(dp.tables.config.get()?.mtu).toBe(9000);
  });
});

describe('slot tables (bpf/lib/slots.h)', () => {
  const drops = () => dp.count(42, 'drop-unknown-unicast');
  const frame = () => vmUdp('02:00:00:00:00:99', '02:00:00:00:00:01', ['1.1.1.1', '2.2.2.2']);

  it('tsis: a TSI whose slots are taken goes to the spill map, and the program still finds it', () => {
    dp.tables.config.set(testConfig());
    // SLOT_PROBES TSIs with LO's home slot take its whole window
    const colliders = Array.from({ length: SLOT_PROBES }, (_, i) => LO + (i + 1) * TSI_SLOTS);
    dp.tables.tsis.setMany(colliders.map((i) => [i, { vni: 7, strictSource: false }]));
    dp.tables.tsis.setMany([[LO, { vni: 42, strictSource: false }]]);
    const tsis = dp.tables.tsis as SlotTable<number, TsiInfo>;
    expect(tsis.spilled()).toBe(1);
    expect(dp.map('tsis').keys().next().value?.readUInt32LE(0)).toBe(LO);
    expect(tsis.get(LO)).toEqual({ vni: 42, strictSource: false });
    expect(tsis.size()).toBe(SLOT_PROBES + 1);
    dp.run(dp.tsi, frame());
    expect(drops()).toBe(1n);

    // a slot frees: the next write of LO moves it out of the spill, and it keeps working
    dp.tables.tsis.deleteMany([colliders[0] ?? 0]);
    dp.tables.tsis.setMany([[LO, { vni: 43, strictSource: false }]]);
    expect(tsis.spilled()).toBe(0);
    expect(tsis.get(LO)).toEqual({ vni: 43, strictSource: false });
    dp.run(dp.tsi, frame());
    expect(dp.count(43, 'drop-unknown-unicast')).toBe(1n);

    // deleted from the slots: not a TSI any more
    dp.tables.tsis.deleteMany([LO]);
    dp.run(dp.tsi, frame());
    expect(drops() + dp.count(43, 'drop-unknown-unicast')).toBe(2n);
    expect(dp.count(0, 'drop-not-tsi')).toBe(1n);
  });

  it('tsis: ifindex 0 is refused (it marks a free slot)', () => {
    expect(() => dp.tables.tsis.setMany([[0, { vni: 1, strictSource: false }]])).toThrow(
      /not an interface index/,
    );
  });
});

describe('StatsReader', () => {
  it('sums the per-CPU counters the programs write, by VNI and verdict name', () => {
    dp.tables.config.set(testConfig());
    dp.tables.tsis.setMany([[LO, { vni: 42, strictSource: false }]]);
    const f = vmUdp('02:00:00:00:00:99', '02:00:00:00:00:01', ['1.1.1.1', '2.2.2.2']);
    for (let i = 0; i < 5; i++) dp.run(dp.tsi, f);
    const rows = dp.stats.read();
    expect(rows).toEqual([
      {
        vni: 42,
        slot: expect.any(Number) as number,
        verdict: 'drop-unknown-unicast',
        packets: 5n,
        bytes: BigInt(5 * f.length),
      },
    ]);
    dp.stats.clear();
    expect(dp.stats.read()).toEqual([]);
  });

  it('a pair whose slots are all taken is counted in stats_spill, and still read', () => {
    dp.tables.config.set(testConfig());
    dp.tables.tsis.setMany([[LO, { vni: 42, strictSource: false }]]);
    const slot = verdictSlot('drop-unknown-unicast');
    const stats = dp.map('stats');
    const taken = Buffer.alloc(stats.valueBytes);
    const stride = stats.valueBytes / possibleCpus();
    for (let cpu = 0; cpu < possibleCpus(); cpu++) {
      statsSlot.encode({ vni: 999, verdict: 0, packets: 1n, bytes: 1n }, taken, cpu * stride);
    }
    const first = statsSlotIndex(42, slot);
    const key = Buffer.alloc(4);
    for (let i = 0; i < STATS_PROBES; i++) {
      key.writeUInt32LE((first + i) & (STATS_SLOTS - 1), 0);
      stats.update(key, taken);
    }
    const f = vmUdp('02:00:00:00:00:99', '02:00:00:00:00:01', ['1.1.1.1', '2.2.2.2']);
    for (let i = 0; i < 3; i++) dp.run(dp.tsi, f);
    expect(dp.stats.packets(42, slot)).toBe(3n);
    expect(dp.stats.read()).toContainEqual({
      vni: 42,
      slot,
      verdict: 'drop-unknown-unicast',
      packets: 3n,
      bytes: BigInt(3 * f.length),
    });
    expect(dp.stats.totalPackets()).toBe(3n + BigInt(STATS_PROBES * possibleCpus()));
  });

  it('refuses a map that is not the stats slot array', () => {
    expect(() => new StatsReader(dp.map('stats_spill'))).toThrow(/not roam's stats array/);
  });
});
