// The NVE agent's control loop, without I/O of its own: NVA messages, ring-buffer events and TSI
// changes come in; batched table writes, registrations, withdrawals and acks go out. The real
// agent (agent.ts) feeds it from the NVA client, the ring buffer and the TSI watcher; the unit
// tests feed it from fakes, which is how headless mode, restarts and moves are tested without root.
//
// Headless mode: when the NVA is unreachable nothing is flushed: forwarding continues on the last
// tables, learnt VMs are installed locally and queued, and everything is reconciled on return
// (registrations re-sent with fresh sequence numbers, a snapshot resynced by mark and sweep).
import type { Logger } from '../log.ts';
import { installedDigest, installedDigests } from './digest.ts';
import { Learner, nextSeq, type LearnEvent, type LearnOutcome, type TsiInfo } from './learner.ts';
import { MoveTracker, type MoveEvent } from './moves.ts';
import { warmUpSnapshotPath } from './warm-up.ts';
import { AnchorIdleMonitor, DEFAULT_ANCHOR_IDLE_MS } from './anchor-idle.ts';
import type {
  AnnouncementKind,
  Change,
  DigestMismatch,
  DirEntry,
  MoveHint,
  NvaHandlers,
  NvaPort,
  NvaResult,
  Snapshot,
} from './nva-port.ts';
import { NveState, type LocalVm } from './nve-state.ts';
import {
  DeferredSnapshot,
  isPackedSnapshot,
  type PackedEntries,
  type PackedSnapshotMsg,
} from '../protocol/packed-snapshot.ts';
import type { ColdFdbStream } from './cold-stream.ts';
import { L3State } from './l3-state.ts';
import { Reconciler, type ReconcileReport } from './reconciler.ts';
import { macId, type AgentTables, type MacKey } from './tables.ts';

/** Up to this many installed FDB entries, every ack carries its digests. */
export const DIGEST_INLINE_MAX_ENTRIES = 50_000;
/** Above it, digests follow in one trailing ack this long after the first change. */
export const DIGEST_DEFER_MS = 1_000;

/** Retries of a registration refused as stale while our copy of the directory catches up. */
export const STALE_RETRIES = 3;
export const STALE_RETRY_DELAY_MS = 50;

/** FDB kinds that place a VM on this host. */
const HERE_KINDS: ReadonlySet<string> = new Set(['local', 'dual']);

/** Prefix of member ids made up from installed flood lists (replaced by the first snapshot). */
const ADOPTED = 'adopted@';

/** Hooks for metrics; every one optional. */
export interface LoopObserver {
  reconciled(r: ReconcileReport): void;
  move(ev: MoveEvent): void;
  learned(outcome: LearnOutcome): void;
  connection(up: boolean): void;
  registration(result: NvaResult): void;
  digestMismatch(m: DigestMismatch): void;
}

export interface ControlLoopOptions {
  nveId: string;
  underlayAddr: string;
  holdTimeMs: number;
  tables: AgentTables;
  nva: NvaPort;
  log: Logger;
  now?: () => number;
  observer?: Partial<LoopObserver>;
  /**
   * VNIs this NVE serves (its TSIs'). Entries of other VNIs that the NVA sends (routed VNs of its
   * VRFs) only feed host routes. Undefined: every VNI the NVA sends is served.
   */
  servedVnis?: readonly number[];
  /** Anchored addresses of VMs here unused this long are released (default 5 min). */
  anchorIdleMs?: number;
  /**
   * Run a small synthetic snapshot through the snapshot path at start, in memory (warm-up.ts),
   * so the first real one runs compiled code (the agent; unit tests leave it off).
   */
  warmUp?: boolean;
}

export class ControlLoop {
  readonly state: NveState;
  readonly reconciler: Reconciler;
  readonly moves: MoveTracker;
  readonly learner: Learner;
  private readonly anchorIdle: AnchorIdleMonitor | undefined;
  private connected = false;
  private started = false;
  private stopping = false;
  private readonly tsis = new Map<number, TsiInfo>();
  /** Local VMs whose registration the NVA has not confirmed yet, with the announcement kind. */
  private readonly pendingRegs = new Map<string, AnnouncementKind>();
  /** VMs that left while the NVA was away: withdrawn on its return. */
  private readonly pendingWithdraws = new Map<string, { vni: number; mac: string }>();
  private readonly digestPending = new Set<number>();
  private digestTimer: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  private readonly obs: Partial<LoopObserver>;

  constructor(private readonly o: ControlLoopOptions) {
    this.log = o.log;
    this.obs = o.observer ?? {};
    this.state = new NveState(
      o.nveId,
      o.underlayAddr,
      o.servedVnis ? new Set(o.servedVnis) : undefined,
    );
    this.reconciler = new Reconciler(o.tables, this.state);
    this.moves = new MoveTracker(this.state, {
      holdTimeMs: o.holdTimeMs,
      now: o.now,
      log: o.log,
      changed: () => this.apply(),
      onMove: (ev) => this.obs.move?.(ev),
    });
    const hostRoutes = this.reconciler.hostRoutes;
    const l3 = o.tables.l3;
    this.anchorIdle =
      hostRoutes && l3
        ? new AnchorIdleMonitor({
            installed: () => hostRoutes.installed(),
            table: l3.hostRoutes,
            idleMs: o.anchorIdleMs ?? DEFAULT_ANCHOR_IDLE_MS,
            now: o.now,
            release: async (k) => {
              if (!this.connected || !o.nva.releaseAnchor) return false;
              const r = await o.nva.releaseAnchor(k);
              this.log.info({ ...k, ok: r.ok }, 'anchored address idle: released');
              return r.ok;
            },
          })
        : undefined;
    this.learner = new Learner({
      state: this.state,
      moves: this.moves,
      tsiByIfindex: (i) => this.tsis.get(i),
      apply: () => this.apply(),
      register: (vm, kind) => this.register(vm, kind),
      withdraw: (k) => this.withdraw(k),
    });
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /**
   * Adopt what is installed (pinned maps of a previous agent: nothing is written now, so traffic
   * keeps flowing), then connect to the NVA. The first snapshot is resynced by mark and sweep.
   */
  start(): void {
    if (this.started) return;
    this.started = true;
    if (this.o.warmUp) warmUpSnapshotPath();
    this.adoptInstalled();
    this.anchorIdle?.start();
    const h: NvaHandlers = {
      connected: () => this.onConnected(),
      disconnected: (reason) => this.onDisconnected(reason),
      snapshot: (s) => this.onSnapshot(s),
      change: (c) => this.onChange(c),
      moveHint: (m) => this.onMoveHint(m),
      digestMismatch: (m) => this.onDigestMismatch(m),
    };
    this.o.nva.start(h, 0);
  }

  stop(): void {
    this.stopping = true;
    clearTimeout(this.digestTimer);
    this.anchorIdle?.stop();
    this.moves.stop();
    this.o.nva.stop();
    this.reconciler.close();
  }

  // --- inputs from the host ------------------------------------------------------------------

  /** A ring-buffer event from a TSI. */
  event(ev: LearnEvent): LearnOutcome {
    // For an announcement XDP has already made the MAC local in fdb (docs/dataplane.md): read
    // that entry back, so that whatever the learner decides (an ignored announcement too: a MAC
    // or IP this TSI does not own) the next pass writes the entry it should have.
    const k = ev.kind === 'new_mac' ? undefined : { vni: ev.vni, mac: ev.mac.toLowerCase() };
    if (k) {
      this.reconciler.fdb.refresh(k);
      this.state.touch(macId(k));
    }
    const out = this.learner.handle(ev);
    // the learner applies what it installs; an ignored or repeated announcement leaves it to us
    if (k && this.state.dirtyMacs.has(macId(k))) this.apply();
    this.obs.learned?.(out);
    if (out.startsWith('ignored')) this.log.debug({ ...ev, outcome: out }, 'announcement ignored');
    return out;
  }

  /** A configured TSI is present (initial listing or hot-plug). */
  tsiUp(t: TsiInfo): void {
    this.tsis.set(t.ifindex, t);
    this.log.info({ tsi: t.name, ifindex: t.ifindex, vni: t.config.vni }, 'TSI up');
    this.state.setTsi(t.config.vni, t.ifindex, true);
    this.learner.tsiAppeared(t);
    if (this.started) this.apply();
  }

  /** A TSI vanished (VM left, hot-unplug). */
  tsiDown(ifindex: number): void {
    const t = this.tsis.get(ifindex);
    this.tsis.delete(ifindex);
    if (t) this.state.setTsi(t.config.vni, ifindex, false);
    const n = this.learner.tsiGone(ifindex);
    this.log.info({ tsi: t?.name, ifindex, withdrawn: n }, 'TSI down');
  }

  tsiList(): TsiInfo[] {
    return [...this.tsis.values()];
  }

  // --- NVA ----------------------------------------------------------------------------------

  private onConnected(): void {
    this.connected = true;
    this.obs.connection?.(true);
    this.log.info('NVA connected');
    this.flushPending();
  }

  private onDisconnected(reason: string): void {
    if (this.connected && !this.stopping) {
      this.log.warn({ reason }, 'NVA unreachable: headless, forwarding on the last tables');
    }
    this.connected = false;
    this.obs.connection?.(false);
  }

  private onSnapshot(s: Snapshot | PackedSnapshotMsg): void {
    // Packed (the NVA client's decoder) or objects (tests, other ports): loaded packed.
    const { entries, streamed } = this.snapshotEntries(s);
    // The L3 overlay first: which VNIs get L2 tables depends on it (L3 VNIs' members).
    this.state.l3.load(s.routedVns ?? []);
    const changes = this.state.loadSnapshot(s.revision, s.vnis, entries, s.members, {
      resyncFollows: true,
    });
    // Only what moved, or matters here (local, moved, hinted, placed here), is looked at.
    for (const [prev, e] of changes) this.directoryUpdated(prev, e);
    // Against what this agent installed (its shadow): drift behind its back shows in the
    // digests, and a digest mismatch resyncs against the maps read back.
    const r = this.reconciler.resync({ readBack: false, streamed });
    this.moves.report();
    this.obs.reconciled?.(r);
    this.log.info(
      {
        revision: s.revision,
        entries: isPackedSnapshot(s) ? s.packed.count : s.entries.length,
        set: r.fdb.set,
        deleted: r.fdb.deleted,
        ms: r.ms,
      },
      'snapshot resynced',
    );
    this.reassert();
    this.ack(r.vnis);
  }

  /**
   * A snapshot's entries. Those the NVA client's decoder left encoded are decoded now; over an
   * empty FDB map (a cold start) with a full snapshot their FDB rows go to the kernel as they
   * are decoded (cold-stream.ts), and the resync takes them. Refused entries throw, and nothing
   * the stream wrote stays.
   */
  private snapshotEntries(s: Snapshot | PackedSnapshotMsg): {
    entries: PackedEntries | DirEntry[];
    streamed?: ColdFdbStream;
  } {
    if (!isPackedSnapshot(s)) return { entries: s.entries };
    // (a snapshot of some VNIs, or a directory that had entries: the FDB map is not empty then,
    // so coldFdbStream gives none; and the resync checks that the directory is what was streamed)
    if (!(s instanceof DeferredSnapshot) || s.decoded) return { entries: s.packed };
    const l3 = new L3State();
    l3.load(s.routedVns);
    const streamed = this.reconciler.coldFdbStream(s.entryCount, l3);
    try {
      return { entries: s.decodeEntries(streamed), streamed };
    } catch (err) {
      streamed?.abandon();
      this.log.warn({ revision: s.revision, err: String(err) }, 'snapshot refused');
      throw err;
    }
  }

  private onChange(c: Change): void {
    for (const e of c.upserts) {
      const prev = this.state.lastKnown(macId(e));
      this.state.upsertEntry(e);
      this.directoryUpdated(prev, e);
    }
    for (const k of c.deletes) {
      const tomb = this.state.deleteEntry(k);
      if (tomb) this.moves.withdrawn(tomb);
    }
    for (const m of c.membersUpserted) this.state.upsertMember(m);
    for (const id of c.membersRemoved) this.state.removeMember(c.vni, id);
    this.state.revision = c.revision;
    const r = this.apply();
    this.ack([...new Set([c.vni, ...r.vnis])]);
  }

  private onMoveHint(h: MoveHint): void {
    this.moves.hintReceived(h);
    // Expected here and its TSI is already plugged in: deliver to it from now on.
    if (h.toNve === this.state.nveId)
      for (const t of this.tsis.values()) if (t.config.mac === h.mac) this.learner.tsiAppeared(t);
    this.apply();
  }

  private onDigestMismatch(m: DigestMismatch): void {
    this.obs.digestMismatch?.(m);
    this.log.warn(m, 'NVA reports a digest mismatch: resyncing');
    const r = this.reconciler.resync();
    this.obs.reconciled?.(r);
    // If our copy of the directory was what differed, the snapshot of the VNI that the NVA
    // sends after a mismatch replaces it; if only the maps drifted, they are repaired now.
    const mine = this.digest(m.vni);
    if (mine === m.expected) this.ack([m.vni]);
    else
      this.log.warn(
        { vni: m.vni, expected: m.expected, got: mine },
        'still differs: waiting for the snapshot',
      );
  }

  /** The directory moved or (re)placed an entry: moves first, then adopt what is ours. */
  private directoryUpdated(prev: DirEntry | undefined, e: DirEntry): void {
    this.moves.directoryUpdated(prev, e);
    if (e.nveId !== this.state.nveId || e.state === 'withdrawn') return;
    const id = macId(e);
    const local = this.state.locals.get(id);
    if (local) {
      if (e.seq >= local.seq) {
        local.seq = e.seq;
        local.confirmed = true;
      }
      return;
    }
    // The directory says it is here (e.g. after an agent restart) and its TSI is present: adopt.
    for (const t of this.tsis.values()) {
      if (t.config.vni === e.vni && t.config.mac === e.mac) {
        this.learner.tsiAppeared(t);
        return;
      }
    }
  }

  // --- registrations (headless-safe) --------------------------------------------------------

  private register(vm: LocalVm, kind: AnnouncementKind): void {
    const id = macId(vm);
    this.pendingRegs.set(id, kind);
    this.pendingWithdraws.delete(id);
    if (this.connected) this.sendRegistration(id, STALE_RETRIES);
  }

  private sendRegistration(id: string, retries: number, seqFloor = 0): void {
    const vm = this.state.locals.get(id);
    const kind = this.pendingRegs.get(id);
    if (!vm || !vm.active || kind === undefined) {
      this.pendingRegs.delete(id);
      return;
    }
    vm.seq = Math.max(nextSeq(this.state, id, vm), seqFloor);
    const seq = vm.seq;
    this.o.nva.register({ vni: vm.vni, mac: vm.mac, ips: vm.ips, seq, tsi: vm.tsi, kind }).then(
      (res) => {
        this.obs.registration?.(res);
        if (this.state.locals.get(id) !== vm) return;
        if (res.ok) {
          if (vm.seq === seq) this.pendingRegs.delete(id);
          vm.seq = Math.max(vm.seq, res.seq);
          vm.confirmed = true;
          return;
        }
        this.log.warn(
          { vni: vm.vni, mac: vm.mac, seq, code: res.code, reason: res.reason },
          'registration refused',
        );
        if (res.code === 'STALE_SEQ' && retries > 0) {
          // Our copy of the directory is behind: retry with a higher number, after the change
          // stream has had a moment to catch up (it may say the VM is elsewhere, with more).
          setTimeout(
            () => this.sendRegistration(id, retries - 1, seq + 1),
            STALE_RETRY_DELAY_MS,
          ).unref?.();
          return;
        }
        // Refused for good (not provisioned, duplicate...): the directory is authoritative.
        this.pendingRegs.delete(id);
        this.state.deleteLocal(id);
        this.apply();
      },
      () => {
        // The connection dropped before the answer: stays pending, re-sent on reconnect.
      },
    );
  }

  private withdraw(k: { vni: number; mac: string }): void {
    const id = macId(k);
    this.pendingRegs.delete(id);
    this.pendingWithdraws.set(id, k);
    if (this.connected) this.sendWithdraw(id);
  }

  private sendWithdraw(id: string): void {
    const k = this.pendingWithdraws.get(id);
    if (!k || this.state.locals.has(id)) {
      this.pendingWithdraws.delete(id);
      return;
    }
    this.o.nva.withdraw(k).then(
      (res) => {
        if (res.ok || this.connected) this.pendingWithdraws.delete(id);
        if (!res.ok)
          this.log.info({ ...k, code: res.code, reason: res.reason }, 'withdrawal refused');
      },
      () => {},
    );
  }

  private flushPending(): void {
    for (const id of [...this.pendingRegs.keys()]) this.sendRegistration(id, STALE_RETRIES);
    for (const id of [...this.pendingWithdraws.keys()]) this.sendWithdraw(id);
  }

  /**
   * After a snapshot: the directory must say what is true here. Local VMs it does not place here
   * (learnt while headless) are registered; VMs it places here that are gone are withdrawn.
   */
  private reassert(): void {
    const s = this.state;
    for (const [id, vm] of s.locals) {
      if (!vm.active) continue;
      const e = s.liveEntry(id);
      const same =
        e &&
        e.nveId === s.nveId &&
        sameSet(
          e.ips.map((b) => b.ip),
          vm.ips,
        );
      if (!same && !this.pendingRegs.has(id)) this.pendingRegs.set(id, 'provisioned');
    }
    for (const [id, e] of s.directory.here(s.nveId)) {
      if (s.locals.has(id)) continue;
      if (s.hints.get(id)?.fromNve === s.nveId) continue;
      this.pendingWithdraws.set(id, { vni: e.vni, mac: e.mac });
    }
    if (this.connected) this.flushPending();
  }

  // --- tables, acks and digests -------------------------------------------------------------

  /** Write what changed; returns the pass report. */
  apply(): ReconcileReport {
    const r = this.reconciler.apply();
    // moves are logged with their convergence time once installed
    this.moves.report();
    const written = [
      r.fdb,
      r.neigh,
      r.flood,
      r.peers,
      r.routedVnis,
      r.hostRoutes,
      r.prefixRoutes,
    ].reduce((n, c) => n + (c ? c.set + c.deleted : 0), 0);
    if (written > 0) {
      this.obs.reconciled?.(r);
    }
    return r;
  }

  /** Read pinned maps left by a previous agent: local entries on present TSIs become local VMs. */
  private adoptInstalled(): void {
    this.reconciler.adopt();
    // Only the local entries (and their IPs) are decoded: a million remote ones need not be.
    const here: Array<{ k: MacKey; ifindex: number; t: TsiInfo }> = [];
    for (const [k, v] of this.reconciler.fdb.installedTagged(HERE_KINDS, (v) => v.kind)) {
      if (v.kind !== 'local' && v.kind !== 'dual') continue;
      const t = this.tsis.get(v.ifindex);
      if (t && t.config.vni === k.vni) here.push({ k, ifindex: v.ifindex, t });
    }
    const ipsByMac = new Map<string, string[]>();
    const macs = new Set(here.map((h) => h.k.mac));
    for (const [k, v] of this.reconciler.neigh.installedTagged(macs, (v) => v.mac)) {
      const id = macId({ vni: k.vni, mac: v.mac });
      ipsByMac.set(id, [...(ipsByMac.get(id) ?? []), k.ip]);
    }
    let adopted = 0;
    for (const { k, ifindex, t } of here) {
      const id = macId(k);
      this.state.setLocal({
        ...k,
        ips: ipsByMac.get(id) ?? [],
        ifindex,
        tsi: t.name,
        seq: 0,
        active: true,
        confirmed: true,
      });
      adopted++;
    }
    // The VNs' other NVEs as installed: flood lists and tunnel peers stay as they are until the
    // first snapshot names the members (headless start keeps forwarding and flooding).
    for (const [vni, f] of this.reconciler.flood.installed()) {
      for (const addr of f.remote)
        this.state.upsertMember({ vni, nveId: `${ADOPTED}${addr}`, nveAddr: addr });
    }
    for (const [k] of this.reconciler.peers.installed()) {
      this.state.upsertMember({ vni: k.vni, nveId: `${ADOPTED}${k.vtep}`, nveAddr: k.vtep });
    }
    // Only what differs is written: the adopted local entries match the shadow already; a flood
    // list whose TSIs changed while no agent ran is corrected (the rest waits for the snapshot).
    this.apply();
    if (this.reconciler.fdb.installedCount > 0) {
      this.log.info(
        { installed: this.reconciler.fdb.installedCount, adopted },
        'adopted installed tables',
      );
    }
  }

  /** Digest of what is installed for one VNI (see digest.ts). */
  digest(vni: number): string {
    return installedDigest(this.state, vni, this.reconciler.fdb.installed());
  }

  /**
   * Acknowledge the current revision (the port drops it while there is no stream). A digest costs
   * a pass over the installed entries: with big tables the ack goes at once without digests (the
   * NVA then compares nothing) and one trailing ack with the digests follows DIGEST_DEFER_MS later.
   */
  private ack(vnis: number[]): void {
    if (this.reconciler.fdb.installedCount <= DIGEST_INLINE_MAX_ENTRIES) {
      this.o.nva.ack(this.state.revision, this.digestsOf(vnis));
      return;
    }
    this.o.nva.ack(this.state.revision, []);
    for (const v of vnis) this.digestPending.add(v);
    this.digestTimer ??= setTimeout(() => {
      this.digestTimer = undefined;
      const pending = [...this.digestPending];
      this.digestPending.clear();
      if (!this.stopping) this.o.nva.ack(this.state.revision, this.digestsOf(pending));
    }, DIGEST_DEFER_MS);
    this.digestTimer.unref?.();
  }

  private digestsOf(vnis: number[]): Array<{ vni: number; digest: string }> {
    const d = installedDigests(this.state, vnis, this.reconciler.fdb.installed());
    return [...d].sort((a, b) => a[0] - b[0]).map(([vni, digest]) => ({ vni, digest }));
  }
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}
