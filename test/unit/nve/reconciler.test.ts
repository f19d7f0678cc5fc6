import { describe, expect, it } from 'vitest';
import { NveState } from '../../../src/nve/nve-state.ts';
import { Reconciler } from '../../../src/nve/reconciler.ts';
import { memoryTables, type FdbEntry } from '../../../src/nve/tables.ts';
import type { DirEntry } from '../../../src/nve/nva-port.ts';

const ME = { id: 'nve1', addr: '192.0.2.1' };
const NVE2 = { id: 'nve2', addr: '192.0.2.2' };
const NVE3 = { id: 'nve3', addr: '192.0.2.3' };

function entry(
  mac: string,
  at: { id: string; addr: string },
  ips: string[] = [],
  seq = 1,
  vni = 100,
): DirEntry {
  return {
    vni,
    mac,
    ips: ips.map((ip) => ({ ip, seq })),
    nveId: at.id,
    nveAddr: at.addr,
    seq,
    state: 'active',
  };
}

function setup() {
  const state = new NveState(ME.id, ME.addr);
  const tables = memoryTables();
  const rec = new Reconciler(tables, state);
  const fdb = () =>
    Object.fromEntries([...tables.fdb.entries()].map(([k, v]) => [`${k.vni}/${k.mac}`, v]));
  const neigh = () =>
    Object.fromEntries([...tables.neigh.entries()].map(([k, v]) => [`${k.vni}/${k.ip}`, v.mac]));
  return { state, tables, rec, fdb, neigh };
}

describe('Reconciler.apply (incremental)', () => {
  it('installs remote entries from a snapshot, flood lists without this NVE, in one batch per table', () => {
    const { state, tables, rec, fdb, neigh } = setup();
    state.loadSnapshot(
      7,
      [],
      [
        entry('02:00:00:00:00:02', NVE2, ['10.0.0.2']),
        entry('02:00:00:00:00:03', NVE3, ['10.0.0.3', 'fd00::3']),
      ],
      [
        { vni: 100, ...{ nveId: ME.id, nveAddr: ME.addr } },
        { vni: 100, nveId: NVE3.id, nveAddr: NVE3.addr },
        { vni: 100, nveId: NVE2.id, nveAddr: NVE2.addr },
      ],
    );
    const r = rec.apply();
    expect(fdb()).toEqual({
      '100/02:00:00:00:00:02': { kind: 'remote', vtep: NVE2.addr, rarp: '10.0.0.2' },
      '100/02:00:00:00:00:03': { kind: 'remote', vtep: NVE3.addr, rarp: '10.0.0.3' },
    });
    expect(neigh()).toEqual({
      '100/10.0.0.2': '02:00:00:00:00:02',
      '100/10.0.0.3': '02:00:00:00:00:03',
      '100/fd00::3': '02:00:00:00:00:03',
    });
    expect([...tables.flood.entries()]).toEqual([
      [100, { local: [], remote: [NVE2.addr, NVE3.addr] }],
    ]);
    expect([...tables.peers.entries()].map(([k]) => k)).toEqual([
      { vni: 100, vtep: NVE2.addr },
      { vni: 100, vtep: NVE3.addr },
    ]);
    expect(Object.fromEntries([...tables.fdb.entries()].map(([k, v]) => [k.mac, v.rarp]))).toEqual({
      '02:00:00:00:00:02': '10.0.0.2',
      '02:00:00:00:00:03': '10.0.0.3',
    });
    expect(r.fdb).toEqual({ set: 2, deleted: 0, unchanged: 0 });
    expect(tables.fdb.writeCalls).toBe(1);
    expect(tables.neigh.writeCalls).toBe(1);
    expect(r.vnis).toEqual([100]);
  });

  // Each case: the directory before and after one change -> FDB/neighbour content and writes.
  it.each<{
    name: string;
    before: DirEntry[];
    change: (s: NveState) => void;
    fdb: Record<string, FdbEntry>;
    neigh: Record<string, string>;
    writes: { set: number; deleted: number };
  }>([
    {
      name: 'a VM moves from NVE2 to NVE3: one update, no delete',
      before: [entry('02:00:00:00:00:0a', NVE2, ['10.0.0.10'])],
      change: (s) => s.upsertEntry(entry('02:00:00:00:00:0a', NVE3, ['10.0.0.10'], 2)),
      fdb: { '100/02:00:00:00:00:0a': { kind: 'remote', vtep: NVE3.addr, rarp: '10.0.0.10' } },
      neigh: { '100/10.0.0.10': '02:00:00:00:00:0a' },
      writes: { set: 1, deleted: 0 },
    },
    {
      name: 'a withdrawn VM disappears with its IPs',
      before: [entry('02:00:00:00:00:0a', NVE2, ['10.0.0.10'])],
      change: (s) =>
        s.upsertEntry({ ...entry('02:00:00:00:00:0a', NVE2, ['10.0.0.10']), state: 'withdrawn' }),
      fdb: {},
      neigh: {},
      writes: { set: 0, deleted: 1 },
    },
    {
      name: 'an entry deleted from the directory is deleted',
      before: [entry('02:00:00:00:00:0a', NVE2), entry('02:00:00:00:00:0b', NVE2)],
      change: (s) => s.deleteEntry({ vni: 100, mac: '02:00:00:00:00:0a' }),
      fdb: { '100/02:00:00:00:00:0b': { kind: 'remote', vtep: NVE2.addr } },
      neigh: {},
      writes: { set: 0, deleted: 1 },
    },
    {
      name: 'an IP that moves to a new MAC (higher IP seq) is answered with the new MAC',
      before: [
        entry('02:00:00:00:00:0a', NVE2, ['10.0.0.10']),
        entry('02:00:00:00:00:0b', NVE3, [], 1),
      ],
      change: (s) => s.upsertEntry(entry('02:00:00:00:00:0b', NVE3, ['10.0.0.10'], 5)),
      // (both still claim the IP: a RARP for either is answered with it, the new one written)
      fdb: {
        '100/02:00:00:00:00:0a': { kind: 'remote', vtep: NVE2.addr, rarp: '10.0.0.10' },
        '100/02:00:00:00:00:0b': { kind: 'remote', vtep: NVE3.addr, rarp: '10.0.0.10' },
      },
      neigh: { '100/10.0.0.10': '02:00:00:00:00:0b' },
      writes: { set: 1, deleted: 0 },
    },
    {
      name: 'a directory entry at this NVE installs nothing by itself (only a present TSI does)',
      before: [],
      change: (s) => s.upsertEntry(entry('02:00:00:00:00:0c', ME, ['10.0.0.12'])),
      fdb: {},
      neigh: {},
      writes: { set: 0, deleted: 0 },
    },
    {
      name: 'a local VM wins over the directory and owns its IPs',
      before: [entry('02:00:00:00:00:0a', NVE2, ['10.0.0.10'])],
      change: (s) =>
        s.setLocal({
          vni: 100,
          mac: '02:00:00:00:00:0a',
          ips: ['10.0.0.10'],
          ifindex: 7,
          tsi: 'tap0',
          seq: 2,
          active: true,
          confirmed: true,
        }),
      fdb: { '100/02:00:00:00:00:0a': { kind: 'local', ifindex: 7, rarp: '10.0.0.10' } },
      neigh: { '100/10.0.0.10': '02:00:00:00:00:0a' },
      writes: { set: 1, deleted: 0 },
    },
    {
      name: 'a hint "X migrates from here to NVE3" makes the entry dual',
      before: [entry('02:00:00:00:00:0a', ME, ['10.0.0.10'])],
      change: (s) => {
        s.setLocal({
          vni: 100,
          mac: '02:00:00:00:00:0a',
          ips: ['10.0.0.10'],
          ifindex: 7,
          tsi: 'tap0',
          seq: 1,
          active: true,
          confirmed: true,
        });
        s.setHint({
          vni: 100,
          mac: '02:00:00:00:00:0a',
          fromNve: ME.id,
          toNve: NVE3.id,
          toAddr: NVE3.addr,
          expiresAtMs: 1e15,
        });
      },
      fdb: {
        '100/02:00:00:00:00:0a': { kind: 'dual', ifindex: 7, vtep: NVE3.addr, rarp: '10.0.0.10' },
      },
      neigh: { '100/10.0.0.10': '02:00:00:00:00:0a' },
      writes: { set: 1, deleted: 0 },
    },
  ])('$name', ({ before, change, fdb: wantFdb, neigh: wantNeigh, writes }) => {
    const { state, rec, fdb, neigh } = setup();
    state.loadSnapshot(1, [], before, []);
    rec.apply();
    change(state);
    const r = rec.apply();
    expect(fdb()).toEqual(wantFdb);
    expect(neigh()).toEqual(wantNeigh);
    expect({ set: r.fdb.set, deleted: r.fdb.deleted }).toEqual(writes);
  });

  it('writes nothing when nothing is dirty', () => {
    const { state, tables, rec } = setup();
    state.loadSnapshot(1, [], [entry('02:00:00:00:00:0a', NVE2)], []);
    rec.apply();
    const calls = tables.fdb.writeCalls;
    const r = rec.apply();
    expect(tables.fdb.writeCalls).toBe(calls);
    expect(r.fdb).toEqual({ set: 0, deleted: 0, unchanged: 0 });
  });
});

describe('Reconciler.resync (mark and sweep)', () => {
  it('after a reconnect: updates and deletes only what differs, never a flush', () => {
    const { state, tables, rec, fdb } = setup();
    // Installed before the reconnect: a, b, c (and a stray neighbour).
    tables.fdb.setMany([
      [
        { vni: 100, mac: '02:00:00:00:00:0a' },
        { kind: 'remote', vtep: NVE2.addr },
      ],
      [
        { vni: 100, mac: '02:00:00:00:00:0b' },
        { kind: 'remote', vtep: NVE2.addr },
      ],
      [
        { vni: 100, mac: '02:00:00:00:00:0c' },
        { kind: 'remote', vtep: NVE2.addr },
      ],
    ]);
    tables.neigh.setMany([[{ vni: 100, ip: '10.9.9.9' }, { mac: '02:00:00:00:00:0c' }]]);
    const deletedKeys: string[] = [];
    const origDelete = tables.fdb.deleteMany.bind(tables.fdb);
    tables.fdb.deleteMany = (keys) => {
      deletedKeys.push(...keys.map((k) => k.mac));
      origDelete(keys);
    };
    // The fresh snapshot: a unchanged, b moved to NVE3, c gone, d new.
    state.loadSnapshot(
      50,
      [],
      [
        entry('02:00:00:00:00:0a', NVE2),
        entry('02:00:00:00:00:0b', NVE3, [], 2),
        entry('02:00:00:00:00:0d', NVE3, ['10.0.0.13']),
      ],
      [],
    );
    const r = rec.resync();
    expect(r.mode).toBe('resync');
    expect(r.fdb).toEqual({ set: 2, deleted: 1, unchanged: 1 });
    expect(r.neigh).toEqual({ set: 1, deleted: 1, unchanged: 0 });
    expect(deletedKeys).toEqual(['02:00:00:00:00:0c']);
    expect(fdb()).toEqual({
      '100/02:00:00:00:00:0a': { kind: 'remote', vtep: NVE2.addr },
      '100/02:00:00:00:00:0b': { kind: 'remote', vtep: NVE3.addr },
      '100/02:00:00:00:00:0d': { kind: 'remote', vtep: NVE3.addr, rarp: '10.0.0.13' },
    });
    expect(r.ms).toBeGreaterThanOrEqual(0);
  });

  it('repairs drift made behind the agent (an entry changed and one deleted in the map)', () => {
    const { state, tables, rec, fdb } = setup();
    state.loadSnapshot(
      1,
      [],
      [entry('02:00:00:00:00:0a', NVE2), entry('02:00:00:00:00:0b', NVE3)],
      [],
    );
    rec.apply();
    tables.fdb.setMany([
      [
        { vni: 100, mac: '02:00:00:00:00:0a' },
        { kind: 'remote', vtep: '203.0.113.9' },
      ],
    ]);
    tables.fdb.deleteMany([{ vni: 100, mac: '02:00:00:00:00:0b' }]);
    const r = rec.resync();
    expect(r.fdb).toEqual({ set: 2, deleted: 0, unchanged: 0 });
    expect(fdb()).toEqual({
      '100/02:00:00:00:00:0a': { kind: 'remote', vtep: NVE2.addr },
      '100/02:00:00:00:00:0b': { kind: 'remote', vtep: NVE3.addr },
    });
  });

  it('resyncs 100,000 entries with one write per table', () => {
    const { state, tables, rec } = setup();
    const entries: DirEntry[] = [];
    for (let i = 0; i < 100_000; i++) {
      const mac = `02:00:00:${((i >> 16) & 0xff).toString(16).padStart(2, '0')}:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
      entries.push(entry(mac, i % 2 ? NVE2 : NVE3));
    }
    state.loadSnapshot(1, [], entries, []);
    const r = rec.resync();
    expect(tables.fdb.size()).toBe(100_000);
    expect(tables.fdb.writeCalls).toBe(1);
    expect(r.fdb.set).toBe(100_000);
    const again = rec.resync();
    expect(again.fdb).toEqual({ set: 0, deleted: 0, unchanged: 100_000 });
  });
});

describe('Reconciler.resync against the shadow (a snapshot after a reconnect)', () => {
  it('compares with what this agent installed; the default (a digest mismatch) reads the tables back', () => {
    const { state, tables, rec, fdb } = setup();
    const a = entry('02:00:00:00:00:0a', NVE2);
    state.loadSnapshot(1, [], [a, entry('02:00:00:00:00:0b', NVE2)], []);
    rec.resync();
    tables.fdb.deleteMany([{ vni: a.vni, mac: a.mac }]); // behind the agent's back
    expect(rec.resync({ readBack: false }).fdb).toEqual({ set: 0, deleted: 0, unchanged: 2 });
    expect(rec.resync().fdb).toEqual({ set: 1, deleted: 0, unchanged: 1 });
    expect(Object.keys(fdb())).toHaveLength(2);
  });
});

describe('NveState.loadSnapshot', () => {
  it('a snapshot of one VNI (after a digest mismatch) leaves the other VNIs alone', () => {
    const { state, rec, fdb } = setup();
    state.loadSnapshot(
      1,
      [],
      [entry('02:00:00:00:00:0a', NVE2, [], 1, 100), entry('02:00:00:00:00:0b', NVE2, [], 1, 200)],
      [],
    );
    rec.apply();
    state.loadSnapshot(2, [200], [entry('02:00:00:00:00:0c', NVE3, [], 1, 200)], []);
    rec.resync();
    expect(fdb()).toEqual({
      '100/02:00:00:00:00:0a': { kind: 'remote', vtep: NVE2.addr },
      '200/02:00:00:00:00:0c': { kind: 'remote', vtep: NVE3.addr },
    });
  });
});

describe('flood lists and peers', () => {
  it('follow TSIs coming and going and NVEs joining and leaving the VN', () => {
    const { state, tables, rec } = setup();
    state.setTsi(100, 7, true);
    state.setTsi(100, 5, true);
    state.upsertMember({ vni: 100, nveId: NVE2.id, nveAddr: NVE2.addr });
    state.upsertMember({ vni: 100, nveId: ME.id, nveAddr: ME.addr });
    rec.apply();
    expect(tables.flood.get(100)).toEqual({ local: [5, 7], remote: [NVE2.addr] });
    state.setTsi(100, 7, false);
    state.upsertMember({ vni: 100, nveId: NVE3.id, nveAddr: NVE3.addr });
    state.removeMember(100, NVE2.id);
    const r = rec.apply();
    expect(tables.flood.get(100)).toEqual({ local: [5], remote: [NVE3.addr] });
    expect([...tables.peers.entries()].map(([k]) => k)).toEqual([{ vni: 100, vtep: NVE3.addr }]);
    expect(r.peers).toEqual({ set: 1, deleted: 1, unchanged: 0 });
    state.setTsi(100, 5, false);
    state.removeMember(100, NVE3.id);
    rec.apply();
    expect(tables.flood.size()).toBe(0);
    expect(tables.peers.size()).toBe(0);
  });
});
