// The NVE <-> NVA stream end to end: a real gRPC server and real clients on 127.0.0.1.
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../../src/nva/store-memory.ts';
import { SqliteStore } from '../../../src/nva/store-sqlite.ts';
import { NvaRejectError } from '../../../src/protocol/client.ts';
import { vniDigest } from '../../../src/protocol/digest.ts';
import { loadServices } from '../../../src/protocol/proto.ts';
import { mac, startNva, TestNve, tokenOf, until, type Nva } from '../nva/harness.ts';

const VNI = 100;
const dir = mkdtempSync(join(tmpdir(), 'roam-stream-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let nva: Nva | undefined;
const nves: TestNve[] = [];
afterEach(async () => {
  for (const n of nves.splice(0)) n.close();
  await nva?.close();
  nva = undefined;
});

async function setup(
  opts: Parameters<typeof startNva>[0] = {},
  learning: 'open' | 'provisioned' = 'open',
) {
  nva = await startNva(opts);
  await nva.admin.configureVn({ vni: VNI, learning, routed: false });
  return nva;
}

function nve(
  id: string,
  vnis = [VNI],
  over: ConstructorParameters<typeof TestNve>[3] = {},
): TestNve {
  const n = new TestNve(nva as Nva, id, vnis, over);
  nves.push(n);
  return n;
}

/** A raw stream (no client library): to send what a well-behaved client never would. */
function rawStream(address: string, nveId: string, token = tokenOf(nveId)) {
  const { Nva } = loadServices();
  const c = new Nva(address, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    Stream(md: grpc.Metadata): grpc.ClientDuplexStream<object, Record<string, unknown>>;
  };
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${token}`);
  const stream = c.Stream(md);
  const got: Record<string, unknown>[] = [];
  let status: grpc.ServiceError | undefined;
  stream.on('data', (m: Record<string, unknown>) => got.push(m));
  stream.on('error', (e: grpc.ServiceError) => (status = e));
  return {
    stream,
    got,
    status: () => status,
    hello: (lastRevision = 0) =>
      stream.write({ hello: { nveId, underlayAddr: '192.0.2.99', vnis: [VNI], lastRevision } }),
    close: () => {
      stream.cancel();
      c.close();
    },
  };
}

describe('snapshot, changes, acks and convergence', () => {
  for (const kind of ['memory', 'sqlite'] as const) {
    it(`an NVE gets a snapshot, then every change of its VNs (${kind} store)`, async () => {
      const store =
        kind === 'memory' ? new MemoryStore() : new SqliteStore({ path: join(dir, 'snap.db') });
      await setup({ store });
      const a = nve('a');
      const b = nve('b');
      await Promise.all([a.client.ready(), b.client.ready()]);
      expect(b.snapshots[0]?.vnis).toEqual([VNI]);
      const acc = await a.client.register({ vni: VNI, mac: mac(1), ips: ['10.1.0.1'] });
      expect(acc).toMatchObject({ outcome: 'new', seq: 1 });
      expect(acc.revision).toBeGreaterThan(0);
      await until('b installs the entry', () => b.installed.get(`${VNI}/${mac(1)}`)?.nveId === 'a');
      // A late NVE gets it in its snapshot, with the VN's members (flood list).
      const c = nve('c');
      await c.client.ready();
      const snap = c.snapshots[0];
      expect(snap?.entries.map((e) => [e.mac, e.nveId, e.nveAddr, e.state])).toEqual([
        [mac(1), 'a', '192.0.2.1', 'active'],
      ]);
      expect(snap?.members.map((m) => m.nveId).sort()).toEqual(['a', 'b', 'c']);
    });
  }

  it('a move converges when the last NVE acks; the time is recorded and exposed', async () => {
    await setup();
    const [a, b, c] = [nve('a'), nve('b'), nve('c')];
    await Promise.all([a, b, c].map((n) => n.client.ready()));
    await a.client.register({ vni: VNI, mac: mac(1), ips: ['10.1.0.1'] });
    const moved = await b.client.register({ vni: VNI, mac: mac(1), ips: ['10.1.0.1'] });
    expect(moved).toMatchObject({ outcome: 'moved', seq: 2 });
    await until('convergence of the move', async () =>
      (await nva!.store.listConvergence({ vni: VNI, mac: mac(1) })).some(
        (r) => r.revision === moved.revision,
      ),
    );
    const rec = (await nva!.store.listConvergence({ vni: VNI, mac: mac(1) }))[0];
    expect(rec).toMatchObject({ revision: moved.revision, nves: 3 });
    expect(rec!.durationMs).toBeGreaterThanOrEqual(0);
    expect(rec!.durationMs).toBeLessThan(2_000);
    const status = await nva!.admin.status();
    expect(
      status.nves.filter((n) => n.connected).every((n) => n.ackedRevision >= moved.revision),
    ).toBe(true);
    const shown = await nva!.admin.showEntry(VNI, mac(1));
    expect(shown.detail.convergence[0]?.revision).toBe(moved.revision);
    expect(shown.detail.history).toMatchObject([{ fromNve: 'a', toNve: 'b', seq: 2 }]);
    expect(
      await nva!.server.metrics.registry.getSingleMetricAsString('roam_nva_convergence_seconds'),
    ).toMatch(/roam_nva_convergence_seconds_count \d+/);
  });

  it('an NVE that has not acked holds convergence back', async () => {
    await setup();
    const a = nve('a');
    const b = nve('b', [VNI], { autoAck: false });
    await Promise.all([a.client.ready(), b.client.ready()]);
    const r = await a.client.register({ vni: VNI, mac: mac(1), ips: [] });
    await until('b receives it', () => b.changes.some((c) => c.revision >= (r.revision ?? 0)));
    await new Promise((res) => setTimeout(res, 50));
    expect(await nva!.store.listConvergence({ vni: VNI, mac: mac(1) })).toEqual([]);
    b.client.ack(r.revision);
    await until(
      'converged after b acks',
      async () => (await nva!.store.listConvergence({ vni: VNI })).length === 1,
    );
  });

  it('a hint that expires without the VM arriving turns the entry back to active', async () => {
    await setup();
    const [a, c] = [nve('a'), nve('c')];
    await Promise.all([a, c].map((n) => n.client.ready()));
    await a.client.register({ vni: VNI, mac: mac(1) });
    await nva!.admin.move({ vni: VNI, mac: mac(1), toNve: 'b', ttlMs: 100 });
    await until('moving', () => c.installed.get(`${VNI}/${mac(1)}`)?.state === 'moving');
    await until(
      'active again',
      () => c.installed.get(`${VNI}/${mac(1)}`)?.state === 'active',
      3_000,
    );
    expect(await nva!.store.getEntry(VNI, mac(1))).toMatchObject({ state: 'active', nveId: 'a' });
  });

  it('requests in flight are pipelined across MACs but stay in order for one MAC', async () => {
    await setup();
    const a = nve('a');
    await a.client.ready();
    // Sent back to back without waiting: register then withdraw of one MAC must not swap.
    const results = await Promise.all([
      ...Array.from({ length: 50 }, (_, i) => a.client.register({ vni: VNI, mac: mac(100 + i) })),
      a.client.register({ vni: VNI, mac: mac(1), seq: 3 }),
      a.client.withdraw(VNI, mac(1)),
      a.client.register({ vni: VNI, mac: mac(1) }),
    ]);
    expect(results.slice(-3).map((r) => [r.outcome, r.seq])).toEqual([
      ['new', 3],
      ['withdrawn', 3],
      ['new', 4],
    ]);
    expect((await nva!.store.listEntries(VNI)).length).toBe(51);
  });

  it('an orchestrator move hint reaches source and destination, and the move does not count as a flap', async () => {
    await setup();
    const [a, b, c] = [nve('a'), nve('b'), nve('c')];
    await Promise.all([a, b, c].map((n) => n.client.ready()));
    await a.client.register({ vni: VNI, mac: mac(1), ips: [] });
    await nva!.admin.move({ vni: VNI, mac: mac(1), toNve: 'b' });
    await until('hint at a and b', () => a.hints.length === 1 && b.hints.length === 1);
    expect(a.hints[0]).toMatchObject({
      mac: mac(1),
      fromNve: 'a',
      toNve: 'b',
      toAddr: '192.0.2.2',
    });
    expect(c.hints).toEqual([]);
    await until(
      'c sees the entry moving',
      () => c.installed.get(`${VNI}/${mac(1)}`)?.state === 'moving',
    );
    await b.client.register({ vni: VNI, mac: mac(1), ips: [] });
    const e = await nva!.store.getEntry(VNI, mac(1));
    expect(e).toMatchObject({ nveId: 'b', state: 'active' });
    expect(e?.history[0]?.hinted).toBe(true);
    expect(await nva!.store.getHint(VNI, mac(1), Date.now())).toBeUndefined();
  });
});

describe('admin', () => {
  it('lists provisions, refuses to drop a connected member, drops a stopped one (NVEs hear it)', async () => {
    await setup({}, 'provisioned');
    await nva!.admin.provision({ vni: VNI, mac: mac(2), ips: ['10.1.0.2'], nveId: 'a' });
    await nva!.admin.provision({ vni: VNI, mac: mac(1), ips: [] });
    expect((await nva!.admin.listProvisions(VNI)).provisions).toEqual([
      { vni: VNI, mac: mac(1), ips: [], nveId: '', tsi: '' },
      { vni: VNI, mac: mac(2), ips: ['10.1.0.2'], nveId: 'a', tsi: '' },
    ]);
    const a = nve('a');
    const b = nve('b');
    await Promise.all([a.client.ready(), b.client.ready()]);
    await expect(nva!.admin.removeMember(VNI, 'b')).rejects.toThrow(/is connected/);
    await until('b acked', () => b.client.ackedRevision > 0);
    const acked = b.client.ackedRevision;
    b.close();
    await until('b gone', () => nva!.server.connected().length === 1);
    // Status still knows what a disconnected NVE had installed.
    expect((await nva!.admin.status()).nves.find((n) => n.nveId === 'b')).toMatchObject({
      connected: false,
      ackedRevision: acked,
    });
    expect((await nva!.admin.removeMember(VNI, 'b')).revision).toBeGreaterThan(0);
    await until('a hears it', () => a.changes.some((c) => c.membersRemoved.includes('b')));
    expect((await nva!.admin.removeMember(VNI, 'b')).revision).toBe(0);
    await expect(nva!.admin.removeMember(VNI, 'bad id!')).rejects.toThrow(/nveId/);
    // Unprovisioning a registered VM withdraws it everywhere.
    await a.client.register({ vni: VNI, mac: mac(2) });
    await until('a has mac 2', () => a.installed.has(`${VNI}/${mac(2)}`));
    expect(await nva!.admin.unprovision(VNI, mac(2))).toEqual({ ok: true });
    await until('mac 2 withdrawn', () => !a.installed.has(`${VNI}/${mac(2)}`));
    expect(await nva!.store.getEntry(VNI, mac(2))).toMatchObject({ state: 'withdrawn' });
  });
});

describe('resume', () => {
  it('a reconnecting NVE resumes from its revision (no snapshot), and gets what it missed', async () => {
    await setup();
    const a = nve('a');
    const b1 = nve('b');
    await Promise.all([a.client.ready(), b1.client.ready()]);
    const r1 = await a.client.register({ vni: VNI, mac: mac(1), ips: [] });
    await until('b1 acked it', () => b1.client.ackedRevision >= (r1.revision ?? 1));
    const from = b1.client.ackedRevision;
    b1.close();
    await until('b gone', () => nva!.server.connected().length === 1);
    await a.client.register({ vni: VNI, mac: mac(2), ips: [] });
    await a.client.withdraw(VNI, mac(1));
    const b2 = nve('b', [VNI], { lastRevision: from });
    await b2.client.ready();
    await until('b2 caught up', () =>
      b2.changes.some((c) => c.deletes.some((d) => d.mac === mac(1))),
    );
    expect(b2.snapshots).toEqual([]);
    expect(b2.changes.every((c) => c.revision > from)).toBe(true);
    expect(b2.changes.flatMap((c) => c.upserts.map((e) => e.mac))).toContain(mac(2));
  });

  it('a resume with nothing missed is confirmed by an empty change at the same revision', async () => {
    await setup();
    const b1 = nve('b');
    await b1.client.ready();
    await until('b1 acked its snapshot', () => b1.client.ackedRevision > 0);
    const from = b1.client.ackedRevision;
    b1.close();
    await until('b gone', () => nva!.server.connected().length === 0);
    const b2 = nve('b', [VNI], { lastRevision: from });
    await b2.client.ready();
    expect(b2.snapshots).toEqual([]);
    expect(b2.changes[0]).toMatchObject({ revision: from, upserts: [], deletes: [] });
  });

  it('a revision older than the change log gets a fresh snapshot', async () => {
    await setup({ store: new MemoryStore({ changeLogMax: 3 }) });
    const a = nve('a');
    const b1 = nve('b');
    await Promise.all([a.client.ready(), b1.client.ready()]);
    b1.close();
    await until('b gone', () => nva!.server.connected().length === 1);
    for (let i = 1; i <= 10; i++) await a.client.register({ vni: VNI, mac: mac(i), ips: [] });
    const b = nve('b', [VNI], { lastRevision: 1 });
    await b.client.ready();
    expect(b.snapshots).toHaveLength(1);
    expect(b.snapshots[0]?.entries).toHaveLength(10);
    expect(
      await nva!.server.metrics.registry.getSingleMetricAsString('roam_nva_snapshots_sent_total'),
    ).toMatch(/reason="too_old"} 1/);
  });

  it('resuming with a VNI the NVE did not serve before gets a snapshot', async () => {
    await setup();
    await nva!.admin.configureVn({ vni: VNI + 1, learning: 'open' });
    const a = nve('a', [VNI, VNI + 1]);
    const b1 = nve('b');
    await Promise.all([a.client.ready(), b1.client.ready()]);
    await a.client.register({ vni: VNI + 1, mac: mac(7) });
    await until('b1 acked', () => b1.client.ackedRevision > 0);
    const from = b1.client.ackedRevision;
    b1.close();
    await until('b gone', () => nva!.server.connected().length === 1);
    const b2 = nve('b', [VNI, VNI + 1], { lastRevision: from });
    await b2.client.ready();
    expect(b2.snapshots[0]?.entries.map((e) => e.mac)).toEqual([mac(7)]);
  });

  it('the client reconnects by itself with backoff after the server drops it', async () => {
    await setup();
    const a = nve('a');
    await a.client.ready();
    let connects = 0;
    const b = nve('b', [VNI], { handlers: { connected: () => void connects++ } });
    await b.client.ready();
    // A second stream with b's identity replaces the first: the client sees its stream end.
    const raw = rawStream(nva!.address, 'b');
    raw.hello();
    await until('b reconnected', () => connects >= 2, 5_000);
    raw.close();
  });
});

describe('bad input is refused with a reason; the stream and the directory stay sound', () => {
  it('malformed messages get a Reject and the stream keeps working', async () => {
    await setup();
    const raw = rawStream(nva!.address, 'a');
    raw.hello();
    await until('snapshot', () => raw.got.some((m) => m.snapshot));
    raw.stream.write({ register: { requestId: 7, vni: VNI, mac: 'not-a-mac', ips: [], seq: 0 } });
    raw.stream.write({
      register: { requestId: 8, vni: VNI, mac: mac(1), ips: ['300.1.1.1'], seq: 0 },
    });
    raw.stream.write({
      register: { requestId: 9, vni: VNI, mac: mac(1), ips: ['10.0.0.1'], seq: 0 },
    });
    await until('three answers', () => raw.got.filter((m) => m.reject || m.accepted).length === 3);
    const rejects = raw.got
      .filter((m) => m.reject)
      .map((m) => m.reject as { requestId: number; code: string; reason: string });
    expect(rejects).toMatchObject([
      { requestId: 7, code: 'MALFORMED', reason: expect.stringMatching(/mac/) },
      { requestId: 8, code: 'MALFORMED', reason: expect.stringMatching(/ips\.0/) },
    ]);
    expect(raw.got.find((m) => m.accepted)?.accepted).toMatchObject({
      requestId: 9,
      outcome: 'new',
    });
    expect(
      await nva!.server.metrics.registry.getSingleMetricAsString('roam_nva_refused_messages_total'),
    ).toMatch(/reason="malformed"} 2/);
    raw.close();
  });

  it('an oversized message ends that stream with RESOURCE_EXHAUSTED, the NVA serves on', async () => {
    await setup();
    const a = nve('a');
    await a.client.ready();
    const raw = rawStream(nva!.address, 'b');
    raw.hello();
    await until('snapshot', () => raw.got.some((m) => m.snapshot));
    raw.stream.write({
      register: { requestId: 1, vni: VNI, mac: mac(1), ips: [], seq: 0, tsi: 'x'.repeat(100_000) },
    });
    await until('stream ended', () => raw.status() !== undefined);
    expect(raw.status()?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(await nva!.store.getEntry(VNI, mac(1))).toBeUndefined();
    expect(await a.client.register({ vni: VNI, mac: mac(2), ips: [] })).toMatchObject({
      outcome: 'new',
    });
    raw.close();
  });

  it("no token, a wrong token, or another NVE's token: UNAUTHENTICATED", async () => {
    await setup();
    for (const token of ['', 'wrong', tokenOf('b')]) {
      const raw = rawStream(nva!.address, 'a', token);
      raw.hello();
      await until('refused', () => raw.status() !== undefined);
      expect(raw.status()?.code).toBe(grpc.status.UNAUTHENTICATED);
      raw.close();
    }
    expect(nva!.server.connected()).toEqual([]);
  });

  it('a first message that is not a hello is refused', async () => {
    await setup();
    const raw = rawStream(nva!.address, 'a');
    raw.stream.write({ ack: { revision: 1, digests: [] } });
    await until('refused', () => raw.status() !== undefined);
    expect(raw.status()?.code).toBe(grpc.status.FAILED_PRECONDITION);
    raw.close();
  });

  it('unknown VNIs, VNIs not in the hello, unprovisioned addresses and stale seqs are refused', async () => {
    await setup({}, 'provisioned');
    await nva!.admin.provision({ vni: VNI, mac: mac(1), ips: ['10.1.0.1'], nveId: 'a' });
    const a = nve('a', [VNI, 4242]);
    await a.client.ready();
    expect(a.rejects).toMatchObject([
      { code: 'UNKNOWN_VNI', reason: 'VNI 4242 is not configured on this NVA' },
    ]);
    const refused = async (p: Promise<unknown>) => {
      const e = await p.catch((err: unknown) => err);
      expect(e).toBeInstanceOf(NvaRejectError);
      return e as NvaRejectError;
    };
    expect((await refused(a.client.register({ vni: 4242, mac: mac(1) }))).code).toBe('UNKNOWN_VNI');
    await nva!.admin.configureVn({ vni: 4343, learning: 'open' });
    expect((await refused(a.client.register({ vni: 4343, mac: mac(1) }))).code).toBe('NOT_MEMBER');
    expect((await refused(a.client.register({ vni: VNI, mac: mac(2) }))).message).toMatch(
      /not provisioned/,
    );
    expect(
      (await refused(a.client.register({ vni: VNI, mac: mac(1), ips: ['10.1.0.66'] }))).message,
    ).toMatch(/IP 10\.1\.0\.66 is not provisioned/);
    expect(await a.client.register({ vni: VNI, mac: mac(1), seq: 5 })).toMatchObject({
      outcome: 'new',
      seq: 5,
    });
    expect((await refused(a.client.register({ vni: VNI, mac: mac(1), seq: 3 }))).code).toBe(
      'STALE_SEQ',
    );
    const b = nve('b');
    await b.client.ready();
    expect((await refused(b.client.register({ vni: VNI, mac: mac(1) }))).message).toMatch(
      /provisioned to NVE a/,
    );
    expect((await refused(b.client.withdraw(VNI, mac(1)))).code).toBe('NOT_OWNER');
    // The directory is untouched by all of it.
    expect(await nva!.store.listEntries(VNI)).toMatchObject([
      { mac: mac(1), nveId: 'a', seq: 5, ips: [{ ip: '10.1.0.1' }] },
    ]);
  });

  it('a digest mismatch gets a DigestMismatch and a fresh snapshot of that VNI', async () => {
    await setup();
    const a = nve('a');
    await a.client.ready();
    const r = await a.client.register({ vni: VNI, mac: mac(1), ips: ['10.1.0.1'] });
    await until('a has it', () => a.installed.has(`${VNI}/${mac(1)}`));
    const good = vniDigest([
      { mac: mac(1), nveAddr: '192.0.2.1', seq: 1, ips: [{ ip: '10.1.0.1' }] },
    ]);
    a.client.ack(r.revision!, [{ vni: VNI, digest: good }]);
    await new Promise((res) => setTimeout(res, 30));
    expect(a.snapshots).toHaveLength(1);
    a.client.ack(r.revision!, [{ vni: VNI, digest: vniDigest([]) }]);
    await until('resent snapshot', () => a.snapshots.length === 2);
    expect(a.snapshots[1]?.entries.map((e) => e.mac)).toEqual([mac(1)]);
    expect(a.snapshots[1]?.vnis).toEqual([VNI]);
  });
});

describe('fan-out batching', () => {
  it('ack clocking: with two messages unacked, changes wait for an ack, then go as one', async () => {
    await setup({ ackClockMaxWaitMs: 60_000 });
    const a = nve('a');
    const b = nve('b', [VNI], { autoAck: false });
    await Promise.all([a.client.ready(), b.client.ready()]);
    b.client.ack(b.snapshots[0]!.revision);
    // One change unacked: the next one still goes at once (moves one at a time are not held).
    await a.client.register({ vni: VNI, mac: mac(1) });
    const r2 = await a.client.register({ vni: VNI, mac: mac(2) });
    await until('b gets both changes', () => b.changes.length === 2);
    // Two unacked: the next moves wait for b's ack (a has no such wait: it acks).
    const later = await Promise.all(
      [3, 4, 5].map((i) => a.client.register({ vni: VNI, mac: mac(i) })),
    );
    await until('a has them all', () => a.installed.size === 5);
    await new Promise((res) => setTimeout(res, 50));
    expect(b.changes).toHaveLength(2);
    b.client.ack(r2.revision!);
    await until('b gets the rest', () => b.installed.size === 5);
    expect(b.changes).toHaveLength(3);
    expect(b.changes[2]!.upserts.map((e) => e.mac).sort()).toEqual([mac(3), mac(4), mac(5)]);
    expect(b.changes[2]!.revision).toBe(Math.max(...later.map((r) => r.revision!)));
  });

  it('an NVE that stops acking still gets every change, after the clock wait', async () => {
    await setup({ ackClockMaxWaitMs: 30 });
    const a = nve('a');
    const b = nve('b', [VNI], { autoAck: false });
    await Promise.all([a.client.ready(), b.client.ready()]);
    b.client.ack(b.snapshots[0]!.revision);
    for (let i = 1; i <= 5; i++) await a.client.register({ vni: VNI, mac: mac(i) });
    await until('b has everything without acking', () => b.installed.size === 5);
  });

  it('the fan-out waits for the registrations in flight, and carries them all', async () => {
    // No ack clocking here, and a hold long enough for the whole burst to be stored (SQLite:
    // registrations wait for an fsync, so they are in flight across turns of the event loop).
    const store = new SqliteStore({ path: join(dir, 'hold.db') });
    await setup({ store, ackClockMaxWaitMs: 0, fanoutHoldMaxMs: 60_000 });
    const a = nve('a');
    const b = nve('b');
    await Promise.all([a.client.ready(), b.client.ready()]);
    const N = 200;
    await Promise.all(
      Array.from({ length: N }, (_, i) => a.client.register({ vni: VNI, mac: mac(i + 1) })),
    );
    await until('b has them all', () => b.installed.size === N);
    // One message per commit without the hold (~N / 2 here); with it, the burst goes as one
    // (a few if the burst's first requests were answered before its last ones were read).
    expect(b.changes.length).toBeLessThanOrEqual(5);
  });
});

describe('a slow NVE', () => {
  it('gets a snapshot instead of an unbounded backlog, and never stalls the others', async () => {
    await setup({ maxQueuedChanges: 16 });
    const fast = nve('a');
    await fast.client.ready();
    const slow = rawStream(nva!.address, 'b');
    slow.hello();
    await until('slow snapshot', () => slow.got.some((m) => m.snapshot));
    slow.stream.pause(); // stops reading: HTTP/2 flow control fills up
    const N = 400;
    const t0 = Date.now();
    for (let i = 1; i <= N; i++)
      await fast.client.register({
        vni: VNI,
        mac: mac(i),
        ips: Array.from({ length: 16 }, (_, j) => `fd00:${i.toString(16)}::${j + 1}`),
      });
    await until('fast NVE has everything', () => fast.installed.size === N);
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeLessThan(10_000);
    expect(
      await nva!.server.metrics.registry.getSingleMetricAsString('roam_nva_snapshots_sent_total'),
    ).not.toMatch(/slow_peer/);
    slow.stream.resume();
    await until('slow NVE gets a snapshot with the final state', () =>
      slow.got.some(
        (m) => (m.snapshot as { entries?: unknown[] } | undefined)?.entries?.length === N,
      ),
    );
    expect(
      await nva!.server.metrics.registry.getSingleMetricAsString('roam_nva_snapshots_sent_total'),
    ).toMatch(/reason="slow_peer"} 1/);
    slow.close();
  });
});
