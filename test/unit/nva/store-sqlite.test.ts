import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore, StoreSchemaError } from '../../../src/nva/store-sqlite.ts';
import { entryFor, put, storeContract } from './store-contract.ts';

const dir = mkdtempSync(join(tmpdir(), 'roam-sqlite-'));
let n = 0;
const path = () => join(dir, `nva-${++n}.db`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

storeContract('sqlite', async (opts) => new SqliteStore({ path: path(), ...opts }));

describe('sqlite durability', () => {
  it('reopening the file finds every entry, change, membership, provision and the revision', async () => {
    const file = path();
    const a = new SqliteStore({ path: file, changeLogMax: 50 });
    await a.putVn({ vni: 100, routed: true, learning: 'provisioned' });
    await a.putProvision({ vni: 100, mac: '02:00:00:00:00:01', ips: ['10.1.0.1'] });
    await a.putMembership({ vni: 100, nveId: 'a', nveAddr: '192.0.2.1' });
    // Many updates in one event-loop turn: they share a transaction (group commit).
    const revs = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        put(
          a,
          entryFor(
            `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`,
            { ips: [{ ip: `10.1.${i >> 8}.${i & 0xff}`, seq: 1 }] },
          ),
        ),
      ),
    );
    expect(new Set(revs).size).toBe(100);
    const last = await a.currentRevision();
    await a.close();

    const b = new SqliteStore({ path: file, changeLogMax: 50 });
    expect(await b.currentRevision()).toBe(last);
    expect(await b.listEntries(100)).toHaveLength(100);
    expect(await b.getVn(100)).toMatchObject({ routed: true });
    expect(await b.getProvision(100, '02:00:00:00:00:01')).toMatchObject({ ips: ['10.1.0.1'] });
    expect(await b.listMemberships(100)).toHaveLength(1);
    expect((await b.changesSince(last - 10)).map((c) => c.revision)).toEqual(
      Array.from({ length: 10 }, (_, i) => last - 9 + i),
    );
    await expect(b.changesSince(1)).rejects.toThrow(/no longer in the change log/);
    // The IP index survives too: a new MAC claiming 10.1.0.5 sees its owner.
    let owners = 0;
    await b.update(100, '02:00:00:00:ff:ff', ['10.1.0.5'], (i) => {
      owners = i.ipOwners.length;
      return { upserts: [], result: null };
    });
    expect(owners).toBe(1);
    await b.close();
  });

  it('a change is on disk when update() resolves (read by a second connection)', async () => {
    const file = path();
    const s = new SqliteStore({ path: file });
    const rev = await put(s, entryFor('02:00:00:00:00:01'));
    const other = new Database(file, { readonly: true });
    const row = other.prepare('SELECT body FROM changes WHERE revision = ?').get(rev) as {
      body: string;
    };
    expect(JSON.parse(row.body)).toMatchObject({ revision: rev, vni: 100 });
    other.close();
    await s.close();
  });

  it('snapshots and resumes only show changes that are on disk and were announced', async () => {
    const s = new SqliteStore({ path: path() });
    let announced = 0;
    s.subscribe((c) => (announced = Math.max(announced, c.revision)));
    const batch = (from: number) =>
      Array.from({ length: 10 }, (_, i) =>
        put(s, entryFor(`02:00:00:00:01:${(from + i).toString(16).padStart(2, '0')}`, { ips: [] })),
      );
    // One turn after queuing, a batch is committed and its fsync under way, not finished.
    const first = batch(0);
    await new Promise((r) => setImmediate(r));
    const snap = await s.snapshot([100]);
    expect(snap.revision).toBe(10);
    expect(announced).toBeGreaterThanOrEqual(snap.revision);
    const second = batch(10);
    await new Promise((r) => setImmediate(r));
    const since = await s.changesSince(10);
    expect(since.map((c) => c.revision)).toEqual(Array.from({ length: 10 }, (_, i) => 11 + i));
    expect(announced).toBe(20);
    await Promise.all([...first, ...second]);
    await s.close();
  });

  it("rewriting an entry's IPs finds them by MAC through an index, not a scan of the VNI", async () => {
    const file = path();
    const s = new SqliteStore({ path: file });
    await put(s, entryFor('02:00:00:00:00:01'));
    await s.close();
    const db = new Database(file, { readonly: true });
    const plan = db
      .prepare('EXPLAIN QUERY PLAN DELETE FROM entry_ips WHERE vni = ? AND mac = ?')
      .all(100, '02:00:00:00:00:01') as { detail: string }[];
    db.close();
    expect(plan.map((p) => p.detail).join('\n')).toMatch(
      /USING (COVERING )?INDEX entry_ips_by_mac/,
    );
  });

  it('the WAL is checkpointed into the database file by a worker, not by the committing connection', async () => {
    const file = path();
    const s = new SqliteStore({ path: file, checkpointEveryCommits: 5 });
    const before = statSync(file).size;
    // The store's own connection never checkpoints: its commits only grow the WAL ...
    const own = (s as unknown as { db: Database.Database }).db;
    expect(own.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    for (let i = 0; i < 40; i++) {
      await put(s, entryFor(`02:00:00:00:02:${i.toString(16).padStart(2, '0')}`, { ips: [] }));
    }
    // ... and the worker copies them into the database file meanwhile.
    const deadline = Date.now() + 5_000;
    while (statSync(file).size <= before && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(statSync(file).size).toBeGreaterThan(before);
    await s.close();
    // Closing waited for the worker: the file is whole and readable alone.
    const db = new Database(file, { readonly: true });
    expect((db.prepare('SELECT COUNT(*) AS n FROM entries').get() as { n: number }).n).toBe(40);
    db.close();
  });

  it('VN configs are cached: a read is a copy, a put is seen at once', async () => {
    const s = new SqliteStore({ path: path() });
    expect(await s.getVn(7)).toBeUndefined();
    await s.putVn({ vni: 7, routed: false, learning: 'open' });
    const got = await s.getVn(7);
    expect(got).toEqual({ vni: 7, routed: false, learning: 'open' });
    got!.learning = 'provisioned';
    expect((await s.getVn(7))?.learning).toBe('open');
    await s.putVn({ vni: 7, routed: true, learning: 'provisioned' });
    expect(await s.getVn(7)).toEqual({ vni: 7, routed: true, learning: 'provisioned' });
    await s.close();
  });

  it('refuses a database from a newer schema with a clear error', async () => {
    const file = path();
    const db = new Database(file);
    db.exec(
      "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); INSERT INTO meta VALUES ('schema_version', '99')",
    );
    db.close();
    expect(() => new SqliteStore({ path: file })).toThrow(StoreSchemaError);
  });
});
