// The directory store interface. Every backend (in-memory for tests, SQLite embedded default,
// etcd for replicated NVAs) implements it, so the rules and the server never know which one runs.
// It is async so etcd fits, and entry updates are compare-and-swap: several NVA replicas on one
// etcd cluster stay correct because the rules are re-applied to fresh data on every conflict.
import type {
  ConvergenceRecord,
  Entry,
  Membership,
  MoveHint,
  Provision,
  VnConfig,
  Vni,
  Mac,
} from './model.ts';

/**
 * One committed change of what NVEs must know about a VN. Every change carries a revision that
 * is greater than every earlier one (global across VNIs; gaps are allowed, as in etcd).
 */
export interface Change {
  revision: number;
  vni: Vni;
  at: number; // ms since epoch, when it was committed
  /** Entries as they now are (a `withdrawn` entry means: remove it from the dataplane). */
  upserts: Entry[];
  /** Members that joined (or changed address). */
  members?: Membership[];
  /** nveIds that left the VN. */
  membersRemoved?: string[];
  /** A migration announced by an orchestrator (sent to its source and destination NVEs). */
  hint?: MoveHint;
  /** The registration that caused it, for convergence time; absent for admin changes. */
  cause?: ChangeCause;
  /** The VN's routing changed (routed VN, VRF): its NVEs re-read the L3 overlay's config. */
  vnConfig?: VnConfig;
}

/** Who caused a change and when its registration reached the NVA. */
export interface ChangeCause {
  nveId: string;
  mac: Mac;
  registeredAt: number; // ms since epoch
}

/** A consistent view of some VNIs: everything an NVE needs, at one revision. */
export interface Snapshot {
  revision: number;
  /** Entries of the VNIs asked for, withdrawn ones excluded. */
  entries: Entry[];
  memberships: Membership[];
}

/** Input of an entry update: the entry as stored now and the other entries holding its IPs. */
export interface EntryUpdateInput {
  current: Entry | undefined;
  /** Non-withdrawn entries of the same VNI, other than this MAC, that hold any of the IPs asked. */
  ipOwners: Entry[];
}

/** What an update function wants written: nothing (no revision is used) or a set of entries. */
export interface EntryUpdatePlan<R> {
  /** Entries to write in one atomic step (this MAC and, e.g., another MAC that lost an IP). */
  upserts: Entry[];
  /** Returned to the caller as is (a rules decision, a reason...). */
  result: R;
  cause?: ChangeCause;
}

/** Result of update(): the plan's result and the change's revision when something was written. */
export interface EntryUpdateResult<R> {
  result: R;
  revision?: number;
}

/**
 * A pure function from stored state to what to write. It may be called several times (once per
 * compare-and-swap attempt), so it must not have side effects.
 */
export type EntryUpdateFn<R> = (input: EntryUpdateInput) => EntryUpdatePlan<R>;

/** Called once per committed change, in revision order, from any replica's writes. */
export type ChangeListener = (change: Change) => void;

/** An NVE's acknowledgement: it has installed everything up to `revision`. */
export interface AckRecord {
  nveId: string;
  revision: number;
  at: number; // ms since epoch
}

/** changesSince() was asked for a revision the change log no longer holds (compacted/trimmed). */
export class RevisionTooOldError extends Error {
  constructor(
    readonly requested: number,
    /** Oldest revision from which a resume is still possible. */
    readonly oldest: number,
  ) {
    super(`revision ${requested} is no longer in the change log (oldest resumable: ${oldest})`);
    this.name = 'RevisionTooOldError';
  }
}

/** Compare-and-swap kept failing (too much contention on one key). */
export class UpdateConflictError extends Error {
  constructor(vni: Vni, mac: Mac, attempts: number) {
    super(`update of ${mac} in VNI ${vni} still conflicted after ${attempts} attempts`);
    this.name = 'UpdateConflictError';
  }
}

export interface DirectoryStore {
  /** Backend name for logs and metrics ("memory", "sqlite", "etcd"). */
  readonly kind: string;

  // --- entries -----------------------------------------------------------------------------
  getEntry(vni: Vni, mac: Mac): Promise<Entry | undefined>;
  /** Entries of one VNI (or all), withdrawn ones included. */
  listEntries(vni?: Vni): Promise<Entry[]>;
  /**
   * Read (vni, mac) and the owners of `ips`, apply `fn`, write its upserts atomically if nothing
   * read changed meanwhile, else retry with fresh data. Returns the change's revision when
   * something was written; the change is durable before this resolves.
   */
  update<R>(
    vni: Vni,
    mac: Mac,
    ips: readonly string[],
    fn: EntryUpdateFn<R>,
  ): Promise<EntryUpdateResult<R>>;

  // --- change log --------------------------------------------------------------------------
  /** Latest committed revision (0 for an empty store). */
  currentRevision(): Promise<number>;
  /**
   * Changes with revision > `revision`, oldest first, optionally only for some VNIs.
   * Throws RevisionTooOldError when the log no longer reaches back that far.
   */
  changesSince(revision: number, vnis?: readonly Vni[]): Promise<Change[]>;
  /** Entries and memberships of these VNIs, consistent at the returned revision. */
  snapshot(vnis: readonly Vni[]): Promise<Snapshot>;
  /** Get every change committed from now on (by any replica). Returns an unsubscribe function. */
  subscribe(listener: ChangeListener): () => void;

  // --- VN configuration, membership --------------------------------------------------------
  putVn(cfg: VnConfig): Promise<void>;
  /**
   * putVn, and commit a Change carrying the config (`vnConfig`): the L3 overlay's configuration
   * (routed VNs, VRFs) reaches the NVEs through the same log as entries. Returns its revision.
   */
  announceVn(cfg: VnConfig): Promise<number>;
  getVn(vni: Vni): Promise<VnConfig | undefined>;
  listVns(): Promise<VnConfig[]>;
  /** Add or update a member; commits a Change (flood lists change). Returns its revision. */
  putMembership(m: Membership): Promise<number>;
  /** Remove a member; commits a Change. Returns its revision, or undefined if it was no member. */
  deleteMembership(vni: Vni, nveId: string): Promise<number | undefined>;
  listMemberships(vni?: Vni): Promise<Membership[]>;

  // --- provisioning (orchestrator) ---------------------------------------------------------
  putProvision(p: Provision): Promise<void>;
  getProvision(vni: Vni, mac: Mac): Promise<Provision | undefined>;
  deleteProvision(vni: Vni, mac: Mac): Promise<boolean>;
  listProvisions(vni?: Vni): Promise<Provision[]>;

  // --- migration hints ---------------------------------------------------------------------
  /** Store a hint and commit a Change carrying it (so every replica tells its NVEs). */
  putHint(h: MoveHint): Promise<number>;
  /** The hint for (vni, mac) if one exists and has not expired at `now`. */
  getHint(vni: Vni, mac: Mac, now: number): Promise<MoveHint | undefined>;
  deleteHint(vni: Vni, mac: Mac): Promise<void>;

  // --- acknowledgements, convergence --------------------------------------------------------
  /** Record NVEs' installed revisions (need not be durable: NVEs ack again after a restart). */
  recordAcks(acks: readonly AckRecord[]): Promise<void>;
  /** Latest acked revision per NVE. */
  listAcks(): Promise<AckRecord[]>;
  /** Keep a convergence measurement (bounded: oldest dropped first). */
  addConvergence(rec: ConvergenceRecord): Promise<void>;
  /** Most recent convergence records, newest first, optionally for one MAC. */
  listConvergence(opts?: { vni?: Vni; mac?: Mac; limit?: number }): Promise<ConvergenceRecord[]>;

  /** Flush and release resources; the store is unusable afterwards. */
  close(): Promise<void>;
}
