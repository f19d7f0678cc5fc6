// The in-memory twin of the directory store: same contract as the SQLite and etcd stores, nothing
// survives the process. Used by unit tests and as the reference the other backends are held to.
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

export interface MemoryStoreOptions {
  /** Changes kept for resume; older ones are dropped (a resume from before gets a snapshot). */
  changeLogMax?: number;
  /** Convergence records kept. */
  convergenceMax?: number;
  now?: () => number;
}

export const DEFAULT_CHANGE_LOG_MAX = 100_000;
export const DEFAULT_CONVERGENCE_MAX = 10_000;

const key = (vni: Vni, mac: Mac): string => `${vni}/${mac}`;
const clone = <T>(v: T): T => structuredClone(v);

export class MemoryStore implements DirectoryStore {
  readonly kind = 'memory';
  private readonly entries = new Map<string, Entry>();
  private readonly log: Change[] = [];
  private revision = 0;
  /** Resume works from any revision >= this (changes after it are all still in the log). */
  private trimmedTo = 0;
  private readonly listeners = new Set<ChangeListener>();
  private readonly vns = new Map<Vni, VnConfig>();
  private readonly members = new Map<string, Membership>();
  private readonly provisions = new Map<string, Provision>();
  private readonly hints = new Map<string, MoveHint>();
  private readonly acks = new Map<string, AckRecord>();
  private convergence: ConvergenceRecord[] = [];
  private readonly changeLogMax: number;
  private readonly convergenceMax: number;
  private readonly now: () => number;

  constructor(opts: MemoryStoreOptions = {}) {
    this.changeLogMax = opts.changeLogMax ?? DEFAULT_CHANGE_LOG_MAX;
    this.convergenceMax = opts.convergenceMax ?? DEFAULT_CONVERGENCE_MAX;
    this.now = opts.now ?? Date.now;
  }

  async getEntry(vni: Vni, mac: Mac): Promise<Entry | undefined> {
    const e = this.entries.get(key(vni, mac));
    return e && clone(e);
  }

  async listEntries(vni?: Vni): Promise<Entry[]> {
    return [...this.entries.values()].filter((e) => vni === undefined || e.vni === vni).map(clone);
  }

  async update<R>(
    vni: Vni,
    mac: Mac,
    ips: readonly string[],
    fn: EntryUpdateFn<R>,
  ): Promise<EntryUpdateResult<R>> {
    // Single-threaded: nothing can change between the read and the write, so one attempt suffices.
    const current = this.entries.get(key(vni, mac));
    const wanted = new Set(ips);
    const ipOwners = [...this.entries.values()].filter(
      (e) =>
        e.vni === vni &&
        e.mac !== mac &&
        e.state !== 'withdrawn' &&
        e.ips.some((b) => wanted.has(b.ip)),
    );
    const plan = fn({ current: current && clone(current), ipOwners: ipOwners.map(clone) });
    if (plan.upserts.length === 0) return { result: plan.result };
    for (const e of plan.upserts) this.entries.set(key(e.vni, e.mac), clone(e));
    const revision = this.commit({ vni, upserts: plan.upserts, cause: plan.cause });
    return { result: plan.result, revision };
  }

  async currentRevision(): Promise<number> {
    return this.revision;
  }

  async changesSince(revision: number, vnis?: readonly Vni[]): Promise<Change[]> {
    if (revision < this.trimmedTo || revision > this.revision) {
      throw new RevisionTooOldError(revision, this.trimmedTo);
    }
    const want = vnis && new Set(vnis);
    return this.log.filter((c) => c.revision > revision && (!want || want.has(c.vni))).map(clone);
  }

  async snapshot(vnis: readonly Vni[]): Promise<Snapshot> {
    const want = new Set(vnis);
    return {
      revision: this.revision,
      entries: [...this.entries.values()]
        .filter((e) => want.has(e.vni) && e.state !== 'withdrawn')
        .map(clone),
      memberships: [...this.members.values()].filter((m) => want.has(m.vni)).map(clone),
    };
  }

  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async putVn(cfg: VnConfig): Promise<void> {
    this.vns.set(cfg.vni, clone(cfg));
  }

  async announceVn(cfg: VnConfig): Promise<number> {
    this.vns.set(cfg.vni, clone(cfg));
    return this.commit({ vni: cfg.vni, upserts: [], vnConfig: clone(cfg) });
  }

  async getVn(vni: Vni): Promise<VnConfig | undefined> {
    const v = this.vns.get(vni);
    return v && clone(v);
  }

  async listVns(): Promise<VnConfig[]> {
    return [...this.vns.values()].map(clone).sort((a, b) => a.vni - b.vni);
  }

  async putMembership(m: Membership): Promise<number> {
    this.members.set(`${m.vni}/${m.nveId}`, clone(m));
    return this.commit({ vni: m.vni, upserts: [], members: [clone(m)] });
  }

  async deleteMembership(vni: Vni, nveId: string): Promise<number | undefined> {
    if (!this.members.delete(`${vni}/${nveId}`)) return undefined;
    return this.commit({ vni, upserts: [], membersRemoved: [nveId] });
  }

  async listMemberships(vni?: Vni): Promise<Membership[]> {
    return [...this.members.values()].filter((m) => vni === undefined || m.vni === vni).map(clone);
  }

  async putProvision(p: Provision): Promise<void> {
    this.provisions.set(key(p.vni, p.mac), clone(p));
  }

  async getProvision(vni: Vni, mac: Mac): Promise<Provision | undefined> {
    const p = this.provisions.get(key(vni, mac));
    return p && clone(p);
  }

  async deleteProvision(vni: Vni, mac: Mac): Promise<boolean> {
    return this.provisions.delete(key(vni, mac));
  }

  async listProvisions(vni?: Vni): Promise<Provision[]> {
    return [...this.provisions.values()]
      .filter((p) => vni === undefined || p.vni === vni)
      .map(clone);
  }

  async putHint(h: MoveHint): Promise<number> {
    this.hints.set(key(h.vni, h.mac), clone(h));
    return this.commit({ vni: h.vni, upserts: [], hint: clone(h) });
  }

  async getHint(vni: Vni, mac: Mac, now: number): Promise<MoveHint | undefined> {
    const h = this.hints.get(key(vni, mac));
    return h && h.expiresAt > now ? clone(h) : undefined;
  }

  async deleteHint(vni: Vni, mac: Mac): Promise<void> {
    this.hints.delete(key(vni, mac));
  }

  async recordAcks(acks: readonly AckRecord[]): Promise<void> {
    for (const a of acks) {
      const prev = this.acks.get(a.nveId);
      if (!prev || prev.revision <= a.revision) this.acks.set(a.nveId, { ...a });
    }
  }

  async listAcks(): Promise<AckRecord[]> {
    return [...this.acks.values()].map(clone);
  }

  async addConvergence(rec: ConvergenceRecord): Promise<void> {
    this.convergence.push(clone(rec));
    if (this.convergence.length > this.convergenceMax) {
      this.convergence = this.convergence.slice(-this.convergenceMax);
    }
  }

  async listConvergence(
    opts: { vni?: Vni; mac?: Mac; limit?: number } = {},
  ): Promise<ConvergenceRecord[]> {
    const out: ConvergenceRecord[] = [];
    for (let i = this.convergence.length - 1; i >= 0 && out.length < (opts.limit ?? 100); i--) {
      const r = this.convergence[i] as ConvergenceRecord;
      if (opts.vni !== undefined && r.vni !== opts.vni) continue;
      if (opts.mac !== undefined && r.mac !== opts.mac) continue;
      out.push(clone(r));
    }
    return out;
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }

  /** Append a change with the next revision, trim the log, tell the listeners. */
  private commit(c: Omit<Change, 'revision' | 'at'>): number {
    this.revision += 1;
    const change: Change = { ...clone(c), revision: this.revision, at: this.now() };
    this.log.push(change);
    if (this.log.length > this.changeLogMax) {
      const dropped = this.log.splice(0, this.log.length - this.changeLogMax);
      this.trimmedTo = dropped[dropped.length - 1]?.revision ?? this.trimmedTo;
    }
    for (const l of this.listeners) l(clone(change));
    return this.revision;
  }
}
