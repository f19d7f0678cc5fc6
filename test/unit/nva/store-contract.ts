// The contract every DirectoryStore backend must keep, as one suite run against each backend
// (memory, SQLite here; the etcd store can run it too). `make` returns a fresh, empty store.
import { afterEach, describe, expect, it } from 'vitest';
import type { Entry } from '../../../src/nva/model.ts';
import { RevisionTooOldError, type Change, type DirectoryStore } from '../../../src/nva/store.ts';

const VNI = 100;

export function entryFor(mac: string, over: Partial<Entry> = {}): Entry {
  return {
    vni: VNI,
    mac,
    ips: [{ ip: '10.1.0.1', seq: 1 }],
    nveId: 'a',
    nveAddr: '192.0.2.1',
    seq: 1,
    state: 'active',
    changedAt: 1,
    history: [],
    ...over,
  };
}

/** Write `e` unconditionally through update(). */
export async function put(store: DirectoryStore, e: Entry): Promise<number> {
  const r = await store.update(
    e.vni,
    e.mac,
    e.ips.map((b) => b.ip),
    () => ({ upserts: [e], result: null }),
  );
  if (r.revision === undefined) throw new Error('no revision');
  return r.revision;
}

export function storeContract(
  name: string,
  make: (opts: { changeLogMax?: number }) => Promise<DirectoryStore>,
): void {
  describe(`${name} store contract`, () => {
    const open: DirectoryStore[] = [];
    const fresh = async (opts: { changeLogMax?: number } = {}) => {
      const s = await make(opts);
      open.push(s);
      return s;
    };
    afterEach(async () => {
      for (const s of open.splice(0)) await s.close();
    });

    it('update writes, returns increasing revisions, and a no-op uses none', async () => {
      const s = await fresh();
      expect(await s.currentRevision()).toBe(0);
      const r1 = await put(s, entryFor('02:00:00:00:00:01'));
      const r2 = await put(s, entryFor('02:00:00:00:00:02', { ips: [{ ip: '10.1.0.2', seq: 1 }] }));
      expect(r2).toBeGreaterThan(r1);
      const noop = await s.update(VNI, '02:00:00:00:00:01', [], () => ({
        upserts: [],
        result: 'same',
      }));
      expect(noop).toEqual({ result: 'same' });
      expect(await s.currentRevision()).toBe(r2);
      expect(await s.getEntry(VNI, '02:00:00:00:00:01')).toMatchObject({ nveId: 'a', seq: 1 });
      expect((await s.listEntries(VNI)).length).toBe(2);
      expect(await s.listEntries(VNI + 1)).toEqual([]);
    });

    it('update sees the current entry and the other owners of its IPs', async () => {
      const s = await fresh();
      await put(s, entryFor('02:00:00:00:00:01'));
      await put(s, entryFor('02:00:00:00:00:03', { state: 'withdrawn' })); // withdrawn: not an owner
      let seen: unknown;
      await s.update(VNI, '02:00:00:00:00:02', ['10.1.0.1', '10.1.0.9'], (input) => {
        seen = input;
        return { upserts: [], result: null };
      });
      expect(seen).toMatchObject({ current: undefined, ipOwners: [{ mac: '02:00:00:00:00:01' }] });
      expect((seen as { ipOwners: unknown[] }).ipOwners).toHaveLength(1);
    });

    it('concurrent updates of one key are applied one after the other (no lost update)', async () => {
      const s = await fresh();
      const mac = '02:00:00:00:00:01';
      await put(s, entryFor(mac, { seq: 0 }));
      await Promise.all(
        Array.from({ length: 20 }, () =>
          s.update(VNI, mac, [], ({ current }) => {
            const next = { ...(current as Entry), seq: (current as Entry).seq + 1 };
            return { upserts: [next], result: next.seq };
          }),
        ),
      );
      expect((await s.getEntry(VNI, mac))?.seq).toBe(20);
    });

    it('changesSince, snapshot and subscribe agree', async () => {
      const s = await fresh();
      const seen: Change[] = [];
      s.subscribe((c) => seen.push(c));
      const m = await s.putMembership({ vni: VNI, nveId: 'a', nveAddr: '192.0.2.1' });
      const r1 = await put(s, entryFor('02:00:00:00:00:01'));
      const r2 = await put(s, entryFor('02:00:00:00:00:09', { vni: 200 }));
      const r3 = await put(s, entryFor('02:00:00:00:00:01', { state: 'withdrawn' }));
      expect(seen.map((c) => c.revision)).toEqual([m, r1, r2, r3]);
      expect(seen[0]?.members).toEqual([{ vni: VNI, nveId: 'a', nveAddr: '192.0.2.1' }]);
      const since = await s.changesSince(m, [VNI]);
      expect(since.map((c) => c.revision)).toEqual([r1, r3]);
      expect(since[1]?.upserts[0]?.state).toBe('withdrawn');
      const snap = await s.snapshot([VNI]);
      expect(snap.revision).toBe(r3);
      expect(snap.entries).toEqual([]); // withdrawn entries are not in snapshots
      expect(snap.memberships).toHaveLength(1);
      expect(await s.changesSince(r3)).toEqual([]);
      await expect(s.changesSince(r3 + 5)).rejects.toBeInstanceOf(RevisionTooOldError);
    });

    it('the change log is bounded; a resume from before it is "too old"', async () => {
      const s = await fresh({ changeLogMax: 3 });
      // Revisions may have gaps (etcd's do), so compare with the ones returned, not 1..6.
      const revs: number[] = [];
      for (let i = 1; i <= 6; i++) revs.push(await put(s, entryFor(`02:00:00:00:00:0${i}`)));
      expect((await s.changesSince(revs[2]!)).map((c) => c.revision)).toEqual(revs.slice(3));
      const err = await s.changesSince(revs[0]!).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RevisionTooOldError);
      expect((err as RevisionTooOldError).oldest).toBe(revs[2]);
    });

    it('announceVn: a VN config reaches NVEs through the change log (L3 overlay)', async () => {
      const s = await fresh();
      const cfg = {
        vni: 5001,
        routed: false,
        learning: 'provisioned' as const,
        l3: { kind: 'vrf' as const, vrf: 1, routerMac: '02:00:5e:00:01:01' },
      };
      const heard: Change[] = [];
      const off = s.subscribe((c) => heard.push(c));
      // (from a revision > 0: the etcd store replays its log from an etcd revision)
      const before = await s.putMembership({ vni: 100, nveId: 'a', nveAddr: '192.0.2.1' });
      heard.length = 0;
      const rev = await s.announceVn(cfg);
      expect(rev).toBeGreaterThan(before);
      expect(await s.getVn(5001)).toEqual(cfg);
      const [c] = await s.changesSince(before);
      expect(c).toMatchObject({ revision: rev, vni: 5001, upserts: [], vnConfig: cfg });
      expect(heard.map((h) => h.vnConfig)).toEqual([cfg]);
      off();
    });

    it('memberships, VNs, provisions, hints, acks, convergence', async () => {
      const s = await fresh();
      await s.putVn({ vni: VNI, routed: false, learning: 'open' });
      expect(await s.getVn(VNI)).toEqual({ vni: VNI, routed: false, learning: 'open' });
      expect(await s.listVns()).toHaveLength(1);
      await s.putMembership({ vni: VNI, nveId: 'a', nveAddr: '192.0.2.1' });
      await s.putMembership({ vni: VNI, nveId: 'b', nveAddr: '192.0.2.2' });
      expect(await s.deleteMembership(VNI, 'a')).toBeGreaterThan(0);
      expect(await s.deleteMembership(VNI, 'zz')).toBeUndefined();
      expect((await s.listMemberships(VNI)).map((m) => m.nveId)).toEqual(['b']);
      await s.putProvision({ vni: VNI, mac: '02:00:00:00:00:01', ips: ['10.1.0.1'], nveId: 'b' });
      expect(await s.getProvision(VNI, '02:00:00:00:00:01')).toMatchObject({ nveId: 'b' });
      expect(await s.listProvisions(VNI)).toHaveLength(1);
      expect(await s.deleteProvision(VNI, '02:00:00:00:00:01')).toBe(true);
      expect(await s.deleteProvision(VNI, '02:00:00:00:00:01')).toBe(false);
      const hint = {
        vni: VNI,
        mac: '02:00:00:00:00:01',
        fromNve: 'a',
        toNve: 'b',
        expiresAt: 1000,
      };
      const seen: Change[] = [];
      s.subscribe((c) => seen.push(c));
      await s.putHint(hint);
      expect(seen[0]?.hint).toEqual(hint);
      expect(await s.getHint(VNI, hint.mac, 999)).toEqual(hint);
      expect(await s.getHint(VNI, hint.mac, 1000)).toBeUndefined(); // expired
      await s.deleteHint(VNI, hint.mac);
      expect(await s.getHint(VNI, hint.mac, 0)).toBeUndefined();
      await s.recordAcks([{ nveId: 'b', revision: 5, at: 1 }]);
      await s.recordAcks([{ nveId: 'b', revision: 3, at: 2 }]); // older: ignored
      expect(await s.listAcks()).toEqual([{ nveId: 'b', revision: 5, at: 1 }]);
      for (let i = 1; i <= 3; i++) {
        await s.addConvergence({
          revision: i,
          vni: VNI,
          mac: '02:00:00:00:00:01',
          registeredAt: 0,
          convergedAt: i,
          durationMs: i,
          nves: 2,
        });
      }
      const conv = await s.listConvergence({ vni: VNI, mac: '02:00:00:00:00:01', limit: 2 });
      expect(conv.map((c) => c.revision)).toEqual([3, 2]);
    });
  });
}
