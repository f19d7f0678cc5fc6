import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { memoryTables } from '../../../src/nve/tables.ts';
import { DIGEST_DEFER_MS, DIGEST_INLINE_MAX_ENTRIES } from '../../../src/nve/control-loop.ts';
import { vniDigest } from '../../../src/protocol/digest.ts';
import { NVE1, NVE2, NVE3, TSI_B, VM_B, dirEntry, makeLoop } from './fake-nva.ts';

const B = VM_B.mac;
const C = '52:54:00:00:00:0c';
const IF_B = 7;

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('headless mode (NVA unreachable)', () => {
  it('keeps forwarding on the last tables, learns locally, reconciles on return', async () => {
    const t = makeLoop(NVE1);
    t.loop.tsiUp({ name: 'tap-b', ifindex: IF_B, config: TSI_B });
    t.loop.start();
    t.nva.connect();
    t.nva.snapshot([
      dirEntry(C, NVE2, { ips: ['10.0.0.12'] }),
      dirEntry('52:54:00:00:00:0d', NVE3),
    ]);
    const installed = [...t.tables.fdb.entries()];
    const writes = t.tables.fdb.writeCalls;

    t.nva.disconnect();
    await vi.advanceTimersByTimeAsync(60_000);
    // Nothing flushed while the NVA is away.
    expect([...t.tables.fdb.entries()]).toEqual(installed);
    expect(t.tables.fdb.writeCalls).toBe(writes);

    // B announces itself while headless: local at once, registration queued.
    expect(t.loop.event({ kind: 'garp', ifindex: IF_B, vni: 100, mac: B, ip: VM_B.ip })).toBe(
      'installed',
    );
    expect(t.fdb(B)).toEqual({ kind: 'local', ifindex: IF_B, rarp: VM_B.ip });
    expect(t.nva.registrations).toEqual([]);

    // The NVA returns: the queued registration goes out, the fresh snapshot is resynced
    // (C moved, D gone) without touching B.
    t.nva.connect();
    await vi.advanceTimersByTimeAsync(0);
    expect(t.nva.registrations).toMatchObject([{ mac: B, seq: 1, ips: [VM_B.ip] }]);
    t.nva.snapshot([
      dirEntry(C, NVE3, { ips: ['10.0.0.12'], seq: 2 }),
      dirEntry(B, NVE1, { ips: [VM_B.ip] }),
    ]);
    expect(Object.fromEntries([...t.tables.fdb.entries()].map(([k, v]) => [k.mac, v]))).toEqual({
      [B]: { kind: 'local', ifindex: IF_B, rarp: VM_B.ip },
      [C]: { kind: 'remote', vtep: NVE3.addr, rarp: '10.0.0.12' },
    });
    expect(t.nva.acks.at(-1)!.revision).toBe(2);
  });

  it('a VM that left while headless is withdrawn when the NVA returns', async () => {
    const t = makeLoop(NVE1);
    t.loop.tsiUp({ name: 'tap-b', ifindex: IF_B, config: TSI_B });
    t.loop.start();
    t.nva.connect();
    t.nva.snapshot([dirEntry(B, NVE1, { ips: [VM_B.ip] })]);
    expect(t.fdb(B)).toEqual({ kind: 'local', ifindex: IF_B, rarp: VM_B.ip });
    t.nva.disconnect();
    t.loop.tsiDown(IF_B);
    expect(t.fdb(B)).toBeUndefined();
    expect(t.nva.withdrawals).toEqual([]);
    t.nva.connect();
    await vi.advanceTimersByTimeAsync(0);
    expect(t.nva.withdrawals).toEqual([{ vni: 100, mac: B }]);
  });

  it('a snapshot still placing here a VM whose TSI is gone gets it withdrawn', async () => {
    const t = makeLoop(NVE1);
    t.loop.start();
    t.nva.connect();
    t.nva.snapshot([dirEntry(B, NVE1, { ips: [VM_B.ip] })]);
    await vi.advanceTimersByTimeAsync(0);
    expect(t.nva.withdrawals).toEqual([{ vni: 100, mac: B }]);
  });
});

describe('restart: a new agent re-adopts pinned tables', () => {
  it('writes nothing before the snapshot, then changes only what differs', async () => {
    // Tables left by the previous agent: B local on its TSI, C remote at NVE2.
    const tables = memoryTables();
    tables.fdb.setMany([
      [
        { vni: 100, mac: B },
        { kind: 'local', ifindex: IF_B, rarp: VM_B.ip },
      ],
      [
        { vni: 100, mac: C },
        { kind: 'remote', vtep: NVE2.addr },
      ],
    ]);
    tables.neigh.setMany([[{ vni: 100, ip: VM_B.ip }, { mac: B }]]);
    tables.fdb.writeCalls = 0;
    const t = makeLoop(NVE1, tables);
    t.loop.tsiUp({ name: 'tap-b', ifindex: IF_B, config: TSI_B });
    t.loop.start();
    expect(tables.fdb.writeCalls).toBe(0);
    expect(t.loop.state.locals.has(`100/${B}`)).toBe(true);
    t.nva.connect();
    t.nva.snapshot([dirEntry(B, NVE1, { ips: [VM_B.ip], seq: 3 }), dirEntry(C, NVE2)]);
    // Same content: nothing written, nothing re-registered or withdrawn.
    expect(tables.fdb.writeCalls).toBe(0);
    await vi.advanceTimersByTimeAsync(0);
    expect(t.nva.registrations).toEqual([]);
    expect(t.nva.withdrawals).toEqual([]);
    expect(t.fdb(B)).toEqual({ kind: 'local', ifindex: IF_B, rarp: VM_B.ip });
  });
});

describe('start while the NVA is unreachable', () => {
  it('keeps the pinned tables, fixes only the local flood list', () => {
    const tables = memoryTables();
    tables.fdb.setMany([
      [
        { vni: 100, mac: B },
        { kind: 'local', ifindex: IF_B },
      ],
      [
        { vni: 100, mac: C },
        { kind: 'remote', vtep: NVE2.addr },
      ],
    ]);
    tables.flood.setMany([[100, { local: [3], remote: [NVE2.addr] }]]);
    tables.peers.setMany([[{ vni: 100, vtep: NVE2.addr }, true]]);
    const t = makeLoop(NVE1, tables);
    t.loop.tsiUp({ name: 'tap-b', ifindex: IF_B, config: TSI_B });
    t.loop.start();
    expect(t.fdb(B)).toEqual({ kind: 'local', ifindex: IF_B });
    expect(t.fdb(C)).toEqual({ kind: 'remote', vtep: NVE2.addr });
    // The flood list is the only thing written: TSI 3 is gone, TSI 7 is here; NVE2 stays.
    expect(tables.flood.get(100)).toEqual({ local: [IF_B], remote: [NVE2.addr] });
    expect(tables.fdb.writeCalls).toBe(1); // the set-up's own write
    // The first snapshot names the members: the made-up ones go.
    t.nva.connect();
    t.nva.snapshot(
      [dirEntry(C, NVE2), dirEntry(B, NVE1)],
      [{ vni: 100, nveId: NVE3.id, nveAddr: NVE3.addr }],
    );
    expect(tables.flood.get(100)).toEqual({ local: [IF_B], remote: [NVE3.addr] });
    expect([...tables.peers.entries()].map(([k]) => k.vtep)).toEqual([NVE3.addr]);
  });
});

describe('acks and digests', () => {
  it('acks each change with the digest of what is installed in its VNI', () => {
    const t = makeLoop(NVE1);
    t.loop.start();
    t.nva.connect();
    const rev = t.nva.change([dirEntry(C, NVE2, { ips: ['10.0.0.12'] })]);
    expect(t.nva.acks.at(-1)).toEqual({
      revision: rev,
      digests: [
        {
          vni: 100,
          digest: vniDigest([{ mac: C, nveAddr: NVE2.addr, seq: 1, ips: [{ ip: '10.0.0.12' }] }]),
        },
      ],
    });
  });

  it('a digest mismatch caused by drift in the maps is repaired by a resync', () => {
    const t = makeLoop(NVE1);
    t.loop.start();
    t.nva.connect();
    const rev = t.nva.change([dirEntry(C, NVE2, { ips: ['10.0.0.12'] })]);
    const expected = t.nva.acks.at(-1)!.digests[0]!.digest;
    // Something behind the agent's back deletes the entry from the map.
    t.tables.fdb.deleteMany([{ vni: 100, mac: C }]);
    t.nva.handlers!.digestMismatch({ vni: 100, revision: rev, expected, got: 'x' });
    expect(t.fdb(C)).toEqual({ kind: 'remote', vtep: NVE2.addr, rarp: '10.0.0.12' });
    expect(t.nva.acks.at(-1)).toEqual({ revision: rev, digests: [{ vni: 100, digest: expected }] });
  });

  it("a digest mismatch the maps cannot explain waits for the NVA's snapshot of the VNI", () => {
    const t = makeLoop(NVE1);
    t.loop.start();
    t.nva.connect();
    const rev = t.nva.change([dirEntry(C, NVE2)]);
    const acks = t.nva.acks.length;
    t.nva.handlers!.digestMismatch({ vni: 100, revision: rev, expected: 'f'.repeat(32), got: 'x' });
    expect(t.nva.acks.length).toBe(acks);
    // The NVA follows a mismatch with a snapshot of that VNI: it replaces our copy.
    t.nva.snapshot([dirEntry(C, NVE3, { seq: 2 })]);
    expect(t.fdb(C)).toEqual({ kind: 'remote', vtep: NVE3.addr });
  });
});

describe('acks with big tables', () => {
  it('go out at once without digests, the digests follow in one trailing ack', async () => {
    const t = makeLoop(NVE1);
    t.loop.start();
    t.nva.connect();
    const many = Array.from({ length: DIGEST_INLINE_MAX_ENTRIES + 1 }, (_, i) =>
      dirEntry(
        `02:00:00:${((i >> 16) & 255).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
        NVE2,
      ),
    );
    const rev1 = t.nva.snapshot(many);
    const rev2 = t.nva.change([dirEntry(C, NVE3)]);
    expect(t.nva.acks).toEqual([
      { revision: rev1, digests: [] },
      { revision: rev2, digests: [] },
    ]);
    await vi.advanceTimersByTimeAsync(DIGEST_DEFER_MS);
    expect(t.nva.acks).toHaveLength(3);
    expect(t.nva.acks[2]!.revision).toBe(rev2);
    expect(t.nva.acks[2]!.digests.map((d) => d.vni)).toEqual([100]);
    expect(t.nva.acks[2]!.digests[0]!.digest).toBe(t.loop.digest(100));
  });
});
