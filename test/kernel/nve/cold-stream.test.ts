// A cold start's FDB rows written while the snapshot decodes (src/nve/cold-stream.ts), on real
// BPF maps through the agent's snapshot path (the NVA client's deserializer, ControlLoop): the
// maps end exactly as the same snapshot resynced without streaming leaves them, whether the
// resync took the streamed rows or found them not to be its rows (a key twice, an entry touched
// before the snapshot) and resynced against the map read back; route-only VNIs get no rows; a
// refused snapshot leaves the maps empty and the directory as it was.
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import type * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Dataplane } from '../../../src/dataplane/dataplane.ts';
import { logger } from '../../../src/log.ts';
import { ColdFdbStream } from '../../../src/nve/cold-stream.ts';
import { ControlLoop } from '../../../src/nve/control-loop.ts';
import { agentTablesOver } from '../../../src/nve/dataplane-adapter.ts';
import { HAND_OVER_ROWS } from '../../../src/nve/byte-sync.ts';
import type { DirEntry } from '../../../src/nve/nva-port.ts';
import { ScriptedNva } from '../../../src/nve/resync-bench.ts';
import { withChangeDecoder } from '../../../src/protocol/change-decoder.ts';
import { DeferredSnapshot, isPackedSnapshot } from '../../../src/protocol/packed-snapshot.ts';
import { loadServices } from '../../../src/protocol/proto.ts';
import { withSnapshotDecoder } from '../../../src/protocol/snapshot-decoder.ts';

const method = loadServices().Nva.service.Stream as grpc.MethodDefinition<object, unknown>;
/** The NVA client's deserializer (client.ts): snapshots come out with their entries encoded. */
const deserialize = withSnapshotDecoder(withChangeDecoder(method.responseDeserialize));

const ME = { id: 'nve1', addr: '10.99.0.1' };
const PEERS = [
  { id: 'nve2', addr: '10.99.0.2' },
  { id: 'nve3', addr: 'fd00::3' },
];
/** Enough entries for several batches to be handed over while the rest decode. */
const N = HAND_OVER_ROWS * 2 + 5_000;
const PER_VNI = 1000;

/** Entry i: at a peer (every 97th here, every 89th withdrawn), one IPv4, every 50th also IPv6. */
function entry(i: number): DirEntry {
  const v = Math.floor(i / PER_VNI);
  const k = i % PER_VNI;
  const at = i % 97 === 0 ? ME : PEERS[i % 2]!;
  const ip4 = `10.${v & 0xff}.${k >> 8}.${k & 0xff}`;
  return {
    vni: 1000 + v,
    mac: `02:00:${[i >>> 16, i >>> 8, i].map((x) => (x & 0xff).toString(16).padStart(2, '0')).join(':')}:01`,
    ips:
      i % 50 === 0
        ? [
            { ip: ip4, seq: 1 },
            { ip: `fd10::${i.toString(16)}`, seq: 1 },
          ]
        : [{ ip: ip4, seq: 1 }],
    nveId: at.id,
    nveAddr: at.addr,
    seq: 1,
    state: i % 89 === 0 ? 'withdrawn' : 'active',
  };
}

const PROTO_STATE = {
  active: 'ENTRY_STATE_ACTIVE',
  moving: 'ENTRY_STATE_MOVING',
  duplicate: 'ENTRY_STATE_DUPLICATE',
  withdrawn: 'ENTRY_STATE_WITHDRAWN',
};

/** A snapshot of `entries` as the NVA's serializer writes it (listing the VNIs it covers). */
function snapshotBytes(entries: DirEntry[], routedVns: object[] = []): Buffer {
  const vnis = [...new Set(entries.map((e) => e.vni))];
  const members = vnis.flatMap((vni) =>
    [ME, ...PEERS].map((n) => ({ vni, nveId: n.id, nveAddr: n.addr })),
  );
  return method.responseSerialize({
    snapshot: {
      revision: 1,
      vnis,
      entries: entries.map((e) => ({ ...e, state: PROTO_STATE[e.state], changedAtMs: 0, tsi: '' })),
      members,
      routedVns,
    },
  });
}

describe('cold resync streamed while the snapshot decodes', () => {
  const pinBase = `/sys/fs/bpf/roamt-coldstream-${process.pid}-${randomBytes(3).toString('hex')}`;
  let dp: Dataplane;
  const log = logger('cold-stream-test');
  log.level = 'silent';
  const loops: ControlLoop[] = [];

  beforeAll(() => {
    dp = Dataplane.load({
      instance: 'coldstream',
      pinBase,
      maxEntries: { fdb: N * 2, neigh: N * 3 },
    });
  });
  afterEach(() => {
    for (const l of loops.splice(0)) l.stop();
    vi.restoreAllMocks();
  });
  afterAll(() => {
    dp?.detach();
    rmSync(pinBase, { recursive: true, force: true });
  });

  /** Empty FDB and neighbour maps. */
  function clearMaps(): void {
    for (const name of ['fdb', 'neigh'] as const) {
      const m = dp.map(name);
      const d = m.lookupAll();
      if (d.count > 0) m.deleteBatch(d.keys, d.count);
    }
  }

  /** The FDB and neighbour maps' content, as sorted hex rows. */
  function dump(): { fdb: string[]; neigh: string[] } {
    const rows = (name: 'fdb' | 'neigh') => {
      const m = dp.map(name);
      const d = m.lookupAll();
      const out: string[] = [];
      for (let i = 0; i < d.count; i++)
        out.push(
          `${d.keys.toString('hex', i * m.keySize, (i + 1) * m.keySize)}=${d.values.toString('hex', i * m.valueBytes, (i + 1) * m.valueBytes)}`,
        );
      return out.sort();
    };
    return { fdb: rows('fdb'), neigh: rows('neigh') };
  }

  /** A new agent on empty maps, started, its batch writer loaded. */
  async function newAgent(servedVnis?: number[]): Promise<{ nva: ScriptedNva; loop: ControlLoop }> {
    clearMaps();
    const nva = new ScriptedNva();
    const loop = new ControlLoop({
      nveId: ME.id,
      underlayAddr: ME.addr,
      holdTimeMs: 30_000,
      tables: agentTablesOver(dp.tables),
      nva,
      log,
      servedVnis,
    });
    loops.push(loop);
    loop.start();
    await vi.waitFor(() => expect(loop.reconciler.batchWriterReady).toBe(true), {
      timeout: 10_000,
      interval: 20,
    });
    return { nva, loop };
  }

  /**
   * A new agent on empty maps (its batch writer loaded) gets `bytes`; `streamed: false` decodes
   * the entries first, as a snapshot that cannot stream. Returns the maps and what the resync
   * said of the streamed rows (undefined: no stream).
   */
  async function coldRun(
    bytes: Buffer,
    opts: { streamed: boolean; servedVnis?: number[]; before?: (l: ControlLoop) => void },
  ): Promise<{
    maps: ReturnType<typeof dump>;
    matched: boolean | undefined;
    nva: ScriptedNva;
  }> {
    const { nva, loop } = await newAgent(opts.servedVnis);
    opts.before?.(loop);
    const matches = vi.spyOn(ColdFdbStream.prototype, 'matches');
    const raw = deserialize(bytes) as { snapshot: object };
    expect(raw.snapshot).toBeInstanceOf(DeferredSnapshot);
    if (!isPackedSnapshot(raw.snapshot)) throw new Error('not a packed snapshot');
    if (!opts.streamed) expect(raw.snapshot.packed.count).toBeGreaterThan(0);
    nva.h!.snapshot(raw.snapshot);
    const matched = matches.mock.results[0]?.value as boolean | undefined;
    matches.mockRestore();
    return { maps: dump(), matched, nva };
  }

  const all = Array.from({ length: N }, (_, i) => entry(i));

  it('writes what a resync without streaming writes, taking the streamed rows', async () => {
    const bytes = snapshotBytes(all);
    const want = await coldRun(bytes, { streamed: false });
    expect(want.matched).toBeUndefined();
    const got = await coldRun(bytes, { streamed: true });
    expect(got.matched).toBe(true);
    expect(got.maps.fdb.length).toBeGreaterThan(N * 0.9);
    expect(got.maps).toEqual(want.maps);
    // the agent goes on from there: the next snapshot finds nothing to change
    const again = deserialize(bytes) as { snapshot: object };
    const before = dump();
    got.nva.h!.snapshot(again.snapshot as never);
    expect(dump()).toEqual(before);
  });

  it('a key sent twice: the later entry wins, after a resync against the map read back', async () => {
    const twice = [...all, { ...all[1234]!, nveId: PEERS[1]!.id, nveAddr: PEERS[1]!.addr, seq: 2 }];
    const bytes = snapshotBytes(twice);
    const want = await coldRun(bytes, { streamed: false });
    const got = await coldRun(bytes, { streamed: true });
    expect(got.matched).toBe(false);
    expect(got.maps).toEqual(want.maps);
  });

  it('an entry touched before the snapshot (a hint): its row comes from the overlay', async () => {
    const e = all[2001]!;
    const hint = (l: ControlLoop) =>
      l.state.setHint({
        vni: e.vni,
        mac: e.mac,
        fromNve: PEERS[0]!.id,
        toNve: ME.id,
        toAddr: ME.addr,
        expiresAtMs: Date.now() + 60_000,
      });
    const bytes = snapshotBytes(all);
    const want = await coldRun(bytes, { streamed: false, before: hint });
    const got = await coldRun(bytes, { streamed: true, before: hint });
    expect(got.matched).toBe(false);
    expect(got.maps).toEqual(want.maps);
  });

  it('route-only VNIs get no rows, streamed or not', async () => {
    const served = [1000, 1001, 1002, 1003, 1004, 1005];
    // VNI 1010 is routed in VRF 1 (route-only here: not served); 1009 is its L3 VNI
    const routedVns = [
      {
        vni: 1010,
        vrf: 1,
        l3: false,
        gatewayMac: '02:00:00:00:00:fe',
        gatewayIp4: '10.10.0.254/16',
        gatewayIp6: '',
        unreachable: false,
      },
      {
        vni: 1009,
        vrf: 1,
        l3: true,
        gatewayMac: '02:00:00:00:00:fd',
        gatewayIp4: '',
        gatewayIp6: '',
        unreachable: false,
      },
    ];
    const bytes = snapshotBytes(all, routedVns);
    const want = await coldRun(bytes, { streamed: false, servedVnis: served });
    const got = await coldRun(bytes, { streamed: true, servedVnis: served });
    expect(got.matched).toBe(true);
    expect(got.maps).toEqual(want.maps);
    const vnis = new Set(
      got.maps.fdb.map((r) => Buffer.from(r.slice(0, 8), 'hex').readUInt32LE(0)),
    );
    expect([...vnis].sort()).toEqual([...served, 1009]);
  });

  it('a refused snapshot leaves the maps empty and the directory as it was', async () => {
    const bad = [...all];
    bad[N - 10] = { ...bad[N - 10]!, mac: '02:00:00:zz:00:01' };
    const bytes = snapshotBytes(bad);
    const { nva, loop } = await newAgent();
    const abandon = vi.spyOn(ColdFdbStream.prototype, 'abandon');
    const decoded = vi.spyOn(ColdFdbStream.prototype, 'decoded');
    const raw = deserialize(bytes) as { snapshot: object };
    expect(() => nva.h!.snapshot(raw.snapshot as never)).toThrow(/snapshot refused/);
    expect(abandon).toHaveBeenCalledTimes(1);
    // (rows had gone to the kernel before the bad entry was read)
    expect(decoded.mock.calls.length).toBeGreaterThan(HAND_OVER_ROWS / 4096);
    expect(dump()).toEqual({ fdb: [], neigh: [] });
    expect(loop.state.revision).toBe(0);
    expect(loop.state.directory.size).toBe(0);
  });
});
