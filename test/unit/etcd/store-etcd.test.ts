// The etcd store against a real 3-member cluster on loopback: compare-and-swap between replicas,
// the IP-owner index, the change log (history of the log keys) with "too old" after compaction,
// changes from one replica reaching another's subscribers, and one member killed mid-stream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { EtcdCluster } from '../../helpers/etcd-cluster.ts';
import { EtcdStore, EtcdUnreachableError, etcdRevisionOf } from '../../../src/nva/store-etcd.ts';
import { freePort } from '../../helpers/etcd-cluster.ts';
import { RevisionTooOldError, type Change } from '../../../src/nva/store.ts';
import type { Entry } from '../../../src/nva/model.ts';
import { storeContract } from '../nva/store-contract.ts';

const CLUSTER_TIMEOUT_MS = 60_000;
const VNI = 100;

let cluster: EtcdCluster;
const opened: EtcdStore[] = [];

/** A store on its own prefix, so tests sharing the cluster never see each other's keys. */
async function openStore(prefix?: string): Promise<EtcdStore> {
  const s = await EtcdStore.open({
    hosts: cluster.endpoints(),
    prefix: prefix ?? `/roam-test/${randomBytes(4).toString('hex')}/`,
    ackFlushMs: 20,
  });
  opened.push(s);
  return s;
}

function entry(mac: string, nveId: string, seq: number, ips: string[] = []): Entry {
  return {
    vni: VNI,
    mac,
    ips: ips.map((ip) => ({ ip, seq })),
    nveId,
    nveAddr: `192.0.2.${nveId.replace(/\D/g, '') || '1'}`,
    seq,
    state: 'active',
    changedAt: 1,
    history: [],
  };
}

/** Register `e` unconditionally (the rules are not under test here, the store is). */
async function register(s: EtcdStore, e: Entry) {
  return s.update(
    e.vni,
    e.mac,
    e.ips.map((b) => b.ip),
    () => ({ upserts: [e], result: 'ok' }),
  );
}

beforeAll(async () => {
  cluster = await EtcdCluster.start({ members: 3 });
}, CLUSTER_TIMEOUT_MS);

// The contract every backend keeps (shared with memory and SQLite), each store on a fresh prefix.
storeContract('etcd', async (opts) =>
  EtcdStore.open({
    hosts: cluster.endpoints(),
    prefix: `/roam-contract/${randomBytes(4).toString('hex')}/`,
    ...opts,
  }),
);

afterAll(async () => {
  for (const s of opened) await s.close();
  await cluster?.stop();
});

describe('EtcdStore', () => {
  it('starts empty at revision 0 and writes an entry durably with an etcd revision', async () => {
    const s = await openStore();
    expect(await s.currentRevision()).toBe(0);
    const e = entry('02:00:00:00:00:01', 'nve1', 1, ['10.0.0.1']);
    const r = await register(s, e);
    expect(r.result).toBe('ok');
    expect(r.revision).toBeGreaterThan(0);
    expect(await s.getEntry(VNI, e.mac)).toEqual(e);
    expect(await s.currentRevision()).toBe(r.revision);
    // A second store on the same prefix (another NVA replica) reads the same thing.
    const other = await openStore(s.prefix);
    expect(await other.listEntries(VNI)).toEqual([e]);
  });

  it('says which hosts it could not reach when no etcd answers', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const err = await EtcdStore.open({ hosts: [url], connectTimeoutMs: 3_000 }).catch((e) => e);
    expect(err).toBeInstanceOf(EtcdUnreachableError);
    expect((err as Error).message).toContain(`cannot reach etcd at ${url}`);
  });

  it('writes nothing and uses no revision when the plan is empty', async () => {
    const s = await openStore();
    const r = await s.update(VNI, '02:00:00:00:00:09', [], () => ({ upserts: [], result: 7 }));
    expect(r).toEqual({ result: 7 });
    expect(await s.currentRevision()).toBe(0);
  });

  it('hands update() the other non-withdrawn owners of the IPs asked for', async () => {
    const s = await openStore();
    await register(s, entry('02:00:00:00:00:0a', 'nve1', 1, ['10.0.0.1', '10.0.0.2']));
    await register(s, entry('02:00:00:00:00:0b', 'nve2', 1, ['10.0.0.3']));
    const withdrawn = { ...entry('02:00:00:00:00:0c', 'nve3', 1, ['10.0.0.1']) };
    withdrawn.state = 'withdrawn';
    await register(s, withdrawn);

    const seen: string[][] = [];
    await s.update(VNI, '02:00:00:00:00:0d', ['10.0.0.1', '10.0.0.3'], ({ current, ipOwners }) => {
      expect(current).toBeUndefined();
      seen.push(ipOwners.map((o) => o.mac).sort());
      // Take 10.0.0.1 away from :0a, as the rules do when an IP moves to a new MAC.
      const a = entry('02:00:00:00:00:0a', 'nve1', 1, ['10.0.0.2']);
      return { upserts: [a, entry('02:00:00:00:00:0d', 'nve4', 1, ['10.0.0.1'])], result: null };
    });
    expect(seen.at(-1)).toEqual(['02:00:00:00:00:0a', '02:00:00:00:00:0b']);

    // The index followed: 10.0.0.1 now belongs to :0d only, 10.0.0.2 still to :0a.
    const owners = async (ips: string[]) => {
      let macs: string[] = [];
      await s.update(VNI, '02:00:00:00:00:ff', ips, ({ ipOwners }) => {
        macs = ipOwners.map((o) => o.mac).sort();
        return { upserts: [], result: null };
      });
      return macs;
    };
    expect(await owners(['10.0.0.1'])).toEqual(['02:00:00:00:00:0d']);
    expect(await owners(['10.0.0.2'])).toEqual(['02:00:00:00:00:0a']);
  });

  it('loses no update when two replicas race on one MAC (compare-and-swap on mod_revision)', async () => {
    const a = await openStore();
    const b = await openStore(a.prefix);
    const mac = '02:00:00:00:01:00';
    const PER_REPLICA = 15;
    let calls = 0;
    const bump = (s: EtcdStore, nve: string) =>
      s.update(VNI, mac, ['10.1.0.1'], ({ current }) => {
        calls++;
        return { upserts: [entry(mac, nve, (current?.seq ?? 0) + 1, ['10.1.0.1'])], result: null };
      });
    await Promise.all(
      Array.from({ length: PER_REPLICA }, () => [bump(a, 'nve1'), bump(b, 'nve2')]).flat(),
    );
    // Each replica reads its mirror: the other's last write shows up one watch delivery later.
    for (const s of [a, b]) {
      await waitFor(async () => (await s.getEntry(VNI, mac))?.seq === 2 * PER_REPLICA);
    }
    // Conflicts happened and were retried on fresh data (otherwise the race proved nothing).
    expect(calls).toBeGreaterThan(2 * PER_REPLICA);
  });

  it('commits concurrent updates in shared transactions, each change with its own revision', async () => {
    const s = await openStore();
    const got: number[] = [];
    s.subscribe((c) => got.push(c.revision));
    const N = 60;
    const revs = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        register(s, {
          ...entry(`02:00:00:00:07:${i.toString(16).padStart(2, '0')}`, 'nve1', 1, [`10.7.0.${i}`]),
          vni: VNI + (i % 3),
        }),
      ),
    ).then((rs) => rs.map((r) => r.revision!));
    expect(new Set(revs).size).toBe(N);
    // Group commit: fewer etcd transactions than updates.
    expect(new Set(revs.map(etcdRevisionOf)).size).toBeLessThan(N);
    const sorted = [...revs].sort((a, b) => a - b);
    expect(got).toEqual(sorted);
    expect((await s.changesSince(sorted[0]! - 1)).map((c) => c.revision)).toEqual(sorted);
    const mine = revs.filter((r, i) => i % 3 === 0 && r > sorted[9]!).sort((a, b) => a - b);
    expect((await s.changesSince(sorted[9]!, [VNI])).map((c) => c.revision)).toEqual(mine);
    expect((await s.snapshot([VNI, VNI + 1, VNI + 2])).revision).toBe(sorted[N - 1]);
    expect(await s.currentRevision()).toBe(sorted[N - 1]);
  });

  it('delivers every change, from any replica, to subscribers in revision order', async () => {
    const a = await openStore();
    const b = await openStore(a.prefix);
    const got: Change[] = [];
    b.subscribe((c) => got.push(c));
    const revs: number[] = [];
    for (let i = 1; i <= 5; i++) {
      const r = await register(a, entry(`02:00:00:00:02:0${i}`, 'nve1', 1));
      revs.push(r.revision!);
    }
    revs.push(await a.putMembership({ vni: VNI, nveId: 'nve9', nveAddr: '192.0.2.9' }));
    await waitFor(() => got.length >= revs.length);
    expect(got.map((c) => c.revision)).toEqual(revs);
    expect(got[0]!.upserts[0]!.mac).toBe('02:00:00:00:02:01');
    expect(got[5]!.members).toEqual([{ vni: VNI, nveId: 'nve9', nveAddr: '192.0.2.9' }]);
  });

  it('announces a change to its own replica before update() returns', async () => {
    const s = await openStore();
    const got: number[] = [];
    s.subscribe((c) => got.push(c.revision));
    const r = await register(s, entry('02:00:00:00:02:99', 'nve1', 1));
    expect(got).toContain(r.revision);
  });

  it('replays changes since a revision, per VNI, and says "too old" once compacted', async () => {
    const s = await openStore();
    const r1 = await register(s, entry('02:00:00:00:03:01', 'nve1', 1));
    const other = { ...entry('02:00:00:00:03:02', 'nve1', 1), vni: VNI + 1 };
    const r2 = await register(s, other);
    const r3 = await register(s, entry('02:00:00:00:03:01', 'nve2', 2));

    const all = await s.changesSince(r1.revision! - 1);
    expect(all.map((c) => c.revision)).toEqual([r1.revision, r2.revision, r3.revision]);
    const mine = await s.changesSince(r1.revision!, [VNI]);
    expect(mine.map((c) => c.revision)).toEqual([r3.revision]);
    expect(mine[0]!.upserts[0]!.nveId).toBe('nve2');
    expect(await s.changesSince(r3.revision!)).toEqual([]);

    await s.compact(r2.revision!);
    await expect(s.changesSince(r1.revision! - 1)).rejects.toBeInstanceOf(RevisionTooOldError);
    // From the compaction point on the log still answers.
    expect((await s.changesSince(r2.revision!)).map((c) => c.revision)).toEqual([r3.revision]);
  });

  it('takes a snapshot consistent with the change log', async () => {
    const s = await openStore();
    await s.putMembership({ vni: VNI, nveId: 'nve1', nveAddr: '192.0.2.1' });
    await register(s, entry('02:00:00:00:04:01', 'nve1', 1, ['10.4.0.1']));
    const gone = entry('02:00:00:00:04:02', 'nve1', 1);
    gone.state = 'withdrawn';
    await register(s, gone);
    const snap = await s.snapshot([VNI]);
    expect(snap.entries.map((e) => e.mac)).toEqual(['02:00:00:00:04:01']);
    expect(snap.memberships).toEqual([{ vni: VNI, nveId: 'nve1', nveAddr: '192.0.2.1' }]);
    expect(await s.changesSince(snap.revision)).toEqual([]);
    const later = await register(s, entry('02:00:00:00:04:03', 'nve1', 1));
    expect((await s.changesSince(snap.revision)).map((c) => c.revision)).toEqual([later.revision]);
  });

  it('keeps VN config, memberships, provisions, hints, acks and convergence records', async () => {
    const s = await openStore();
    await s.putVn({ vni: VNI, routed: false, learning: 'open' });
    expect(await s.getVn(VNI)).toEqual({ vni: VNI, routed: false, learning: 'open' });
    expect(await s.listVns()).toHaveLength(1);

    await s.putMembership({ vni: VNI, nveId: 'nve1', nveAddr: '192.0.2.1' });
    expect(await s.deleteMembership(VNI, 'nve1')).toBeGreaterThan(0);
    expect(await s.deleteMembership(VNI, 'nve1')).toBeUndefined();
    expect(await s.listMemberships(VNI)).toEqual([]);

    const p = { vni: VNI, mac: '02:00:00:00:05:01', ips: ['10.5.0.1'], nveId: 'nve1' };
    await s.putProvision(p);
    expect(await s.getProvision(VNI, p.mac)).toEqual(p);
    expect(await s.deleteProvision(VNI, p.mac)).toBe(true);
    expect(await s.deleteProvision(VNI, p.mac)).toBe(false);

    const h = { vni: VNI, mac: p.mac, fromNve: 'nve1', toNve: 'nve2', expiresAt: 5_000 };
    const hr = await s.putHint(h);
    expect((await s.changesSince(hr - 1)).at(-1)?.hint).toEqual(h);
    expect(await s.getHint(VNI, p.mac, 4_999)).toEqual(h);
    expect(await s.getHint(VNI, p.mac, 5_000)).toBeUndefined();
    await s.deleteHint(VNI, p.mac);
    expect(await s.getHint(VNI, p.mac, 0)).toBeUndefined();

    await s.recordAcks([{ nveId: 'nve1', revision: 5, at: 1 }]);
    await s.recordAcks([{ nveId: 'nve1', revision: 3, at: 2 }]); // older: ignored
    expect(await s.listAcks()).toEqual([{ nveId: 'nve1', revision: 5, at: 1 }]);
    // Flushed to etcd, so another replica sees it too.
    const other = await openStore(s.prefix);
    await waitFor(async () => (await other.listAcks()).length === 1);

    for (let i = 1; i <= 3; i++) {
      await s.addConvergence({
        revision: i,
        vni: VNI,
        mac: p.mac,
        registeredAt: i,
        convergedAt: i + 1,
        durationMs: 1,
        nves: 2,
      });
    }
    const conv = await s.listConvergence({ mac: p.mac, limit: 2 });
    expect(conv.map((c) => c.revision)).toEqual([3, 2]);
    // Written to etcd in a batch shortly after: another replica lists them too.
    await waitFor(async () => (await other.listConvergence({ mac: p.mac })).length === 3);
  });

  it(
    'loses no registration when one etcd member of three dies mid-stream',
    async () => {
      const s = await openStore();
      const watcher = await openStore(s.prefix);
      const got = new Set<number>();
      watcher.subscribe((c) => got.add(c.revision));
      const N = 60;
      const revs: number[] = [];
      for (let i = 0; i < N; i++) {
        if (i === N / 3) await cluster.kill(0);
        const mac = `02:00:00:00:06:${i.toString(16).padStart(2, '0')}`;
        revs.push((await register(s, entry(mac, 'nve1', 1, [`10.6.0.${i}`]))).revision!);
      }
      try {
        expect(await s.listEntries(VNI)).toHaveLength(N);
        await waitFor(() => revs.every((r) => got.has(r)));
        // (Not from 0: an earlier test compacted the cluster's history, which is cluster-wide.)
        expect((await s.changesSince(revs[0]! - 1)).map((c) => c.revision)).toEqual(revs);
      } finally {
        await cluster.restart(0);
      }
    },
    CLUSTER_TIMEOUT_MS,
  );
});

async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
