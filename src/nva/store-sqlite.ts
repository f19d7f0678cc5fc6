// The embedded directory store: one SQLite file (better-sqlite3) in WAL mode. Every change is on
// disk before update() resolves and before any NVE hears of it: SQLite runs with
// synchronous=NORMAL (checkpoints are synced) and the store syncs the WAL file itself after each
// commit (fdatasync, which SQLite itself uses when built with HAVE_FDATASYNC; better-sqlite3's
// build is not, so its own syncs are fsyncs: the data and the file's size are synced, not the
// mtime, so a WAL overwritten in place after a checkpoint does not wait for a journal commit on a
// journalled ext4; this machine's ext4 has no journal), off
// the event loop (libuv's thread pool). That is what synchronous=FULL does, without blocking every
// NVE stream for the length of an fsync. An update to an idle store is committed
// at once (its fsync starts without waiting for the rest of the event-loop turn); while an fsync
// runs, updates queued in one turn share a transaction, and transactions committed during an fsync
// share the next one (group commit). Checkpoints run in a worker thread (sqlite-checkpointer.ts).
// Reads that feed NVEs (snapshot, changesSince) wait until what they see is on disk. The schema is
// versioned; the change log used for resume is trimmed to a bounded size. NVE acks are kept in
// memory only: NVEs ack again after a restart, and a million acks on disk would cost for nothing.
import Database from 'better-sqlite3';
import { closeSync, fdatasync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { WalCheckpointer } from './sqlite-checkpointer.ts';
import type {
  ConvergenceRecord,
  Entry,
  Mac,
  Membership,
  MoveHint,
  Provision,
  VnConfig,
  Vni,
} from './model.ts';
import {
  RevisionTooOldError,
  type AckRecord,
  type Change,
  type ChangeListener,
  type DirectoryStore,
  type EntryUpdateFn,
  type EntryUpdateResult,
  type Snapshot,
} from './store.ts';

/** Version of the on-disk schema; bump with a migration step in migrate(). */
export const SCHEMA_VERSION = 1;
export const DEFAULT_CHANGE_LOG_MAX = 100_000;
export const DEFAULT_CONVERGENCE_MAX = 10_000;
/** Convergence records are written in batches at most this often (measurements, not state). */
export const CONVERGENCE_FLUSH_MS = 100;

export interface SqliteStoreOptions {
  path: string;
  changeLogMax?: number;
  convergenceMax?: number;
  /** WAL checkpoints (in a worker thread) after this many commits (sqlite-checkpointer.ts). */
  checkpointEveryCommits?: number;
  now?: () => number;
}

/** The database file was written by a newer roam, or is not a roam NVA database. */
export class StoreSchemaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreSchemaError';
  }
}

interface PendingUpdate {
  vni: Vni;
  mac: Mac;
  ips: readonly string[];
  fn: EntryUpdateFn<unknown>;
  resolve: (r: EntryUpdateResult<unknown>) => void;
  reject: (e: unknown) => void;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
  vni INTEGER NOT NULL, mac TEXT NOT NULL, state TEXT NOT NULL, body TEXT NOT NULL,
  PRIMARY KEY (vni, mac));
-- Which live MAC holds which IP: answers "who else claims this IP" without a scan.
CREATE TABLE IF NOT EXISTS entry_ips (
  vni INTEGER NOT NULL, ip TEXT NOT NULL, mac TEXT NOT NULL, PRIMARY KEY (vni, ip, mac));
CREATE TABLE IF NOT EXISTS changes (revision INTEGER PRIMARY KEY, vni INTEGER NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vns (vni INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS memberships (
  vni INTEGER NOT NULL, nve_id TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (vni, nve_id));
CREATE TABLE IF NOT EXISTS provisions (
  vni INTEGER NOT NULL, mac TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (vni, mac));
CREATE TABLE IF NOT EXISTS hints (
  vni INTEGER NOT NULL, mac TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (vni, mac));
CREATE TABLE IF NOT EXISTS convergence (
  id INTEGER PRIMARY KEY AUTOINCREMENT, vni INTEGER NOT NULL, mac TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS convergence_by_mac ON convergence (vni, mac, id);
`;

export class SqliteStore implements DirectoryStore {
  readonly kind = 'sqlite';
  private readonly db: Database.Database;
  private readonly listeners = new Set<ChangeListener>();
  private readonly acks = new Map<string, AckRecord>();
  /** VN configs as last written (read once per registration; only putVn changes them). */
  private readonly vnCache = new Map<Vni, VnConfig | null>();
  /**
   * Provisions and hints as last written, by vni/mac (null: none), for the same reason: each
   * registration reads both, and this process is the file's only writer.
   */
  private readonly provisionCache = new Map<string, Provision | null>();
  private readonly hintCache = new Map<string, MoveHint | null>();
  private pending: PendingUpdate[] = [];
  private walFd: number | undefined;
  /** An fsync of the WAL is under way. */
  private syncing = false;
  /** Run after the next fsync that starts after they were queued (their commit is then durable). */
  private syncWaiters: ((err: Error | null) => void)[] = [];
  /** Highest revision known to be on disk. */
  private durableRevision = 0;
  private convPending: ConvergenceRecord[] = [];
  private convTimer: NodeJS.Timeout | undefined;
  private readonly checkpointer: WalCheckpointer | undefined;
  private flushScheduled = false;
  private revision: number;
  private trimmedTo: number;
  private readonly changeLogMax: number;
  private readonly convergenceMax: number;
  private readonly now: () => number;
  private readonly q;

  constructor(opts: SqliteStoreOptions) {
    this.changeLogMax = opts.changeLogMax ?? DEFAULT_CHANGE_LOG_MAX;
    this.convergenceMax = opts.convergenceMax ?? DEFAULT_CONVERGENCE_MAX;
    this.now = opts.now ?? Date.now;
    if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true });
    this.db = new Database(opts.path);
    this.db.pragma('journal_mode = WAL');
    // NORMAL: commits are not synced by SQLite (we fsync the WAL asynchronously), checkpoints are.
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    // The WAL file exists from the first write (migrate) until the last connection closes.
    this.walFd = opts.path === ':memory:' ? undefined : openSync(`${opts.path}-wal`, 'r');
    if (opts.path !== ':memory:') {
      this.checkpointer = new WalCheckpointer(this.db, opts.path, opts.checkpointEveryCommits);
    }
    const db = this.db;
    this.q = {
      getMeta: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
      setMeta: db.prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      ),
      getEntry: db.prepare<[number, string], { body: string }>(
        'SELECT body FROM entries WHERE vni = ? AND mac = ?',
      ),
      putEntry: db.prepare(
        'INSERT INTO entries (vni, mac, state, body) VALUES (?, ?, ?, ?) ON CONFLICT(vni, mac) DO UPDATE SET state = excluded.state, body = excluded.body',
      ),
      entriesOfVni: db.prepare<[number], { body: string }>(
        'SELECT body FROM entries WHERE vni = ?',
      ),
      allEntries: db.prepare<[], { body: string }>('SELECT body FROM entries'),
      liveEntriesOfVni: db.prepare<[number], { body: string }>(
        "SELECT body FROM entries WHERE vni = ? AND state != 'withdrawn'",
      ),
      ipOwners: db.prepare<[number, string, string], { mac: string }>(
        'SELECT mac FROM entry_ips WHERE vni = ? AND ip = ? AND mac != ?',
      ),
      delIps: db.prepare('DELETE FROM entry_ips WHERE vni = ? AND mac = ?'),
      addIp: db.prepare('INSERT OR IGNORE INTO entry_ips (vni, ip, mac) VALUES (?, ?, ?)'),
      addChange: db.prepare('INSERT INTO changes (revision, vni, body) VALUES (?, ?, ?)'),
      changesSince: db.prepare<[number], { body: string }>(
        'SELECT body FROM changes WHERE revision > ? ORDER BY revision',
      ),
      trim: db.prepare('DELETE FROM changes WHERE revision <= ?'),
      putVn: db.prepare(
        'INSERT INTO vns (vni, body) VALUES (?, ?) ON CONFLICT(vni) DO UPDATE SET body = excluded.body',
      ),
      getVn: db.prepare<[number], { body: string }>('SELECT body FROM vns WHERE vni = ?'),
      listVns: db.prepare<[], { body: string }>('SELECT body FROM vns ORDER BY vni'),
      putMember: db.prepare(
        'INSERT INTO memberships (vni, nve_id, body) VALUES (?, ?, ?) ON CONFLICT(vni, nve_id) DO UPDATE SET body = excluded.body',
      ),
      delMember: db.prepare('DELETE FROM memberships WHERE vni = ? AND nve_id = ?'),
      membersOfVni: db.prepare<[number], { body: string }>(
        'SELECT body FROM memberships WHERE vni = ?',
      ),
      allMembers: db.prepare<[], { body: string }>('SELECT body FROM memberships'),
      putProvision: db.prepare(
        'INSERT INTO provisions (vni, mac, body) VALUES (?, ?, ?) ON CONFLICT(vni, mac) DO UPDATE SET body = excluded.body',
      ),
      getProvision: db.prepare<[number, string], { body: string }>(
        'SELECT body FROM provisions WHERE vni = ? AND mac = ?',
      ),
      delProvision: db.prepare('DELETE FROM provisions WHERE vni = ? AND mac = ?'),
      provisionsOfVni: db.prepare<[number], { body: string }>(
        'SELECT body FROM provisions WHERE vni = ?',
      ),
      allProvisions: db.prepare<[], { body: string }>('SELECT body FROM provisions'),
      putHint: db.prepare(
        'INSERT INTO hints (vni, mac, body) VALUES (?, ?, ?) ON CONFLICT(vni, mac) DO UPDATE SET body = excluded.body',
      ),
      getHint: db.prepare<[number, string], { body: string }>(
        'SELECT body FROM hints WHERE vni = ? AND mac = ?',
      ),
      delHint: db.prepare('DELETE FROM hints WHERE vni = ? AND mac = ?'),
      addConv: db.prepare('INSERT INTO convergence (vni, mac, body) VALUES (?, ?, ?)'),
      trimConv: db.prepare(
        'DELETE FROM convergence WHERE id <= (SELECT MAX(id) FROM convergence) - ?',
      ),
      listConv: db.prepare<[number], { body: string; vni: number; mac: string }>(
        'SELECT body, vni, mac FROM convergence ORDER BY id DESC LIMIT ?',
      ),
      listConvMac: db.prepare<[number, string, number], { body: string }>(
        'SELECT body FROM convergence WHERE vni = ? AND mac = ? ORDER BY id DESC LIMIT ?',
      ),
    };
    this.revision = Number(this.q.getMeta.get('revision')?.value ?? 0);
    this.trimmedTo = Number(this.q.getMeta.get('trimmed_to')?.value ?? 0);
  }

  /** Create the schema on a new file; refuse a file from a newer roam. */
  private migrate(): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
    const row = this.db
      .prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'schema_version'")
      .get();
    const version = row ? Number(row.value) : 0;
    if (version > SCHEMA_VERSION) {
      throw new StoreSchemaError(
        `the NVA database has schema version ${version}, newer than this roam understands (${SCHEMA_VERSION})`,
      );
    }
    if (version < SCHEMA_VERSION) {
      this.db.transaction(() => {
        this.db.exec(SCHEMA);
        this.db
          .prepare(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
          )
          .run(String(SCHEMA_VERSION));
      })();
    }
    // Added after version 1 shipped, harmless to older readers: without it, rewriting an entry's
    // IPs (DELETE ... WHERE vni AND mac) scanned every IP of the VNI, the top cost of a move.
    this.db.exec('CREATE INDEX IF NOT EXISTS entry_ips_by_mac ON entry_ips (vni, mac)');
  }

  async getEntry(vni: Vni, mac: Mac): Promise<Entry | undefined> {
    return this.readEntry(vni, mac);
  }

  async listEntries(vni?: Vni): Promise<Entry[]> {
    const rows = vni === undefined ? this.q.allEntries.all() : this.q.entriesOfVni.all(vni);
    return rows.map((r) => JSON.parse(r.body) as Entry);
  }

  update<R>(
    vni: Vni,
    mac: Mac,
    ips: readonly string[],
    fn: EntryUpdateFn<R>,
  ): Promise<EntryUpdateResult<R>> {
    return new Promise((resolve, reject) => {
      this.pending.push({
        vni,
        mac,
        ips,
        fn: fn as EntryUpdateFn<unknown>,
        resolve: resolve as (r: EntryUpdateResult<unknown>) => void,
        reject,
      });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        // Idle: commit as soon as this task is done, so the fsync starts at once (a lone move
        // waited ~0.5 ms for the rest of the turn, acks of the previous move mostly). An fsync
        // under way: everything queued this turn shares one transaction, and the next fsync.
        if (this.syncing) setImmediate(() => this.flush());
        else queueMicrotask(() => this.flush());
      }
    });
  }

  /** Group commit: apply every queued update in one transaction, then answer and notify. */
  private flush(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    const results: { p: PendingUpdate; result: unknown; revision?: number; error?: unknown }[] = [];
    const changes: Change[] = [];
    const startRevision = this.revision;
    try {
      this.db.transaction(() => {
        for (const p of batch) {
          let plan;
          let current: Entry | undefined;
          try {
            current = this.readEntry(p.vni, p.mac);
            plan = p.fn({ current, ipOwners: this.readIpOwners(p.vni, p.mac, p.ips) });
          } catch (error) {
            results.push({ p, result: undefined, error });
            continue;
          }
          if (plan.upserts.length === 0) {
            results.push({ p, result: plan.result });
            continue;
          }
          const bodies = plan.upserts.map((e) =>
            this.writeEntry(e, e.vni === p.vni && e.mac === p.mac ? current : undefined),
          );
          const change = this.appendChange(
            { vni: p.vni, upserts: plan.upserts, cause: plan.cause },
            bodies,
          );
          changes.push(change);
          results.push({ p, result: plan.result, revision: change.revision });
        }
        this.q.setMeta.run('revision', String(this.revision));
        this.trimLog();
      })();
    } catch (err) {
      this.revision = startRevision;
      for (const p of batch) p.reject(err);
      return;
    }
    this.checkpointer?.committed();
    this.afterSync((syncErr) => {
      if (!syncErr) for (const c of changes) this.notify(c);
      for (const r of results) {
        if (syncErr || r.error !== undefined) r.p.reject(syncErr ?? r.error);
        else
          r.p.resolve(
            r.revision === undefined
              ? { result: r.result }
              : { result: r.result, revision: r.revision },
          );
      }
    });
  }

  /** Queue `fn` for after the next WAL fsync; start one if none is running. */
  private afterSync(fn: (err: Error | null) => void): void {
    this.syncWaiters.push(fn);
    if (!this.syncing) this.startSync();
  }

  private startSync(): void {
    const waiters = this.syncWaiters;
    this.syncWaiters = [];
    const upTo = this.revision;
    const done = (err: Error | null) => {
      this.syncing = false;
      if (!err) this.durableRevision = Math.max(this.durableRevision, upTo);
      for (const w of waiters) w(err);
      if (this.syncWaiters.length > 0) this.startSync();
    };
    this.syncing = true;
    if (this.walFd === undefined) setImmediate(() => done(null));
    else fdatasync(this.walFd, (err) => done(err));
  }

  /** Resolves once a write just made is on disk (always waits for an fsync). */
  private synced(): Promise<void> {
    return new Promise((resolve, reject) =>
      this.afterSync((err) => (err ? reject(err) : resolve())),
    );
  }

  /** Resolves once every change up to `revision` is on disk (and its listeners were told). */
  private async durableUpTo(revision: number): Promise<void> {
    while (this.durableRevision < revision) {
      await new Promise<void>((resolve, reject) =>
        this.afterSync((err) => (err ? reject(err) : resolve())),
      );
    }
  }

  private readEntry(vni: Vni, mac: Mac): Entry | undefined {
    const row = this.q.getEntry.get(vni, mac);
    return row ? (JSON.parse(row.body) as Entry) : undefined;
  }

  private readIpOwners(vni: Vni, mac: Mac, ips: readonly string[]): Entry[] {
    const macs = new Set<string>();
    for (const ip of ips) for (const r of this.q.ipOwners.all(vni, ip, mac)) macs.add(r.mac);
    return [...macs].map((m) => this.readEntry(vni, m)).filter((e): e is Entry => e !== undefined);
  }

  /**
   * Write an entry and its IP index; returns its JSON body. `before`: the entry as stored, when
   * known: a move that keeps its IPs (most do) leaves the index as it is.
   */
  private writeEntry(e: Entry, before?: Entry): string {
    const body = JSON.stringify(e);
    this.q.putEntry.run(e.vni, e.mac, e.state, body);
    const live = e.state !== 'withdrawn';
    if (before && (before.state !== 'withdrawn') === live && sameIps(before, e)) return body;
    this.q.delIps.run(e.vni, e.mac);
    if (live) for (const b of e.ips) this.q.addIp.run(e.vni, b.ip, e.mac);
    return body;
  }

  /** Append to the change log; `bodies`: the upserts' JSON, when writeEntry already made it. */
  private appendChange(c: Omit<Change, 'revision' | 'at'>, bodies?: readonly string[]): Change {
    this.revision += 1;
    const change: Change = { ...c, revision: this.revision, at: this.now() };
    const json = bodies
      ? `${JSON.stringify({ ...change, upserts: undefined }).slice(0, -1)},"upserts":[${bodies.join(',')}]}`
      : JSON.stringify(change);
    this.q.addChange.run(change.revision, change.vni, json);
    return change;
  }

  private trimLog(): void {
    const floor = this.revision - this.changeLogMax;
    if (floor > this.trimmedTo) {
      this.q.trim.run(floor);
      this.trimmedTo = floor;
      this.q.setMeta.run('trimmed_to', String(floor));
    }
  }

  /** One-change transaction for admin writes (memberships, hints), durable before it returns. */
  private async commitOne(write: () => void, c: Omit<Change, 'revision' | 'at'>): Promise<number> {
    const start = this.revision;
    let change: Change | undefined;
    try {
      this.db.transaction(() => {
        write();
        change = this.appendChange(c);
        this.q.setMeta.run('revision', String(this.revision));
        this.trimLog();
      })();
    } catch (err) {
      this.revision = start;
      throw err;
    }
    this.checkpointer?.committed();
    const committed = change as Change;
    await new Promise<void>((resolve, reject) =>
      this.afterSync((err) => {
        if (err) return reject(err);
        this.notify(committed);
        resolve();
      }),
    );
    return committed.revision;
  }

  private notify(c: Change): void {
    for (const l of this.listeners) l(c);
  }

  async currentRevision(): Promise<number> {
    const revision = this.revision;
    await this.durableUpTo(revision);
    return revision;
  }

  async changesSince(revision: number, vnis?: readonly Vni[]): Promise<Change[]> {
    if (revision < this.trimmedTo || revision > this.revision) {
      throw new RevisionTooOldError(revision, this.trimmedTo);
    }
    const want = vnis && new Set(vnis);
    const out: Change[] = [];
    for (const r of this.q.changesSince.iterate(revision)) {
      const c = JSON.parse(r.body) as Change;
      if (!want || want.has(c.vni)) out.push(c);
    }
    // Never hand out a change that is not on disk yet (nor one listeners have not heard of).
    await this.durableUpTo(this.revision);
    return out;
  }

  async snapshot(vnis: readonly Vni[]): Promise<Snapshot> {
    // Synchronous reads: no write can interleave, so this is consistent at this.revision.
    const entries: Entry[] = [];
    const memberships: Membership[] = [];
    for (const vni of new Set(vnis)) {
      for (const r of this.q.liveEntriesOfVni.all(vni)) entries.push(JSON.parse(r.body) as Entry);
      for (const r of this.q.membersOfVni.all(vni))
        memberships.push(JSON.parse(r.body) as Membership);
    }
    const revision = this.revision;
    await this.durableUpTo(revision); // what it shows must be on disk before an NVE sees it
    return { revision, entries, memberships };
  }

  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async putVn(cfg: VnConfig): Promise<void> {
    this.q.putVn.run(cfg.vni, JSON.stringify(cfg));
    this.vnCache.delete(cfg.vni);
    await this.synced();
  }

  async announceVn(cfg: VnConfig): Promise<number> {
    return this.commitOne(
      () => {
        this.q.putVn.run(cfg.vni, JSON.stringify(cfg));
        this.vnCache.delete(cfg.vni);
      },
      { vni: cfg.vni, upserts: [], vnConfig: cfg },
    );
  }

  async getVn(vni: Vni): Promise<VnConfig | undefined> {
    let cfg = this.vnCache.get(vni);
    if (cfg === undefined) {
      const r = this.q.getVn.get(vni);
      cfg = r ? (JSON.parse(r.body) as VnConfig) : null;
      this.vnCache.set(vni, cfg);
    }
    return cfg ? { ...cfg } : undefined; // a copy: callers may not change the cache
  }

  async listVns(): Promise<VnConfig[]> {
    return this.q.listVns.all().map((r) => JSON.parse(r.body) as VnConfig);
  }

  async putMembership(m: Membership): Promise<number> {
    return this.commitOne(() => this.q.putMember.run(m.vni, m.nveId, JSON.stringify(m)), {
      vni: m.vni,
      upserts: [],
      members: [m],
    });
  }

  async deleteMembership(vni: Vni, nveId: string): Promise<number | undefined> {
    const exists = this.q.membersOfVni
      .all(vni)
      .some((r) => (JSON.parse(r.body) as Membership).nveId === nveId);
    if (!exists) return undefined;
    return this.commitOne(() => this.q.delMember.run(vni, nveId), {
      vni,
      upserts: [],
      membersRemoved: [nveId],
    });
  }

  async listMemberships(vni?: Vni): Promise<Membership[]> {
    const rows = vni === undefined ? this.q.allMembers.all() : this.q.membersOfVni.all(vni);
    return rows.map((r) => JSON.parse(r.body) as Membership);
  }

  async putProvision(p: Provision): Promise<void> {
    const body = JSON.stringify(p);
    this.q.putProvision.run(p.vni, p.mac, body);
    this.provisionCache.set(`${p.vni}/${p.mac}`, JSON.parse(body) as Provision);
    await this.synced();
  }

  async getProvision(vni: Vni, mac: Mac): Promise<Provision | undefined> {
    const key = `${vni}/${mac}`;
    let p = this.provisionCache.get(key);
    if (p === undefined) {
      const r = this.q.getProvision.get(vni, mac);
      p = r ? (JSON.parse(r.body) as Provision) : null;
      this.provisionCache.set(key, p);
    }
    return p ? structuredClone(p) : undefined; // a copy: callers may not change the cache
  }

  async deleteProvision(vni: Vni, mac: Mac): Promise<boolean> {
    const deleted = this.q.delProvision.run(vni, mac).changes > 0;
    this.provisionCache.set(`${vni}/${mac}`, null);
    await this.synced();
    return deleted;
  }

  async listProvisions(vni?: Vni): Promise<Provision[]> {
    const rows = vni === undefined ? this.q.allProvisions.all() : this.q.provisionsOfVni.all(vni);
    return rows.map((r) => JSON.parse(r.body) as Provision);
  }

  async putHint(h: MoveHint): Promise<number> {
    const body = JSON.stringify(h);
    // A failed commit leaves the cache unsure: read the table again next time.
    const forget = (err: unknown) => {
      this.hintCache.delete(`${h.vni}/${h.mac}`);
      throw err;
    };
    return this.commitOne(
      () => {
        this.q.putHint.run(h.vni, h.mac, body);
        this.hintCache.set(`${h.vni}/${h.mac}`, JSON.parse(body) as MoveHint);
      },
      { vni: h.vni, upserts: [], hint: h },
    ).catch(forget);
  }

  async getHint(vni: Vni, mac: Mac, now: number): Promise<MoveHint | undefined> {
    const key = `${vni}/${mac}`;
    let h = this.hintCache.get(key);
    if (h === undefined) {
      const r = this.q.getHint.get(vni, mac);
      h = r ? (JSON.parse(r.body) as MoveHint) : null;
      this.hintCache.set(key, h);
    }
    return h && h.expiresAt > now ? { ...h } : undefined;
  }

  async deleteHint(vni: Vni, mac: Mac): Promise<void> {
    this.q.delHint.run(vni, mac);
    this.hintCache.set(`${vni}/${mac}`, null);
  }

  async recordAcks(acks: readonly AckRecord[]): Promise<void> {
    for (const a of acks) {
      const prev = this.acks.get(a.nveId);
      if (!prev || prev.revision <= a.revision) this.acks.set(a.nveId, { ...a });
    }
  }

  async listAcks(): Promise<AckRecord[]> {
    return [...this.acks.values()].map((a) => ({ ...a }));
  }

  async addConvergence(rec: ConvergenceRecord): Promise<void> {
    // Measurements, not directory state: written in batches (one fsync per batch).
    // (A transaction per move cost ~10 % of the NVA's CPU with moves one at a time.)
    this.convPending.push(rec);
    if (this.convTimer === undefined) {
      this.convTimer = setTimeout(() => this.flushConvergence(), CONVERGENCE_FLUSH_MS);
      this.convTimer.unref();
    }
  }

  private flushConvergence(): void {
    clearTimeout(this.convTimer);
    this.convTimer = undefined;
    const batch = this.convPending;
    this.convPending = [];
    if (batch.length === 0 || !this.db.open) return;
    this.db.transaction(() => {
      for (const rec of batch) this.q.addConv.run(rec.vni, rec.mac, JSON.stringify(rec));
      this.q.trimConv.run(this.convergenceMax);
    })();
    this.checkpointer?.committed();
  }

  async listConvergence(
    opts: { vni?: Vni; mac?: Mac; limit?: number } = {},
  ): Promise<ConvergenceRecord[]> {
    this.flushConvergence();
    const limit = opts.limit ?? 100;
    if (opts.vni !== undefined && opts.mac !== undefined) {
      return this.q.listConvMac
        .all(opts.vni, opts.mac, limit)
        .map((r) => JSON.parse(r.body) as ConvergenceRecord);
    }
    return this.q.listConv
      .all(opts.vni === undefined ? limit : this.convergenceMax)
      .filter((r) => opts.vni === undefined || r.vni === opts.vni)
      .slice(0, limit)
      .map((r) => JSON.parse(r.body) as ConvergenceRecord);
  }

  async close(): Promise<void> {
    // Finish queued updates first so nothing acknowledged-to-be is lost.
    if (this.pending.length > 0) this.flush();
    this.flushConvergence();
    await this.durableUpTo(this.revision).catch(() => undefined);
    this.listeners.clear();
    await this.checkpointer?.close(); // (its checkpoint in progress, if any, ends first)
    if (this.db.open) {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
      this.db.close();
    }
    if (this.walFd !== undefined) closeSync(this.walFd);
    this.walFd = undefined;
  }
}

/** The same IPs in the same order (their sequence numbers are not in the index). */
function sameIps(a: Entry, b: Entry): boolean {
  return a.ips.length === b.ips.length && a.ips.every((x, i) => x.ip === b.ips[i]?.ip);
}
