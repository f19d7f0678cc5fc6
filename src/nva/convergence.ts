// Convergence tracking: for each change caused by a registration, the time from that registration
// reaching the NVA to the last NVE of the VN (connected to this NVA) acknowledging a revision at or
// past the change. NVEs that disconnect stop being waited for; changes nobody acks in time expire.
import type { ConvergenceRecord, Mac, Vni } from './model.ts';

/** A change still waiting for acks is dropped (not converged) after this long. */
export const CONVERGENCE_TIMEOUT_MS = 60_000;

/** NVEs that must ack a change: kept while the serving set of a VNI stays the same. */
interface Cohort {
  ids: readonly string[];
  /** member[slot] === 1 for the NVEs in `ids` (slots index `acked`). */
  member: Uint8Array;
}

interface Pending {
  revision: number;
  vni: Vni;
  mac: Mac;
  registeredAt: number;
  cohort: Cohort;
  /** NVEs of the cohort that have not acked it yet. */
  remaining: number;
  nves: number;
}

export interface ConvergenceTrackerOptions {
  now?: () => number;
  timeoutMs?: number;
  onConverged: (rec: ConvergenceRecord) => void;
}

/**
 * Each change counts the NVEs it still waits for; an ack walks the changes between the NVE's
 * previous ack and this one and counts itself off those whose cohort it belongs to. Per-change
 * sets of NVE ids (a thousand NVEs: a thousand set insertions and deletions per move, scattered
 * over a thousand sets) were the NVA's top cost with 1,000 NVEs.
 */
export class ConvergenceTracker {
  /** Ordered by revision (changes arrive in revision order). */
  private pending: Pending[] = [];
  /** A small integer per NVE ever seen, indexing `acked` and cohort bitmaps. */
  private readonly slots = new Map<string, number>();
  /** Highest revision acked, by slot. */
  private readonly acked: number[] = [];
  /** The last cohort of each VNI, reused while the serving NVEs are the same. */
  private readonly cohorts = new Map<Vni, Cohort>();
  private lastTracked = 0;
  private readonly now: () => number;
  private readonly timeoutMs: number;
  private expiredCount = 0;

  constructor(private readonly opts: ConvergenceTrackerOptions) {
    this.now = opts.now ?? Date.now;
    this.timeoutMs = opts.timeoutMs ?? CONVERGENCE_TIMEOUT_MS;
  }

  /** A change caused by a registration was committed; `nves` are the NVEs that must ack it. */
  track(revision: number, vni: Vni, mac: Mac, registeredAt: number, nves: readonly string[]): void {
    this.lastTracked = Math.max(this.lastTracked, revision);
    const cohort = this.cohort(vni, nves);
    let remaining = 0;
    for (let slot = 0; slot < cohort.member.length; slot++) {
      if (cohort.member[slot] === 1 && (this.acked[slot] as number) < revision) remaining += 1;
    }
    const p: Pending = { revision, vni, mac, registeredAt, cohort, remaining, nves: remaining };
    if (remaining === 0) this.finish(p);
    else this.pending.push(p);
  }

  /** An NVE installed everything up to `revision`. */
  ack(nveId: string, revision: number): void {
    const slot = this.slot(nveId);
    const before = this.acked[slot] as number;
    if (before >= revision) return;
    this.acked[slot] = revision;
    let done = false;
    // Changes up to `before` no longer wait for this NVE: start past them.
    for (let i = firstAfter(this.pending, before); i < this.pending.length; i++) {
      const p = this.pending[i] as Pending;
      if (p.revision > revision) break;
      if (p.cohort.member[slot] === 1 && --p.remaining === 0) done = true;
    }
    if (done) this.sweep();
  }

  /** An NVE went away: stop waiting for it. */
  forget(nveId: string): void {
    const slot = this.slots.get(nveId);
    if (slot === undefined) return;
    const before = this.acked[slot] as number;
    let done = false;
    for (let i = firstAfter(this.pending, before); i < this.pending.length; i++) {
      const p = this.pending[i] as Pending;
      if (p.cohort.member[slot] === 1 && --p.remaining === 0) done = true;
    }
    // Counted off everything tracked so far; a later change waits for it again if it serves.
    this.acked[slot] = Math.max(before, this.lastTracked);
    if (done) this.sweep();
  }

  /** Changes still waiting; expires the ones past the timeout. */
  pendingCount(): number {
    this.sweep();
    return this.pending.length;
  }

  /** Changes that expired without every NVE acking them. */
  expired(): number {
    return this.expiredCount;
  }

  private slot(nveId: string): number {
    let slot = this.slots.get(nveId);
    if (slot === undefined) {
      slot = this.acked.length;
      this.slots.set(nveId, slot);
      this.acked.push(0);
    }
    return slot;
  }

  private cohort(vni: Vni, nves: readonly string[]): Cohort {
    const last = this.cohorts.get(vni);
    if (last && last.ids.length === nves.length && last.ids.every((id, i) => id === nves[i])) {
      return last;
    }
    const slots = nves.map((id) => this.slot(id));
    const member = new Uint8Array(this.acked.length);
    for (const s of slots) member[s] = 1;
    const cohort = { ids: [...nves], member };
    this.cohorts.set(vni, cohort);
    return cohort;
  }

  private sweep(): void {
    const cutoff = this.now() - this.timeoutMs;
    const keep: Pending[] = [];
    for (const p of this.pending) {
      if (p.remaining === 0) this.finish(p);
      else if (p.registeredAt < cutoff) this.expiredCount += 1;
      else keep.push(p);
    }
    this.pending = keep;
  }

  private finish(p: Pending): void {
    const convergedAt = this.now();
    this.opts.onConverged({
      revision: p.revision,
      vni: p.vni,
      mac: p.mac,
      registeredAt: p.registeredAt,
      convergedAt,
      durationMs: convergedAt - p.registeredAt,
      nves: p.nves,
    });
  }
}

/** Index of the first pending change with a revision above `revision` (binary search). */
function firstAfter(pending: readonly Pending[], revision: number): number {
  let lo = 0;
  let hi = pending.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((pending[mid] as Pending).revision <= revision) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
