// VM mobility at this NVE (draft-ietf-nvo3-vmm, section 5): what happens to an entry when the NVA
// says its VM now lives elsewhere, and what an orchestrator's migration hint changes.
// - Source side: the local entry becomes "moved to D" for the hold time, so frames still sent here
//   (peers that have not converged yet) are re-tunnelled to D; then it is removed and the plain
//   remote entry for D remains.
// - Hinted migration X: S -> D. At S the entry is "dual" (local TSI and D) while the migration
//   runs; at D the VM is installed (frames reach its TSI) but registered only on its first announce.
// - Cold move: the TSI vanishes (withdraw), later a fresh registration elsewhere; the source, which
//   had it last, still re-tunnels for the hold time.
import type { Logger } from '../log.ts';
import type { DirEntry, MoveHint } from './nva-port.ts';
import type { NveState } from './nve-state.ts';
import { macId, type MacKey } from './tables.ts';

/** Longest a withdrawn VM of another NVE stays forwarded to it (ms). */
export const LINGER_MAX_MS = 5_000;

export interface MoveOptions {
  holdTimeMs: number;
  /** Wall clock in ms (Date.now by default; tests use fake timers). */
  now?: () => number;
  log: Logger;
  /** Called when the state changed outside a caller's flush (a timer fired). */
  changed: () => void;
  /** Called for every move this NVE sees (metrics). */
  onMove?: (m: MoveEvent) => void;
}

/** One move as seen here: `role` says what this NVE was in it. */
export interface MoveEvent {
  vni: number;
  mac: string;
  fromNve: string;
  toNve: string;
  seq: number;
  role: 'source' | 'destination' | 'peer';
  /** A cold move: the VM was withdrawn at fromNve before it registered at toNve. */
  cold: boolean;
  /** ms from the NVA's change to its installation here, when the NVA said when it changed. */
  convergenceMs?: number | undefined;
}

export class MoveTracker {
  private readonly holdTimers = new Map<string, NodeJS.Timeout>();
  private readonly hintTimers = new Map<string, NodeJS.Timeout>();
  private readonly lingerTimers = new Map<string, NodeJS.Timeout>();
  private readonly now: () => number;
  /** Moves decided and not yet installed (report()). */
  private decided: Array<{ prev: DirEntry; next: DirEntry; role: MoveEvent['role'] }> = [];

  constructor(
    private readonly state: NveState,
    private readonly opts: MoveOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  /**
   * The directory changed an entry (prev -> next). Decide what it means here: a local VM that now
   * lives elsewhere becomes "moved"; a moved VM that moved on follows it; a VM that came back to
   * this NVE stops being "moved".
   */
  directoryUpdated(prev: DirEntry | undefined, next: DirEntry): void {
    const s = this.state;
    const id = macId(next);
    if (next.state === 'withdrawn') return;
    if (next.nveId === s.nveId) {
      this.cancelHold(id);
      if (prev && prev.nveId !== s.nveId) this.logMove(prev, next, 'destination');
      return;
    }
    const local = s.locals.get(id);
    if (local && local.confirmed && next.seq >= local.seq) {
      // The NVA placed our confirmed VM elsewhere with a number at least ours: it won, we follow.
      // (An unconfirmed local VM keeps its entry: its registration, retried with a higher
      // number if refused as stale, decides.)
      s.deleteLocal(id);
      this.hold(next, next.nveAddr, next.nveId);
      this.logMove(prev ?? { ...next, nveId: s.nveId }, next, 'source');
    } else if (!local && prev?.nveId === s.nveId) {
      // It was ours (still registered, or withdrawn when its TSI went): re-tunnel in-flight frames.
      this.hold(next, next.nveAddr, next.nveId);
      this.logMove(prev, next, 'source');
    } else if (s.moved.has(id)) {
      // Moved on again (D -> E): in-flight frames follow the VM, the deadline stays.
      const m = s.moved.get(id)!;
      if (m.vtep !== next.nveAddr)
        s.setMoved(next, { ...m, vtep: next.nveAddr, toNve: next.nveId });
      if (prev && prev.nveId !== next.nveId) this.logMove(prev, next, 'peer');
    } else if (prev && prev.nveId !== next.nveId) {
      this.logMove(prev, next, 'peer');
    }
    const hint = s.hints.get(id);
    if (hint && hint.toNve === next.nveId) this.dropHint(id);
  }

  /**
   * The NVA withdrew a VM of another NVE: keep forwarding to that NVE for a short while (it
   * re-tunnels if the VM registers elsewhere meanwhile), then forget it. Only the gap between a
   * withdrawal and a quick re-registration needs covering: at most LINGER_MAX_MS.
   */
  withdrawn(tomb: DirEntry): void {
    const s = this.state;
    const id = macId(tomb);
    if (tomb.nveId === s.nveId || s.locals.has(id)) return;
    s.setLinger(id, true);
    const old = this.lingerTimers.get(id);
    if (old) clearTimeout(old);
    const t = setTimeout(
      () => {
        this.lingerTimers.delete(id);
        s.setLinger(id, false);
        this.opts.changed();
      },
      Math.min(this.opts.holdTimeMs, LINGER_MAX_MS),
    );
    t.unref?.();
    this.lingerTimers.set(id, t);
  }

  /** Frames for `k` that still reach us go to `vtep` for the hold time, then the entry goes. */
  hold(k: MacKey, vtep: string, toNve: string): void {
    const id = macId(k);
    this.cancelHold(id);
    const untilMs = this.now() + this.opts.holdTimeMs;
    this.state.setMoved(k, { vtep, toNve, untilMs });
    const t = setTimeout(() => {
      this.holdTimers.delete(id);
      this.state.deleteMoved(id);
      this.opts.log.debug(
        { vni: k.vni, mac: k.mac, to: toNve },
        'hold time over: moved entry removed',
      );
      this.opts.changed();
    }, this.opts.holdTimeMs);
    t.unref?.();
    this.holdTimers.set(id, t);
  }

  /** An orchestrator says X migrates from S to D: remember it until it expires. */
  hintReceived(h: MoveHint): void {
    const id = macId(h);
    this.state.setHint(h);
    const old = this.hintTimers.get(id);
    if (old) clearTimeout(old);
    const t = setTimeout(
      () => {
        this.hintTimers.delete(id);
        this.state.deleteHint(id);
        // A VM expected here that never announced itself is not here.
        if (this.state.locals.get(id)?.active === false) this.state.deleteLocal(id);
        this.opts.changed();
      },
      Math.max(0, h.expiresAtMs - this.now()),
    );
    t.unref?.();
    this.hintTimers.set(id, t);
    this.opts.log.info(
      { vni: h.vni, mac: h.mac, from: h.fromNve, to: h.toNve },
      'migration announced',
    );
  }

  /** The hint toward this NVE for a MAC, if one is running (the VM is expected here). */
  expectedHere(k: MacKey): MoveHint | undefined {
    const h = this.state.hints.get(macId(k));
    return h && h.toNve === this.state.nveId ? h : undefined;
  }

  /** A local VM's TSI vanished: if it is migrating to D, keep re-tunnelling to D. */
  localGone(k: MacKey): void {
    const h = this.state.hints.get(macId(k));
    if (h && h.fromNve === this.state.nveId && h.toAddr) this.hold(k, h.toAddr, h.toNve);
  }

  dropHint(id: string): void {
    const t = this.hintTimers.get(id);
    if (t) clearTimeout(t);
    this.hintTimers.delete(id);
    this.state.deleteHint(id);
  }

  cancelHold(id: string): void {
    const t = this.holdTimers.get(id);
    if (t) clearTimeout(t);
    this.holdTimers.delete(id);
    this.state.deleteMoved(id);
  }

  /** Stop every timer (agent shutdown). */
  stop(): void {
    for (const t of this.holdTimers.values()) clearTimeout(t);
    for (const t of this.hintTimers.values()) clearTimeout(t);
    for (const t of this.lingerTimers.values()) clearTimeout(t);
    this.lingerTimers.clear();
    this.holdTimers.clear();
    this.hintTimers.clear();
  }

  /** A move decided here: reported by report() once the tables say it (its convergence time). */
  private logMove(prev: DirEntry, next: DirEntry, role: MoveEvent['role']): void {
    this.decided.push({ prev, next, role });
  }

  /**
   * The tables now hold what the moves decided since the last call: log them, with the time from
   * the NVA's change to now (installed here, not merely decided). The control loop calls it after
   * each write pass.
   */
  report(): void {
    if (this.decided.length === 0) return;
    const decided = this.decided;
    this.decided = [];
    const now = this.now();
    for (const { prev, next, role } of decided) {
      const ev: MoveEvent = {
        vni: next.vni,
        mac: next.mac,
        fromNve: prev.nveId,
        toNve: next.nveId,
        seq: next.seq,
        role,
        cold: prev.state === 'withdrawn',
        convergenceMs: next.changedAtMs ? Math.max(0, now - next.changedAtMs) : undefined,
      };
      this.opts.log.info({ ...ev, from: prev.nveId, to: next.nveId }, 'move');
      this.opts.onMove?.(ev);
    }
  }
}
