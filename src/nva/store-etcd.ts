// The directory in etcd 3, so several NVA replicas serve NVEs from one cluster. etcd gives what
// the store contract needs: every write is a transaction committed by a quorum (durable before we
// answer; one member of three may die), entry updates are compare-and-swap on the mod_revision of
// every key that was read, and revisions derive from etcd's (etcd revision x 1000 + the change's
// index in its transaction: registrations of one event-loop turn share a transaction). The
// change log is the etcd history of one key per VNI (log/<vni>, rewritten by every transaction
// that changes the VNI): changesSince() replays that history with a watch from a revision, and a
// compacted history answers "too old". Every replica mirrors the prefix through one watch
// (store-etcd-mirror.ts): a change committed by any replica reaches every replica's subscribers,
// and reads cost no round trip. A stale mirror cannot corrupt anything: writes compare
// mod_revisions in etcd, and a failed compare retries on data read from etcd.
import {
  Etcd3,
  isRecoverableError,
  type KVClient,
  type ICompare,
  type IKeyValue,
  type IOptions,
  type IRangeRequest,
  type IRangeResponse,
  type IRequestOp,
  type IWatchResponse,
} from 'etcd3';
import { logger } from '../log.ts';
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
  UpdateConflictError,
  type AckRecord,
  type Change,
  type ChangeListener,
  type DirectoryStore,
  type EntryUpdateFn,
  type EntryUpdateResult,
  type Snapshot,
} from './store.ts';
import { DEFAULT_ETCD_PREFIX, EtcdKeys, prefixEnd } from './store-etcd-keys.ts';
import { EtcdMirror } from './store-etcd-mirror.ts';
import { TxnBatcher, type PreparedWrite } from './store-etcd-batch.ts';

const log = logger('store-etcd');

/** Compare-and-swap attempts before update() gives up with UpdateConflictError. */
const DEFAULT_MAX_ATTEMPTS = 16;
/** Upper bound of the random pause between compare-and-swap attempts. */
const CAS_BACKOFF_MAX_MS = 50;
/** etcd's default --max-txn-ops: no transaction may carry more operations. */
const MAX_TXN_OPS = 128;
/**
 * A transaction may carry several changes (group commit), but every change needs its own
 * revision: the directory's revision is etcd's revision times this, plus the change's index in
 * its transaction (etcd revision 1234, third change: 1234002).
 */
export const REVISION_SCALE = 1_000;
/** Acks are kept in memory and written to etcd at most this often (they need not be durable). */
const DEFAULT_ACK_FLUSH_MS = 1_000;
/** Convergence records kept in etcd; the oldest are deleted beyond this. */
const DEFAULT_CONVERGENCE_MAX = 1_000;
/** Convergence records are written in batches at most this often (they need not be durable). */
const CONVERGENCE_FLUSH_MS = 100;
/** Prune convergence records once per this many additions. */
const CONVERGENCE_PRUNE_EVERY = 64;
/** How long a write waits for its own change to come back through the mirror's watch. */
const DELIVERY_WAIT_MS = 5_000;
/** How long changesSince() may take to replay the history it was asked for. */
const REPLAY_TIMEOUT_MS = 10_000;
/**
 * Deadline of one unary etcd call. A proposal that was on its way to a leader that just died is
 * otherwise answered only after etcd's own request timeout (5 s + 2 election timeouts).
 */
const CALL_DEADLINE_MS = 1_500;
/** How long a failing etcd call is retried (member down, leader election) before giving up. */
const RETRY_BUDGET_MS = 15_000;
const RETRY_BACKOFF_MIN_MS = 25;
const RETRY_BACKOFF_MAX_MS = 1_000;
/** How long open() waits for the first answer from the cluster. */
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** open() could not read the directory from any etcd member (down, wrong address, no quorum). */
export class EtcdUnreachableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EtcdUnreachableError';
  }
}

export interface EtcdStoreOptions {
  /** Client URLs of the cluster's members ("http://127.0.0.1:2379"). */
  hosts: string[];
  /** Key prefix of this directory (default /roam/v1/); must end with "/". */
  prefix?: string;
  /** Compare-and-swap attempts per update (default 16). */
  maxAttempts?: number;
  ackFlushMs?: number;
  convergenceMax?: number;
  /**
   * Keep only this many revisions of etcd history: the store compacts the cluster as it writes.
   * Compaction is cluster-wide, so leave this unset (the default) when the cluster is shared and
   * let etcd's own --auto-compaction do it.
   */
  changeLogMax?: number;
  connectTimeoutMs?: number;
  /** Extra etcd3 client options (TLS credentials, auth). */
  client?: Omit<IOptions, 'hosts'>;
}

/** A key read inside update(): its mod_revision (0 = absent) for the compare, and its value. */
interface ReadKey {
  key: Buffer;
  modRevision: string;
  value: Buffer | undefined;
}

/** Change as stored in a log key: the revision is the key's mod_revision, not part of the value. */
type StoredChange = Omit<Change, 'revision'>;
/** Value of a log key: the VNI's changes in one transaction, each with its index there. */
interface LogValue {
  changes: (StoredChange & { i: number })[];
}

/** The directory revision of change `index` of etcd revision `etcdRevision`. */
export function directoryRevision(etcdRevision: number, index: number): number {
  return etcdRevision * REVISION_SCALE + index;
}

/** The etcd revision a directory revision belongs to. */
export function etcdRevisionOf(revision: number): number {
  return Math.floor(revision / REVISION_SCALE);
}

export class EtcdStore implements DirectoryStore {
  readonly kind = 'etcd';
  private readonly keys: EtcdKeys;
  private readonly maxAttempts: number;
  private readonly ackFlushMs: number;
  private readonly convergenceMax: number;
  private readonly listeners = new Set<ChangeListener>();
  private readonly deliveryWaiters: { revision: number; resolve: () => void }[] = [];
  private readonly mirror: EtcdMirror;
  /** The etcd KV API, each call retried across member failures and elections. */
  private readonly kv: Pick<KVClient, 'range' | 'put' | 'deleteRange' | 'txn' | 'compact'>;
  /** Changes seen in the revision being applied, handed to listeners once it is complete. */
  private pendingChanges: Change[] = [];
  /** Revision of the last change handed to listeners (what a snapshot is consistent with). */
  private lastChange = 0;
  private readonly batcher = new TxnBatcher<StoredChange>((group) => this.commitGroup(group));
  private readonly pendingAcks = new Map<string, AckRecord>();
  private ackTimer: NodeJS.Timeout | undefined;
  private convergenceAdds = 0;
  private pendingConvergence: ConvergenceRecord[] = [];
  private convergenceTimer: NodeJS.Timeout | undefined;
  private readonly changeLogMax: number | undefined;
  /** Highest revision this store compacted to. */
  private compactedTo = 0;
  /** Tail of the queue of updates per (vni, mac): one replica never races with itself. */
  private readonly keyQueues = new Map<string, Promise<unknown>>();
  private closed = false;

  private constructor(
    private readonly client: Etcd3,
    opts: EtcdStoreOptions,
  ) {
    this.keys = new EtcdKeys(opts.prefix ?? DEFAULT_ETCD_PREFIX);
    this.maxAttempts = opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    this.ackFlushMs = opts.ackFlushMs ?? DEFAULT_ACK_FLUSH_MS;
    this.convergenceMax = opts.convergenceMax ?? DEFAULT_CONVERGENCE_MAX;
    this.changeLogMax = opts.changeLogMax;
    const raw = client.kv;
    this.kv = {
      range: (r) => retrying(() => raw.range(r)),
      put: (r) => retrying(() => raw.put(r)),
      deleteRange: (r) => retrying(() => raw.deleteRange(r)),
      txn: (r) => retrying(() => raw.txn(r)),
      compact: (r) => retrying(() => raw.compact(r)),
    };
    const k = this.keys;
    this.mirror = new EtcdMirror({
      client,
      prefix: Buffer.from(k.prefix),
      mirrored: [
        k.vnPrefix(),
        k.entryPrefix(),
        k.ipPrefix(),
        k.memberPrefix(),
        k.provPrefix(),
        k.hintPrefix(),
        k.logPrefix(),
      ],
      log,
      onPut: (kv) => this.onPut(kv),
      onRevision: (rev) => this.onRevision(rev),
    });
  }

  /** Key prefix of this directory in etcd. */
  get prefix(): string {
    return this.keys.prefix;
  }

  /** Connect, and start following the change log from the cluster's current revision. */
  static async open(opts: EtcdStoreOptions): Promise<EtcdStore> {
    if (opts.hosts.length === 0) throw new Error('etcd store needs at least one host');
    const client = new Etcd3({
      ...opts.client,
      hosts: opts.hosts,
      // Unary calls only: the mirror's watch stream lives as long as the store.
      defaultCallOptions: (ctx) =>
        ctx.isStream ? {} : { deadline: Date.now() + CALL_DEADLINE_MS },
    });
    const store = new EtcdStore(client, opts);
    try {
      const ms = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
      await withTimeout(store.mirror.start(), ms, `etcd did not answer within ${ms} ms`);
      store.lastChange = Math.max(
        0,
        ...store.mirror.list(store.keys.logPrefix()).map((m) => lastOfLog(m.modRevision, m.value)),
      );
    } catch (err) {
      client.close();
      store.mirror.stop();
      const why = err instanceof Error ? err.message : String(err);
      throw new EtcdUnreachableError(`cannot reach etcd at ${opts.hosts.join(', ')}: ${why}`);
    }
    return store;
  }

  // --- entries -----------------------------------------------------------------------------

  async getEntry(vni: Vni, mac: Mac): Promise<Entry | undefined> {
    return this.mirrored<Entry>(this.keys.entry(vni, mac));
  }

  async listEntries(vni?: Vni): Promise<Entry[]> {
    return this.mirroredList<Entry>(this.keys.entryPrefix(vni));
  }

  async update<R>(
    vni: Vni,
    mac: Mac,
    ips: readonly string[],
    fn: EntryUpdateFn<R>,
  ): Promise<EntryUpdateResult<R>> {
    // Updates of one MAC from this replica wait for each other: compare-and-swap then only ever
    // conflicts with other replicas, instead of burning attempts on our own concurrent writes.
    const k = `${vni}/${mac}`;
    const prev = this.keyQueues.get(k) ?? Promise.resolve();
    const run = prev.then(
      () => this.updateNow(vni, mac, ips, fn),
      () => this.updateNow(vni, mac, ips, fn),
    );
    this.keyQueues.set(k, run);
    try {
      return await run;
    } finally {
      if (this.keyQueues.get(k) === run) this.keyQueues.delete(k);
    }
  }

  private async updateNow<R>(
    vni: Vni,
    mac: Mac,
    ips: readonly string[],
    fn: EntryUpdateFn<R>,
  ): Promise<EntryUpdateResult<R>> {
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      // Read this MAC's entry and the owner index of every IP asked, then the owners' entries:
      // from the mirror first; after a conflict from etcd itself (the mirror may lag behind).
      const read = new Map<string, ReadKey>();
      const readKeys = (keys: Buffer[]) =>
        attempt === 1 ? this.readMirrored(read, keys) : this.readKeys(read, keys);
      const entryKey = this.keys.entry(vni, mac);
      await readKeys([entryKey, ...ips.map((ip) => this.keys.ip(vni, ip))]);
      const current = decode<Entry>(read.get(entryKey.toString())?.value);
      const ownerMacs = new Set<Mac>();
      for (const ip of ips) for (const m of this.ipOwners(read, vni, ip)) ownerMacs.add(m);
      ownerMacs.delete(mac);
      const ownerKeys = [...ownerMacs].map((m) => this.keys.entry(vni, m));
      await readKeys(ownerKeys);
      const ipOwners = ownerKeys
        .map((k) => decode<Entry>(read.get(k.toString())?.value))
        .filter((e): e is Entry => e !== undefined && e.state !== 'withdrawn')
        .filter((e) => e.ips.some((b) => ips.includes(b.ip)));

      const plan = fn({ current, ipOwners });
      if (plan.upserts.length === 0) return { result: plan.result };

      // Everything we overwrite must be in the compare: entries not read yet, and the owner index
      // of every IP an upsert gains or loses.
      await readKeys(plan.upserts.map((u) => this.keys.entry(u.vni, u.mac)));
      const touchedIps = new Map<string, { vni: Vni; ip: string }>();
      for (const u of plan.upserts) {
        const old = decode<Entry>(read.get(this.keys.entry(u.vni, u.mac).toString())?.value);
        for (const b of [...heldIps(old), ...heldIps(u)]) {
          touchedIps.set(this.keys.ip(u.vni, b).toString(), { vni: u.vni, ip: b });
        }
      }
      await readKeys([...touchedIps.values()].map((t) => this.keys.ip(t.vni, t.ip)));

      const ops: IRequestOp[] = [];
      const owners = new Map<string, Set<Mac>>();
      for (const [k, t] of touchedIps) owners.set(k, new Set(this.ipOwners(read, t.vni, t.ip)));
      for (const u of plan.upserts) {
        const old = decode<Entry>(read.get(this.keys.entry(u.vni, u.mac).toString())?.value);
        for (const ip of heldIps(old))
          owners.get(this.keys.ip(u.vni, ip).toString())?.delete(u.mac);
        for (const ip of heldIps(u)) owners.get(this.keys.ip(u.vni, ip).toString())?.add(u.mac);
        ops.push(put(this.keys.entry(u.vni, u.mac), u));
      }
      for (const [k, macs] of owners) {
        const key = Buffer.from(k);
        if (macs.size === 0) {
          if (read.get(k)?.value !== undefined) ops.push({ request_delete_range: { key } });
        } else {
          ops.push(put(key, [...macs].sort()));
        }
      }
      const change: StoredChange = { vni, at: Date.now(), upserts: plan.upserts };
      if (plan.cause) change.cause = plan.cause;

      const compare: ICompare[] = [...read.values()].map((r) => ({
        key: r.key,
        target: 'Mod',
        result: 'Equal',
        mod_revision: r.modRevision,
      }));
      // Committed with whatever else is ready (group commit); the log key is written per group.
      const done = await this.batcher.submit({ compare, ops, sharedKey: String(vni), change });
      if (done) {
        return { result: plan.result, revision: directoryRevision(done.revision, done.index) };
      }
      log.debug({ vni, mac, attempt }, 'compare-and-swap conflict, retrying on fresh data');
      // Random back-off, so replicas racing on one MAC do not collide again in lock step.
      await sleep(Math.random() * Math.min(CAS_BACKOFF_MAX_MS, 2 ** attempt));
    }
    throw new UpdateConflictError(vni, mac, this.maxAttempts);
  }

  // --- change log --------------------------------------------------------------------------

  async currentRevision(): Promise<number> {
    const res = await this.rangePrefix(this.keys.logPrefix());
    return Math.max(0, ...res.kvs.map((kv) => lastOfLog(kv.mod_revision, kv.value)));
  }

  async changesSince(revision: number, vnis?: readonly Vni[]): Promise<Change[]> {
    const wanted = vnis ? new Set(vnis) : undefined;
    // Every VNI's log key (one per VNI): which changed since, and the latest revision of all.
    const res = await this.rangePrefix(this.keys.logPrefix());
    const latest = Math.max(0, ...res.kvs.map((kv) => lastOfLog(kv.mod_revision, kv.value)));
    if (revision > latest) {
      // A revision from the future: the NVE followed another cluster (or a wiped one).
      throw new RevisionTooOldError(revision, latest);
    }
    const logs = res.kvs.filter((kv) => {
      const v = this.keys.vniOfLog(kv.key);
      return (
        v !== undefined &&
        (wanted === undefined || wanted.has(v)) &&
        lastOfLog(kv.mod_revision, kv.value) > revision
      );
    });
    if (logs.length === 0) return [];
    const target = Math.max(...logs.map((kv) => Number(kv.mod_revision)));
    const changes = await this.replay(etcdRevisionOf(revision), target, revision, wanted);
    return changes.filter((c) => c.revision > revision);
  }

  async snapshot(vnis: readonly Vni[]): Promise<Snapshot> {
    // Entries and memberships change only with changes, so the mirror's state is the one after
    // the last change it handed to subscribers: that is the snapshot's revision.
    const revision = this.lastChange;
    const entries: Entry[] = [];
    const memberships: Membership[] = [];
    for (const vni of vnis) {
      for (const e of this.mirroredList<Entry>(this.keys.entryPrefix(vni))) {
        if (e.state !== 'withdrawn') entries.push(e);
      }
      memberships.push(...this.mirroredList<Membership>(this.keys.memberPrefix(vni)));
    }
    return { revision, entries, memberships };
  }

  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Drop the history before directory revision `revision` (etcd compaction, cluster-wide):
   * changesSince() of an older revision then throws RevisionTooOldError, so those NVEs get a
   * fresh snapshot.
   */
  async compact(revision: number): Promise<void> {
    await this.kv.compact({ revision: etcdRevisionOf(revision) });
  }

  // --- VN configuration, membership --------------------------------------------------------

  async putVn(cfg: VnConfig): Promise<void> {
    await this.written(this.kv.put({ key: this.keys.vn(cfg.vni), value: encode(cfg) }));
  }

  async announceVn(cfg: VnConfig): Promise<number> {
    const change: StoredChange = { vni: cfg.vni, at: Date.now(), upserts: [], vnConfig: cfg };
    return this.commitChange([put(this.keys.vn(cfg.vni), cfg)], change);
  }

  async getVn(vni: Vni): Promise<VnConfig | undefined> {
    return this.mirrored<VnConfig>(this.keys.vn(vni));
  }

  async listVns(): Promise<VnConfig[]> {
    return this.mirroredList<VnConfig>(this.keys.vnPrefix());
  }

  async putMembership(m: Membership): Promise<number> {
    const change: StoredChange = { vni: m.vni, at: Date.now(), upserts: [], members: [m] };
    return this.commitChange([put(this.keys.member(m.vni, m.nveId), m)], change);
  }

  async deleteMembership(vni: Vni, nveId: string): Promise<number | undefined> {
    const key = this.keys.member(vni, nveId);
    const change: StoredChange = { vni, at: Date.now(), upserts: [], membersRemoved: [nveId] };
    const res = await this.kv.txn({
      compare: [{ key, target: 'Version', result: 'Greater', version: 0 }],
      success: [{ request_delete_range: { key } }, put(this.keys.log(vni), logValue([change]))],
    });
    if (!res.succeeded) return undefined;
    const revision = Number(res.header.revision);
    await this.afterCommit(revision);
    return directoryRevision(revision, 0);
  }

  async listMemberships(vni?: Vni): Promise<Membership[]> {
    return this.mirroredList<Membership>(this.keys.memberPrefix(vni));
  }

  // --- provisioning ------------------------------------------------------------------------

  async putProvision(p: Provision): Promise<void> {
    await this.written(this.kv.put({ key: this.keys.prov(p.vni, p.mac), value: encode(p) }));
  }

  async getProvision(vni: Vni, mac: Mac): Promise<Provision | undefined> {
    return this.mirrored<Provision>(this.keys.prov(vni, mac));
  }

  async deleteProvision(vni: Vni, mac: Mac): Promise<boolean> {
    const res = await this.written(this.kv.deleteRange({ key: this.keys.prov(vni, mac) }));
    return Number(res.deleted) > 0;
  }

  async listProvisions(vni?: Vni): Promise<Provision[]> {
    return this.mirroredList<Provision>(this.keys.provPrefix(vni));
  }

  // --- migration hints ---------------------------------------------------------------------

  async putHint(h: MoveHint): Promise<number> {
    const change: StoredChange = { vni: h.vni, at: Date.now(), upserts: [], hint: h };
    return this.commitChange([put(this.keys.hint(h.vni, h.mac), h)], change);
  }

  async getHint(vni: Vni, mac: Mac, now: number): Promise<MoveHint | undefined> {
    const h = this.mirrored<MoveHint>(this.keys.hint(vni, mac));
    return h !== undefined && h.expiresAt > now ? h : undefined;
  }

  async deleteHint(vni: Vni, mac: Mac): Promise<void> {
    await this.written(this.kv.deleteRange({ key: this.keys.hint(vni, mac) }));
  }

  // --- acknowledgements, convergence --------------------------------------------------------

  async recordAcks(acks: readonly AckRecord[]): Promise<void> {
    // Kept in memory and flushed in batches: one etcd write per ack would cost more than the
    // registrations themselves, and an NVE acks again after any restart.
    for (const a of acks) {
      const prev = this.pendingAcks.get(a.nveId);
      if (prev === undefined || a.revision >= prev.revision) this.pendingAcks.set(a.nveId, a);
    }
    if (this.ackTimer === undefined && !this.closed) {
      this.ackTimer = setTimeout(() => {
        this.ackTimer = undefined;
        this.flushAcks().catch((err: unknown) => log.warn({ err }, 'ack flush failed'));
      }, this.ackFlushMs);
      this.ackTimer.unref();
    }
  }

  async listAcks(): Promise<AckRecord[]> {
    const byNve = new Map<string, AckRecord>();
    for (const a of await this.listJson<AckRecord>(this.keys.ackPrefix())) byNve.set(a.nveId, a);
    for (const a of this.pendingAcks.values()) {
      const stored = byNve.get(a.nveId);
      if (stored === undefined || a.revision >= stored.revision) byNve.set(a.nveId, a);
    }
    return [...byNve.values()];
  }

  async addConvergence(rec: ConvergenceRecord): Promise<void> {
    // Batched: one etcd write per converged move would cost as much as the move itself.
    this.pendingConvergence.push(rec);
    if (this.convergenceTimer === undefined && !this.closed) {
      this.convergenceTimer = setTimeout(() => {
        this.convergenceTimer = undefined;
        this.flushConvergence().catch((err: unknown) =>
          log.warn({ err }, 'convergence records flush failed'),
        );
      }, CONVERGENCE_FLUSH_MS);
      this.convergenceTimer.unref();
    }
  }

  async listConvergence(
    opts: { vni?: Vni; mac?: Mac; limit?: number } = {},
  ): Promise<ConvergenceRecord[]> {
    const res = await this.rangePrefix(this.keys.convPrefix(), {
      sort_order: 'Descend',
      sort_target: 'Key',
    });
    const out: ConvergenceRecord[] = [];
    const pending = [...this.pendingConvergence].reverse(); // newest first, none stored yet
    for (const r of [...pending, ...res.kvs.map((kv) => decode<ConvergenceRecord>(kv.value)!)]) {
      if (opts.vni !== undefined && r.vni !== opts.vni) continue;
      if (opts.mac !== undefined && r.mac !== opts.mac) continue;
      out.push(r);
      if (opts.limit !== undefined && out.length >= opts.limit) break;
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    if (this.convergenceTimer) clearTimeout(this.convergenceTimer);
    this.convergenceTimer = undefined;
    try {
      await this.flushAcks();
      await this.flushConvergence();
    } catch (err) {
      log.warn({ err }, 'last flush of acks or convergence records failed');
    }
    for (const w of this.deliveryWaiters.splice(0)) w.resolve();
    this.mirror.stop();
    this.client.close();
  }

  // --- internals ---------------------------------------------------------------------------

  /** A put seen by the mirror's watch: a log key's value is a change to announce. */
  private onPut(kv: IKeyValue): void {
    const vni = this.keys.vniOfLog(kv.key);
    if (vni === undefined) return;
    for (const c of decode<LogValue>(kv.value)?.changes ?? []) {
      const { i, ...stored } = c;
      this.pendingChanges.push({
        ...stored,
        revision: directoryRevision(Number(kv.mod_revision), i),
      });
    }
  }

  /** A revision is fully applied to the mirror: announce its change, wake writers waiting on it. */
  private onRevision(revision: number): void {
    // One transaction may hold changes of several VNIs: announce them in revision order.
    const changes = this.pendingChanges.sort((a, b) => a.revision - b.revision);
    this.pendingChanges = [];
    for (const change of changes) {
      this.lastChange = Math.max(this.lastChange, change.revision);
      for (const l of this.listeners) {
        try {
          l(change);
        } catch (err) {
          log.error({ err }, 'change listener threw');
        }
      }
    }
    while (this.deliveryWaiters.length > 0 && this.deliveryWaiters[0]!.revision <= revision) {
      this.deliveryWaiters.shift()!.resolve();
    }
  }

  /** Run a plain write and wait until the mirror has it (reads after it then see it). */
  private async written<T extends { header: { revision: string } }>(p: Promise<T>): Promise<T> {
    const res = await p;
    await this.waitDelivered(Number(res.header.revision));
    return res;
  }

  /**
   * Wait until the mirror has applied `revision` (and handed its change to listeners), so that,
   * as with the embedded store, a write is visible and announced by the time it returns.
   */
  private async waitDelivered(revision: number): Promise<void> {
    if (this.mirror.revision >= revision || this.closed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        log.warn({ revision }, 'change not seen on the log watch in time');
        resolve();
      }, DELIVERY_WAIT_MS);
      timer.unref();
      const waiter = {
        revision,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      // Keep waiters sorted by revision (concurrent writes may finish out of order).
      const i = this.deliveryWaiters.findIndex((w) => w.revision > revision);
      if (i < 0) this.deliveryWaiters.push(waiter);
      else this.deliveryWaiters.splice(i, 0, waiter);
    });
  }

  /** Commit one change (its ops plus the VNI's log key) and return its revision. */
  private async commitChange(ops: IRequestOp[], change: StoredChange): Promise<number> {
    const res = await this.kv.txn({
      success: [...ops, put(this.keys.log(change.vni), logValue([change]))],
    });
    const revision = Number(res.header.revision);
    await this.afterCommit(revision);
    return directoryRevision(revision, 0);
  }

  /** Commit a group of prepared updates in one transaction: their writes, one log put per VNI. */
  private async commitGroup(group: PreparedWrite<StoredChange>[]): Promise<number | undefined> {
    const byVni = new Map<Vni, LogValue['changes']>();
    group.forEach((w, i) => {
      const list = byVni.get(w.change.vni) ?? [];
      list.push({ ...w.change, i });
      byVni.set(w.change.vni, list);
    });
    const logs = [...byVni].map(([vni, changes]) => put(this.keys.log(vni), { changes }));
    const res = await this.kv.txn({
      compare: group.flatMap((w) => w.compare),
      success: [...group.flatMap((w) => w.ops), ...logs],
    });
    if (!res.succeeded) return undefined;
    const revision = Number(res.header.revision);
    await this.afterCommit(revision);
    return revision;
  }

  /** After a change commits: announce it, and compact the history if this store bounds it. */
  private async afterCommit(revision: number): Promise<void> {
    await this.waitDelivered(revision);
    if (this.changeLogMax === undefined) return;
    const floor = revision - this.changeLogMax;
    // Compact in steps of 1/8 of the window, so a large window is not compacted on every write.
    if (floor - this.compactedTo < Math.max(1, Math.floor(this.changeLogMax / 8))) return;
    this.compactedTo = floor;
    try {
      await this.kv.compact({ revision: floor });
    } catch (err) {
      // Another replica compacted further already: nothing to do.
      if (!/compacted/i.test(String(err))) throw err;
    }
  }

  /**
   * Replay the log history of etcd revisions [from, to] on a watch stream of its own (not the
   * client's shared watch manager, which must only ever carry the long-lived log watch). etcd
   * answers a watch from a compacted revision by cancelling it with the compaction revision:
   * that is "too old" for the directory revision `asked`.
   */
  private async replay(
    from: number,
    to: number,
    asked: number,
    wanted: Set<Vni> | undefined,
  ): Promise<Change[]> {
    const stream = await this.client.watchClient.watch();
    const out: Change[] = [];
    try {
      await new Promise<void>((resolve, reject) => {
        let finished = false;
        const timer = setTimeout(
          () => done(new Error(`replaying the change log from ${from} to ${to} timed out`)),
          REPLAY_TIMEOUT_MS,
        );
        function done(err?: Error): void {
          if (finished) return;
          finished = true;
          clearTimeout(timer);
          if (err) reject(err);
          else resolve();
        }
        stream.on('error', (err) => done(err));
        stream.on('end', () => done(new Error('etcd ended the replay watch early')));
        stream.on('data', (res: IWatchResponse) => {
          if (res.canceled) {
            const compacted = Number(res.compact_revision);
            done(
              compacted > 0
                ? new RevisionTooOldError(asked, directoryRevision(compacted, 0))
                : new Error(`etcd cancelled the replay watch: ${res.cancel_reason || 'no reason'}`),
            );
            return;
          }
          for (const ev of res.events) {
            const revision = Number(ev.kv.mod_revision);
            const vni = this.keys.vniOfLog(ev.kv.key);
            if (revision > to || vni === undefined || ev.type !== 'Put') continue;
            if (wanted !== undefined && !wanted.has(vni)) continue;
            for (const c of decode<LogValue>(ev.kv.value)?.changes ?? []) {
              const { i, ...stored } = c;
              out.push({ ...stored, revision: directoryRevision(revision, i) });
            }
          }
          const last = res.events[res.events.length - 1];
          if (last !== undefined && Number(last.kv.mod_revision) >= to) done();
        });
        const key = this.keys.logPrefix();
        stream.write({
          create_request: { key, range_end: prefixEnd(key), start_revision: from },
        });
      });
    } finally {
      stream.end(); // half-close first, so the cancel is not counted as a host failure
      stream.cancel();
    }
    // One transaction may hold changes of several VNIs (one log key each): revision order.
    return out.sort((a, b) => a.revision - b.revision);
  }

  /** Read keys not read yet, all in one transaction (consistent), into `read`. */
  private async readKeys(read: Map<string, ReadKey>, keys: Buffer[]): Promise<void> {
    const todo = [...new Map(keys.map((k) => [k.toString(), k])).values()].filter(
      (k) => !read.has(k.toString()),
    );
    for (let i = 0; i < todo.length; i += MAX_TXN_OPS) {
      const chunk = todo.slice(i, i + MAX_TXN_OPS);
      const res = await this.kv.txn({
        success: chunk.map((key) => ({ request_range: { key } })),
      });
      chunk.forEach((key, j) => {
        const kv = res.responses[j]?.response_range.kvs[0];
        read.set(key.toString(), {
          key,
          modRevision: kv ? kv.mod_revision : '0',
          value: kv ? kv.value : undefined,
        });
      });
    }
  }

  /** Like readKeys(), from the mirror. */
  private async readMirrored(read: Map<string, ReadKey>, keys: Buffer[]): Promise<void> {
    for (const key of keys) {
      const k = key.toString();
      if (read.has(k)) continue;
      const m = this.mirror.get(k);
      read.set(k, { key, modRevision: m ? m.modRevision : '0', value: m?.value });
    }
  }

  private mirrored<T>(key: Buffer): T | undefined {
    return decode<T>(this.mirror.get(key)?.value);
  }

  private mirroredList<T>(prefix: Buffer): T[] {
    return this.mirror.listDeep(prefix).map((m) => decode<T>(m.value)!);
  }

  private ipOwners(read: Map<string, ReadKey>, vni: Vni, ip: string): Mac[] {
    return decode<Mac[]>(read.get(this.keys.ip(vni, ip).toString())?.value) ?? [];
  }

  private async flushAcks(): Promise<void> {
    const acks = [...this.pendingAcks.values()];
    this.pendingAcks.clear();
    for (let i = 0; i < acks.length; i += MAX_TXN_OPS) {
      const chunk = acks.slice(i, i + MAX_TXN_OPS);
      await this.kv.txn({ success: chunk.map((a) => put(this.keys.ack(a.nveId), a)) });
    }
  }

  private async flushConvergence(): Promise<void> {
    const recs = this.pendingConvergence;
    this.pendingConvergence = [];
    for (let i = 0; i < recs.length; i += MAX_TXN_OPS) {
      const chunk = recs.slice(i, i + MAX_TXN_OPS);
      await this.kv.txn({
        success: chunk.map((r) => put(this.keys.conv(r.revision, r.vni, r.mac), r)),
      });
      this.convergenceAdds += chunk.length;
    }
    if (this.convergenceAdds >= CONVERGENCE_PRUNE_EVERY) {
      this.convergenceAdds = 0;
      await this.pruneConvergence();
    }
  }

  private async pruneConvergence(): Promise<void> {
    const prefix = this.keys.convPrefix();
    const count = Number((await this.rangePrefix(prefix, { count_only: true })).count);
    const excess = count - this.convergenceMax;
    if (excess <= 0) return;
    const oldest = await this.rangePrefix(prefix, { keys_only: true, limit: excess });
    const last = oldest.kvs[oldest.kvs.length - 1];
    if (last === undefined) return;
    await this.kv.deleteRange({
      key: prefix,
      range_end: Buffer.concat([last.key, Buffer.from([0])]),
    });
  }

  private async rangePrefix(
    prefix: Buffer,
    extra: Omit<IRangeRequest, 'key' | 'range_end'> = {},
  ): Promise<IRangeResponse> {
    return this.kv.range({ key: prefix, range_end: prefixEnd(prefix), ...extra });
  }

  private async listJson<T>(prefix: Buffer): Promise<T[]> {
    const res = await this.rangePrefix(prefix);
    return res.kvs.map((kv) => decode<T>(kv.value)!);
  }
}

/** IPs an entry holds for the owner index: none once withdrawn. */
function heldIps(e: Entry | undefined): string[] {
  return e === undefined || e.state === 'withdrawn' ? [] : e.ips.map((b) => b.ip);
}

function logValue(changes: StoredChange[]): LogValue {
  return { changes: changes.map((c, i) => ({ ...c, i })) };
}

/** Directory revision of the last change in a log key's value. */
function lastOfLog(modRevision: string, value: Buffer): number {
  const changes = decode<LogValue>(value)?.changes ?? [];
  return directoryRevision(Number(modRevision), Math.max(0, ...changes.map((c) => c.i)));
}

function encode(v: unknown): Buffer {
  return Buffer.from(JSON.stringify(v));
}

function decode<T>(b: Buffer | undefined): T | undefined {
  return b === undefined || b.length === 0 ? undefined : (JSON.parse(b.toString()) as T);
}

function put(key: Buffer, value: unknown): IRequestOp {
  return { request_put: { key, value: encode(value) } };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Run an etcd call, again and again while it fails in a way a healthy quorum will fix (member
 * down, no leader yet, deadline): a dying member must not fail registrations. A transaction that
 * timed out may still have committed: the retry then fails its compare and re-reads, so nothing
 * is applied twice.
 */
async function retrying<T>(call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + RETRY_BUDGET_MS;
  let backoff = RETRY_BACKOFF_MIN_MS;
  for (;;) {
    try {
      return await call();
    } catch (err) {
      const transient =
        err instanceof Error &&
        (isRecoverableError(err) ||
          // Every member's circuit breaker open (etcd3 skips a host for 5 s after 3 failures).
          (err as { isBrokenCircuitError?: boolean }).isBrokenCircuitError === true ||
          /request timed out|leader changed|no leader/i.test(err.message));
      if (!transient || Date.now() + backoff > deadline) throw err;
      log.debug({ err: (err as Error).message }, 'etcd call failed, retrying');
      await sleep(backoff);
      backoff = Math.min(backoff * 2, RETRY_BACKOFF_MAX_MS);
    }
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
