// Convergence tracking: for each change caused by a registration, the time from that registration
// reaching the NVA to the last NVE of the VN (connected to this NVA) acknowledging a revision at or
// past the change. NVEs that disconnect stop being waited for; changes nobody acks in time expire.
import type { ConvergenceRecord, Mac, Vni } from './model.ts';

/** A change still waiting for acks is dropped (not converged) after this long. */
export const CONVERGENCE_TIMEOUT_MS = 60_000;

interface Pending {
  revision: number;
  vni: Vni;
  mac: Mac;
  registeredAt: number;
  waiting: Set<string>;
  nves: number;
}

export interface ConvergenceTrackerOptions {
  now?: () => number;
  timeoutMs?: number;
  onConverged: (rec: ConvergenceRecord) => void;
}

export class ConvergenceTracker {
  /** Ordered by revision (changes arrive in revision order). */
  private pending: Pending[] = [];
  private readonly acked = new Map<string, number>();
  private readonly now: () => number;
  private readonly timeoutMs: number;
  private expiredCount = 0;

  constructor(private readonly opts: ConvergenceTrackerOptions) {
    this.now = opts.now ?? Date.now;
    this.timeoutMs = opts.timeoutMs ?? CONVERGENCE_TIMEOUT_MS;
  }

  /** A change caused by a registration was committed; `nves` are the NVEs that must ack it. */
  track(revision: number, vni: Vni, mac: Mac, registeredAt: number, nves: Iterable<string>): void {
    const waiting = new Set<string>();
    for (const n of nves) if ((this.acked.get(n) ?? 0) < revision) waiting.add(n);
    const p: Pending = { revision, vni, mac, registeredAt, waiting, nves: waiting.size };
    if (waiting.size === 0) this.finish(p);
    else this.pending.push(p);
  }

  /** An NVE installed everything up to `revision`. */
  ack(nveId: string, revision: number): void {
    const before = this.acked.get(nveId) ?? 0;
    if (before >= revision) return;
    this.acked.set(nveId, revision);
    let done = false;
    // Changes up to `before` no longer wait for this NVE: start past them (a hundred NVEs acking
    // each flush made the full rescans the NVA's top cost after SQLite).
    for (let i = firstAfter(this.pending, before); i < this.pending.length; i++) {
      const p = this.pending[i] as Pending;
      if (p.revision > revision) break;
      if (p.waiting.delete(nveId) && p.waiting.size === 0) done = true;
    }
    if (done) this.sweep();
  }

  /** An NVE went away: stop waiting for it. */
  forget(nveId: string): void {
    this.acked.delete(nveId);
    let done = false;
    for (const p of this.pending) if (p.waiting.delete(nveId) && p.waiting.size === 0) done = true;
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

  private sweep(): void {
    const cutoff = this.now() - this.timeoutMs;
    const keep: Pending[] = [];
    for (const p of this.pending) {
      if (p.waiting.size === 0) this.finish(p);
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
