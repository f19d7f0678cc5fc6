import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { vniDigest } from '../../../src/protocol/digest.ts';
import { LINGER_MAX_MS } from '../../../src/nve/moves.ts';
import { memoryTables } from '../../../src/nve/tables.ts';
import { HOLD_MS, NVE1, NVE2, NVE3, TSI_B, VM_B, dirEntry, makeLoop } from './fake-nva.ts';

const B = VM_B.mac;
const IF_B = 7;

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(1_000_000);
});
afterEach(() => vi.useRealTimers());

/** NVE1 hosts B (registered at seq 1), connected, one peer NVE3. */
async function sourceWithB() {
  const t = makeLoop(NVE1);
  t.loop.tsiUp({ name: 'tap-b', ifindex: IF_B, config: TSI_B });
  t.loop.start();
  t.nva.connect();
  t.nva.snapshot([dirEntry(B, NVE1, { ips: [VM_B.ip] })]);
  expect(t.fdb(B)).toEqual({ kind: 'local', ifindex: IF_B, rarp: VM_B.ip });
  await vi.advanceTimersByTimeAsync(0);
  return t;
}

describe('move logs', () => {
  it('a move is reported once the tables hold it (its convergence time covers the write)', async () => {
    const seen: Array<unknown> = [];
    const tables = memoryTables();
    const t = makeLoop(NVE2, tables, {
      move: () => seen.push(tables.fdb.get({ vni: 100, mac: B })),
    });
    t.loop.start();
    t.nva.connect();
    t.nva.snapshot([dirEntry(B, NVE1, { ips: [VM_B.ip] })]);
    t.nva.change([dirEntry(B, NVE3, { ips: [VM_B.ip], seq: 2 })]);
    expect(seen).toEqual([{ kind: 'remote', vtep: NVE3.addr, rarp: VM_B.ip }]);
  });
});

describe('moves at the source NVE', () => {
  it('NVA says B now lives at NVE3: "moved to NVE3" for the hold time, then the remote entry', async () => {
    const t = await sourceWithB();
    t.nva.change([dirEntry(B, NVE3, { ips: [VM_B.ip], seq: 2, changedAtMs: Date.now() - 4 })]);
    expect(t.fdb(B)).toEqual({
      kind: 'moved',
      vtep: NVE3.addr,
      untilMs: Date.now() + HOLD_MS,
      rarp: VM_B.ip,
    });
    expect(t.neigh(VM_B.ip)).toBe(B);
    expect(t.loop.state.locals.size).toBe(0);
    expect(t.moves).toEqual([
      {
        vni: 100,
        mac: B,
        fromNve: 'nve1',
        toNve: 'nve3',
        seq: 2,
        role: 'source',
        cold: false,
        convergenceMs: 4,
      },
    ]);
    await vi.advanceTimersByTimeAsync(HOLD_MS - 1);
    expect(t.fdb(B)?.kind).toBe('moved');
    await vi.advanceTimersByTimeAsync(1);
    expect(t.fdb(B)).toEqual({ kind: 'remote', vtep: NVE3.addr, rarp: VM_B.ip });
  });

  it('a stale change (lower seq than our registration) does not move our VM', async () => {
    const t = await sourceWithB();
    t.loop.state.locals.get(`100/${B}`)!.seq = 5;
    t.nva.change([dirEntry(B, NVE3, { seq: 4 })]);
    expect(t.fdb(B)).toEqual({ kind: 'local', ifindex: IF_B, rarp: VM_B.ip });
  });

  it('cold move: TSI gone -> withdraw; later a fresh registration at NVE3 -> re-tunnel for the hold time', async () => {
    const t = await sourceWithB();
    t.loop.tsiDown(IF_B);
    await vi.advanceTimersByTimeAsync(0);
    expect(t.nva.withdrawals).toEqual([{ vni: 100, mac: B }]);
    expect(t.fdb(B)).toBeUndefined();
    t.nva.change([dirEntry(B, NVE1, { ips: [VM_B.ip], state: 'withdrawn' })]);
    expect(t.fdb(B)).toBeUndefined();
    t.nva.change([dirEntry(B, NVE3, { ips: [VM_B.ip], seq: 2 })]);
    expect(t.fdb(B)).toMatchObject({ kind: 'moved', vtep: NVE3.addr });
    await vi.advanceTimersByTimeAsync(HOLD_MS);
    expect(t.fdb(B)).toEqual({ kind: 'remote', vtep: NVE3.addr, rarp: VM_B.ip });
  });

  it('a moved VM that moves on (NVE3 -> NVE2) is re-tunnelled to where it is now, same deadline', async () => {
    const t = await sourceWithB();
    t.nva.change([dirEntry(B, NVE3, { seq: 2 })]);
    const until = (t.fdb(B) as { untilMs: number }).untilMs;
    await vi.advanceTimersByTimeAsync(1000);
    t.nva.change([dirEntry(B, NVE2, { seq: 3 })]);
    expect(t.fdb(B)).toEqual({ kind: 'moved', vtep: NVE2.addr, untilMs: until });
  });

  it('the VM comes back before the hold time ends: local again, the hold timer is cancelled', async () => {
    const t = await sourceWithB();
    t.nva.change([dirEntry(B, NVE3, { seq: 2 })]);
    expect(t.loop.event({ kind: 'garp', ifindex: IF_B, vni: 100, mac: B, ip: VM_B.ip })).toBe(
      'installed',
    );
    expect(t.fdb(B)).toEqual({ kind: 'local', ifindex: IF_B, rarp: VM_B.ip });
    expect(t.nva.registrations.at(-1)).toMatchObject({ mac: B, seq: 3, kind: 'garp' });
    await vi.advanceTimersByTimeAsync(HOLD_MS * 2);
    expect(t.fdb(B)).toEqual({ kind: 'local', ifindex: IF_B, rarp: VM_B.ip });
  });
});

describe('hinted (hot) migration S -> D', () => {
  const hint = (ttl = 10_000) => ({
    vni: 100,
    mac: B,
    fromNve: NVE1.id,
    toNve: NVE3.id,
    toAddr: NVE3.addr,
    expiresAtMs: Date.now() + ttl,
  });

  it('at S: dual (local TSI and D) while it runs; D registers -> moved; no withdraw when the TSI goes', async () => {
    const t = await sourceWithB();
    t.nva.hint(hint());
    expect(t.fdb(B)).toEqual({ kind: 'dual', ifindex: IF_B, vtep: NVE3.addr, rarp: VM_B.ip });
    t.loop.tsiDown(IF_B);
    await vi.advanceTimersByTimeAsync(0);
    expect(t.nva.withdrawals).toEqual([]);
    expect(t.fdb(B)).toMatchObject({ kind: 'moved', vtep: NVE3.addr });
    t.nva.change([dirEntry(B, NVE3, { seq: 2 })]);
    expect(t.fdb(B)).toMatchObject({ kind: 'moved', vtep: NVE3.addr });
    expect(t.loop.state.hints.size).toBe(0);
  });

  it('at S: a hint that expires without a move returns the entry to local', async () => {
    const t = await sourceWithB();
    t.nva.hint(hint(5000));
    await vi.advanceTimersByTimeAsync(5000);
    expect(t.fdb(B)).toEqual({ kind: 'local', ifindex: IF_B, rarp: VM_B.ip });
  });

  it('at D: delivered to the TSI at once, registered on the first of 5 RARPs only', async () => {
    const t = makeLoop(NVE3);
    t.loop.start();
    t.nva.connect();
    t.nva.snapshot([dirEntry(B, NVE1, { ips: [VM_B.ip], seq: 4 })]);
    expect(t.fdb(B)).toEqual({ kind: 'remote', vtep: NVE1.addr, rarp: VM_B.ip });
    t.nva.hint(hint());
    t.loop.tsiUp({ name: 'tap-b', ifindex: 21, config: TSI_B });
    expect(t.fdb(B)).toEqual({ kind: 'local', ifindex: 21, rarp: VM_B.ip });
    expect(t.nva.registrations).toEqual([]);
    const outcomes = [];
    for (let i = 0; i < 5; i++) {
      outcomes.push(t.loop.event({ kind: 'rarp', ifindex: 21, vni: 100, mac: B }));
      await vi.advanceTimersByTimeAsync(100);
    }
    expect(outcomes).toEqual(['activated', 'repeat', 'repeat', 'repeat', 'repeat']);
    expect(t.nva.registrations).toEqual([
      { vni: 100, mac: B, ips: [VM_B.ip], seq: 5, tsi: 'tap-b', kind: 'rarp' },
    ]);
  });

  it('at D: a hint arriving after the TSI appeared installs it too', async () => {
    const t = makeLoop(NVE3);
    t.loop.tsiUp({ name: 'tap-b', ifindex: 21, config: TSI_B });
    t.loop.start();
    t.nva.connect();
    t.nva.snapshot([dirEntry(B, NVE1, { seq: 1 })]);
    // (no IP in the directory: no RARP address)
    expect(t.fdb(B)).toEqual({ kind: 'remote', vtep: NVE1.addr });
    t.nva.hint(hint());
    expect(t.fdb(B)).toEqual({ kind: 'local', ifindex: 21, rarp: VM_B.ip });
  });
});

describe('peers', () => {
  it('a withdrawn VM stays forwarded to its last NVE a few seconds (no gap in a cold move)', async () => {
    const t = makeLoop(NVE2);
    t.loop.start();
    t.nva.connect();
    t.nva.snapshot([dirEntry(B, NVE1, { ips: [VM_B.ip] })]);
    const writes: string[] = [];
    const del = t.tables.fdb.deleteMany.bind(t.tables.fdb);
    t.tables.fdb.deleteMany = (keys) => {
      writes.push(...keys.map((k) => k.mac));
      del(keys);
    };
    t.nva.change([], [{ vni: 100, mac: B }]);
    expect(t.fdb(B)).toEqual({ kind: 'remote', vtep: NVE1.addr, rarp: VM_B.ip });
    expect(t.neigh(VM_B.ip)).toBe(B);
    // The digest leaves it out, as the NVA's does.
    expect(t.nva.acks.at(-1)!.digests[0]!.digest).toBe(vniDigest([]));
    t.nva.change([dirEntry(B, NVE3, { ips: [VM_B.ip], seq: 2 })]);
    expect(t.fdb(B)).toEqual({ kind: 'remote', vtep: NVE3.addr, rarp: VM_B.ip });
    expect(writes).toEqual([]);
    // A VM withdrawn for good is forgotten after the hold time.
    t.nva.change([], [{ vni: 100, mac: B }]);
    await vi.advanceTimersByTimeAsync(LINGER_MAX_MS - 1);
    expect(t.fdb(B)).toEqual({ kind: 'remote', vtep: NVE3.addr, rarp: VM_B.ip });
    await vi.advanceTimersByTimeAsync(1);
    expect(t.fdb(B)).toBeUndefined();
    expect(t.neigh(VM_B.ip)).toBeUndefined();
  });

  it('a peer follows a move and logs it with its convergence time', async () => {
    const t = makeLoop(NVE2);
    t.loop.start();
    t.nva.connect();
    t.nva.snapshot([dirEntry(B, NVE1, { ips: [VM_B.ip] })]);
    t.nva.change([dirEntry(B, NVE3, { ips: [VM_B.ip], seq: 2, changedAtMs: Date.now() - 2 })]);
    expect(t.fdb(B)).toEqual({ kind: 'remote', vtep: NVE3.addr, rarp: VM_B.ip });
    expect(t.moves).toEqual([
      {
        vni: 100,
        mac: B,
        fromNve: 'nve1',
        toNve: 'nve3',
        seq: 2,
        role: 'peer',
        cold: false,
        convergenceMs: 2,
      },
    ]);
  });
});
