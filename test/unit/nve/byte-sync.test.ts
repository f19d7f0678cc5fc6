import { describe, expect, it } from 'vitest';
import { memoryTables as dataplaneTwins } from '../../../src/dataplane/tables.ts';
import { agentTablesOver, type Clocks } from '../../../src/nve/dataplane-adapter.ts';
import type { DirEntry } from '../../../src/nve/nva-port.ts';
import { NveState } from '../../../src/nve/nve-state.ts';
import { Reconciler, type ReconcileReport } from '../../../src/nve/reconciler.ts';
import { memoryTables, type AgentTables } from '../../../src/nve/tables.ts';
import { fakeDataplaneTables, type FakeBpfMap } from './fake-bpf-map.ts';
import { NVE1, NVE2, NVE3, dirEntry } from './fake-nva.ts';

const clocks: Clocks = { wallMs: () => 1_700_000_000_000, monoNs: () => 5_000_000_000n };

/** One agent: its state, reconciler and tables. */
interface World {
  state: NveState;
  rec: Reconciler;
  tables: AgentTables;
}

function objectWorld(): World {
  const tables = memoryTables();
  const state = new NveState(NVE1.id, NVE1.addr);
  return { state, tables, rec: new Reconciler(tables, state) };
}

function byteWorld(): World & { maps: Map<string, FakeBpfMap> } {
  const { tables: dp, maps } = fakeDataplaneTables();
  const tables = agentTablesOver(dp, clocks);
  const state = new NveState(NVE1.id, NVE1.addr);
  return { state, tables, rec: new Reconciler(tables, state), maps };
}

/** A table's content in agent terms, by key id, sorted. */
function content(w: World): Record<string, Record<string, unknown>> {
  const dump = <K, V>(t: { entries(): IterableIterator<[K, V]> }) =>
    Object.fromEntries(
      [...t.entries()]
        .map(([k, v]) => [JSON.stringify(k), v] as const)
        .sort(([a], [b]) => (a < b ? -1 : 1)),
    );
  return { fdb: dump(w.tables.fdb), neigh: dump(w.tables.neigh) };
}

const counts = (r: ReconcileReport) => ({ fdb: r.fdb, neigh: r.neigh });

/** A small deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('the byte path (tables over BPF maps) does what the object path does', () => {
  // Random histories of snapshots, changes, local VMs, moves, hints and drift behind the agent's
  // back, applied to an agent on in-memory tables and one on (fake) BPF maps: after every pass
  // both hold the same entries and report the same counts.
  it.each([1, 2, 3, 4, 5, 6])('seed %i', (seed) => {
    const rnd = prng(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const macs = Array.from({ length: 40 }, (_, i) =>
      `52:54:00:00:0${(i >> 4).toString(16)}:${(i & 15).toString(16)}A`.toLowerCase(),
    );
    const ips = [
      '10.0.0.1',
      '10.0.0.2',
      '10.0.0.3',
      '10.0.1.7',
      'fd00::1',
      'fd00::2',
      '2001:db8::a',
    ];
    const vnis = [100, 200];
    const nves = [NVE2, NVE3, NVE1];
    const entry = (seq: number): DirEntry =>
      dirEntry(pick(macs), pick(nves), {
        vni: pick(vnis),
        seq,
        ips:
          rnd() < 0.7
            ? [pick(ips)]
            : rnd() < 0.5
              ? [pick(ips), pick(ips)].filter((x, i, a) => a.indexOf(x) === i)
              : [],
      });
    const a = objectWorld();
    const b = byteWorld();
    const both = (f: (w: World) => void) => {
      f(a);
      f(b);
    };
    let seq = 1;
    for (let step = 0; step < 60; step++) {
      const op = rnd();
      let ra: ReconcileReport;
      let rb: ReconcileReport;
      if (op < 0.15) {
        const entries = Array.from({ length: 30 }, () => entry(seq++));
        both((w) =>
          w.state.loadSnapshot(
            step,
            [],
            entries,
            [{ vni: 100, ...NVE2 }].map((m) => ({ vni: m.vni, nveId: m.id, nveAddr: m.addr })),
          ),
        );
        ra = a.rec.resync();
        rb = b.rec.resync();
      } else if (op < 0.25) {
        // Drift behind the agent: one entry changed, one deleted, in both tables alike.
        const installed = [...a.tables.fdb.entries()];
        if (installed.length > 1) {
          const [k1] = pick(installed);
          const [k2] = pick(installed);
          both((w) => {
            w.tables.fdb.setMany([[k1, { kind: 'remote', vtep: '203.0.113.9' }]]);
            w.tables.fdb.deleteMany([k2]);
          });
        }
        ra = a.rec.resync();
        rb = b.rec.resync();
      } else {
        const e = entry(seq++);
        const k = { vni: e.vni, mac: e.mac };
        const id = `${e.vni}/${e.mac}`;
        const r = rnd();
        both((w) => {
          if (r < 0.35) w.state.upsertEntry(e);
          else if (r < 0.5) w.state.deleteEntry(k);
          else if (r < 0.65)
            w.state.setLocal({
              ...k,
              ips: e.ips.map((x) => x.ip),
              ifindex: 7 + (seq % 3),
              tsi: 'tap0',
              seq: e.seq,
              active: true,
              confirmed: r < 0.6,
            });
          else if (r < 0.75) w.state.deleteLocal(id);
          else if (r < 0.85)
            w.state.setMoved(k, {
              vtep: NVE3.addr,
              toNve: NVE3.id,
              untilMs: clocks.wallMs() + 30_000 + (seq % 2) * 5_000,
            });
          else if (r < 0.92) w.state.deleteMoved(id);
          else
            w.state.setHint({
              ...k,
              fromNve: NVE1.id,
              toNve: NVE2.id,
              toAddr: NVE2.addr,
              expiresAtMs: 1e15,
            });
        });
        ra = a.rec.apply();
        rb = b.rec.apply();
      }
      expect(counts(rb), `step ${step}`).toEqual(counts(ra));
      expect(content(b), `step ${step}`).toEqual(content(a));
      expect(b.rec.fdb.installedCount).toBe(a.rec.fdb.installedCount);
      expect([...b.rec.fdb.installed()].length).toBe(a.rec.fdb.installedCount);
    }
  });

  it('many deletes in one pass (more than a batch buffer starts with) all reach the map', () => {
    const b = byteWorld();
    const entries = Array.from({ length: 500 }, (_, i) =>
      dirEntry(
        `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
        NVE2,
        { ips: [`10.0.${i >> 8}.${i & 255}`] },
      ),
    );
    b.state.loadSnapshot(1, [], entries, []);
    expect(b.rec.resync().fdb.set).toBe(500);
    // A snapshot without the first 300: swept.
    b.state.loadSnapshot(2, [], entries.slice(300), []);
    const r = b.rec.resync();
    expect(r.fdb).toEqual({ set: 0, deleted: 300, unchanged: 200 });
    expect(b.maps.get('fdb')!.rows.size).toBe(200);
    expect(b.maps.get('neigh')!.rows.size).toBe(200);
    // Changes that delete 150 more, one apply pass.
    for (const e of entries.slice(300, 450)) b.state.deleteEntry(e);
    expect(b.rec.apply().fdb.deleted).toBe(150);
    expect(b.maps.get('fdb')!.rows.size).toBe(50);
  });

  it('a resync with nothing changed writes nothing (steady state after a restart)', () => {
    const b = byteWorld();
    const entries = Array.from({ length: 100 }, (_, i) =>
      dirEntry(`02:00:00:00:00:${i.toString(16).padStart(2, '0')}`, i % 2 ? NVE2 : NVE3, {
        ips: [`10.0.0.${i}`],
      }),
    );
    b.state.loadSnapshot(1, [], entries, []);
    b.rec.resync();
    const fdb = b.maps.get('fdb')!;
    const writes = fdb.updateBatchCalls + fdb.deleteBatchCalls;
    // A new agent over the same maps (adopts, then resyncs the same snapshot).
    const rec2 = new Reconciler(b.tables, b.state);
    rec2.adopt();
    const r = rec2.resync();
    expect(r.fdb).toEqual({ set: 0, deleted: 0, unchanged: 100 });
    expect(r.neigh).toEqual({ set: 0, deleted: 0, unchanged: 100 });
    expect(fdb.updateBatchCalls + fdb.deleteBatchCalls).toBe(writes);
  });

  it('the in-memory twins of the dataplane tables keep the object path', () => {
    const tables = agentTablesOver(dataplaneTwins(), clocks);
    expect(tables.fdb.raw).toBeUndefined();
    expect(byteWorld().tables.fdb.raw).toBeDefined();
  });
});
