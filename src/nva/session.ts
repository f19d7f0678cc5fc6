// One NVE's stream: Hello, then a snapshot (or a resume from the NVE's last revision), then live
// changes; registrations, withdrawals and acks in the other direction. Sends are bounded: an NVE
// that stops reading collects at most maxQueuedChanges, after which its queue is dropped and it
// gets a fresh snapshot once it reads again, so it never holds back the others. Sends are clocked
// by acks: while the NVE has not acked what it was last sent, new changes wait and then go out
// together as one message (an idle NVA sends each change at once; a busy one sends fewer, larger
// messages, at the pace each NVE installs them).
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../log.ts';
import {
  parseNveMessage,
  type Ack,
  type Hello,
  type Register,
  type ReleaseAnchor,
  type Withdraw,
} from '../protocol/schema.ts';
import type { Authenticator } from './auth.ts';
import type { ServerStreamCall } from './h2-grpc-server.ts';
import type { ConvergenceTracker } from './convergence.ts';
import type { Directory, DirectoryResult } from './directory.ts';
import type { NvaMetrics } from './metrics.ts';
import { nveL3View } from './l3-rules.ts';
import type { VnConfig } from './model.ts';
import { RevisionTooOldError, type Change } from './store.ts';
import { hintToWire, routedVnToWire, runsByVni, snapshotToWire } from './wire.ts';

/** An NVE must say Hello this soon after opening its stream. */
export const HELLO_TIMEOUT_MS = 10_000;
/** Changes queued for an NVE that does not read before it is switched to a snapshot. */
export const DEFAULT_MAX_QUEUED_CHANGES = 4096;
/** Requests one NVE may have in flight before the NVA stops reading its stream for a while. */
export const MAX_IN_FLIGHT = 256;
/**
 * Ack clocking: changes wait for the NVE's ack of the last message at most this long by default
 * (an NVE that acks late still gets them; 0 turns clocking off) ...
 */
export const DEFAULT_ACK_CLOCK_MAX_WAIT_MS = 25;
/** ... and at most this many of them (also at most half of maxQueuedChanges). */
export const ACK_CLOCK_MAX_HELD = 1024;
/**
 * Messages an NVE may have unacked before its changes wait: 2, so that a lone change right after
 * another (moves one at a time) is never held; only an NVE that is behind gets batches.
 */
export const ACK_CLOCK_WINDOW = 2;

export type NveCall = ServerStreamCall;

/** What a session needs from its server. */
export interface SessionHost {
  directory: Directory;
  auth: Authenticator;
  metrics: NvaMetrics;
  tracker: ConvergenceTracker;
  log: Logger;
  maxQueuedChanges: number;
  ackClockMaxWaitMs: number;
  /** A new session for `nveId` replaces an older one. */
  attach(s: NveSession): void;
  detach(s: NveSession): void;
  /** Underlay address of an NVE (for move hints), if known. */
  nveAddr(nveId: string): string | undefined;
  /** Shared message objects, so identical sends to many NVEs serialize once. */
  changeMessage(run: readonly Change[]): object | null;
  /** Digest of the directory's entries of a VNI and the last revision that touched it. */
  vniState(vni: number): Promise<{ digest: string; lastRevision: number }>;
  /** Run `s.flush()` soon: one event-loop task flushes every session that asked (not one each). */
  scheduleFlush(s: NveSession): void;
  /** An NVE acked `revision`: recorded in the store in batches. */
  recordAck(nveId: string, revision: number): void;
  /** A registration or withdrawal from some NVE is being decided and stored (answered: done). */
  requestStarted(): void;
  requestDone(): void;
  /**
   * True: requests are being stored, the session's changes wait (the server calls its
   * scheduleFlush when they are answered, or soon), so answers go out ahead of the fan-out and
   * the fan-out carries them all.
   */
  holdFanout(s: NveSession): boolean;
}

type Phase = 'hello' | 'syncing' | 'live' | 'closed';

export class NveSession {
  nveId = '';
  nveAddr = '';
  /** VNIs it is a member of: those it serves, and the L3 VNIs of their VRFs. */
  readonly vnis = new Set<number>();
  /** VNIs its Hello named (and the NVA knows). */
  private readonly served = new Set<number>();
  /** Routed VNs of its VRFs it does not serve: entries only, for its host routes. */
  private routeVnis = new Set<number>();
  /** Configs of the routed VNs and L3 VNIs of its VRFs, as its last snapshot carried them. */
  private l3Configs: VnConfig[] = [];
  /** A VN's routing changed somewhere: re-read which VRFs this NVE takes part in. */
  private l3Stale = false;
  ackedRevision = 0;
  /** Highest revision sent (snapshot or change). */
  sentRevision = 0;
  private phase: Phase = 'hello';
  private queue: Change[] = [];
  private blocked = false;
  private needSnapshot = false;
  private flushScheduled = false;
  /** It acked something on this stream: its acks clock its changes (ack clocking). */
  private acking = false;
  /** When the last message that the NVE must ack was written (ack clocking). */
  private lastSentAt = 0;
  /** Revisions of the messages sent and not yet acked (oldest first; ack clocking). */
  private unacked: number[] = [];
  /** Sends the held changes when the NVE's ack does not come in time. */
  private ackClockTimer: NodeJS.Timeout | undefined;
  /** The server holds the fan-out (holdFanout) and will call releaseFanout. */
  private fanoutHeld = false;
  /** A snapshot is being read: changes wait so they cannot overtake it. */
  private snapshotting = false;
  /** Messages before the stream is live are handled one at a time, in order. */
  private inbox: Promise<void> = Promise.resolve();
  private inboxPending = 0;
  /** Registrations/withdrawals in flight, chained per (vni, mac) so each MAC's stay in order. */
  private readonly keyChains = new Map<string, Promise<void>>();
  private inFlight = 0;
  private readonly helloTimer: NodeJS.Timeout;
  private log: Logger;

  constructor(
    private readonly call: NveCall,
    private readonly host: SessionHost,
  ) {
    this.log = host.log;
    this.helloTimer = setTimeout(
      () => this.fail(grpc.status.DEADLINE_EXCEEDED, `no hello within ${HELLO_TIMEOUT_MS} ms`),
      HELLO_TIMEOUT_MS,
    );
    call.on('data', (raw: unknown) => {
      // Once live, messages are dispatched at once (ordered per MAC); before that, in order.
      if (this.phase === 'live' && this.inboxPending === 0) {
        this.dispatch(raw)?.catch((err: unknown) => {
          this.log.error({ err, nveId: this.nveId }, 'NVE message handling failed');
        });
        return;
      }
      this.inboxPending += 1;
      this.inbox = this.inbox
        .then(() => this.dispatch(raw))
        .catch((err: unknown) => {
          this.log.error({ err, nveId: this.nveId }, 'NVE message handling failed');
        })
        .finally(() => {
          this.inboxPending -= 1;
        });
    });
    call.on('end', () => this.close('peer ended the stream'));
    call.on('error', (err: Error) => this.close(`stream error: ${err.message}`));
    call.on('close', () => this.close('stream closed'));
    call.on('drain', () => {
      this.blocked = false;
      this.scheduleFlush();
    });
  }

  get isLive(): boolean {
    return this.phase === 'live';
  }

  /** A committed change from the store: queue it if this NVE serves its VNI. */
  offer(c: Change): void {
    if (this.phase === 'closed' || this.phase === 'hello') return;
    if (c.vnConfig) {
      this.l3Stale = true;
      this.scheduleFlush();
    }
    if (!this.vnis.has(c.vni) && !this.routeVnis.has(c.vni)) return;
    if (c.hint && c.hint.fromNve !== this.nveId && c.hint.toNve !== this.nveId) {
      if (c.upserts.length === 0 && !c.members && !c.membersRemoved) return;
    }
    if (this.needSnapshot) return; // everything will be in the snapshot
    this.queue.push(c);
    if (this.queue.length > this.host.maxQueuedChanges) {
      // Too far behind: forget the backlog, send a snapshot when it reads again.
      this.queue = [];
      this.needSnapshot = true;
      this.log.warn({ nveId: this.nveId }, 'NVE too far behind: it will get a snapshot');
    }
    if (this.phase === 'live') this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.blocked || this.snapshotting || this.phase !== 'live') return;
    if (this.fanoutHeld || this.waitingForAck()) return;
    this.flushScheduled = true;
    this.host.scheduleFlush(this);
  }

  /**
   * Ack clocking: the NVE has not acked everything it was sent, so plain changes wait (they will
   * share one message). Not for long (ACK_CLOCK_MAX_WAIT_MS, then they go anyway), not too many,
   * never a snapshot or a routing update, and not to an NVE that never acked (nothing to clock by).
   */
  private waitingForAck(): boolean {
    if (!this.acking || this.unacked.length < ACK_CLOCK_WINDOW) return false;
    if (this.needSnapshot || this.l3Stale) return false;
    if (this.queue.length >= Math.min(ACK_CLOCK_MAX_HELD, this.host.maxQueuedChanges / 2)) {
      return false;
    }
    if (this.ackClockTimer) return true; // armed: it checks again when it fires
    const waited = performance.now() - this.lastSentAt;
    const maxWait = this.host.ackClockMaxWaitMs;
    if (waited >= maxWait) return false;
    this.ackClockTimer = setTimeout(() => {
      this.ackClockTimer = undefined;
      this.scheduleFlush();
    }, maxWait - waited);
    return true;
  }

  /** The server no longer holds the fan-out (requests answered, or held long enough). */
  releaseFanout(): void {
    this.fanoutHeld = false;
    this.scheduleFlush();
  }

  /** Write what waits (the server calls this once scheduleFlush asked for it). */
  flush(): void {
    this.flushScheduled = false;
    if (this.phase !== 'live' || this.blocked || this.snapshotting) return;
    // Asked here, not when the change came: by now the registration that caused it is answered,
    // so a lone move is not held for itself.
    if (
      this.queue.length > 0 &&
      !this.needSnapshot &&
      !this.l3Stale &&
      this.host.holdFanout(this)
    ) {
      this.fanoutHeld = true;
      return;
    }
    if (this.l3Stale || this.needSnapshot || this.queue.some((c) => c.vnConfig)) {
      void this.flushSnapshot();
      return;
    }
    this.writeQueue();
  }

  /** A routing change or a dropped backlog: a snapshot (or an L3 refresh) before anything else. */
  private async flushSnapshot(): Promise<void> {
    if (this.l3Stale || this.queue.some((c) => c.vnConfig)) {
      this.l3Stale = false;
      this.snapshotting = true; // no other flush meanwhile
      try {
        // Its VRFs' routing changed: the whole L3 overlay comes again in a snapshot.
        if (await this.refreshL3()) this.needSnapshot = true;
      } finally {
        this.snapshotting = false;
      }
      if (this.phase !== 'live') return;
    }
    if (this.needSnapshot) {
      this.needSnapshot = false;
      await this.sendSnapshot('slow_peer');
      return;
    }
    this.writeQueue();
  }

  /** The queued changes as Change messages, a run of one VNI each (and hints to their NVEs). */
  private writeQueue(): void {
    const changes = this.queue;
    this.queue = [];
    let i = 0;
    for (const run of runsByVni(changes)) {
      i += run.length;
      for (const c of run) {
        if (c.hint && (c.hint.fromNve === this.nveId || c.hint.toNve === this.nveId)) {
          this.write(hintToWire(c.hint, this.host.nveAddr(c.hint.toNve) ?? ''));
        }
      }
      // (revisions only grow: a run whose first change is new is new as a whole)
      const relevant =
        (run[0] as Change).revision > this.sentRevision
          ? run
          : run.filter((c) => c.revision > this.sentRevision);
      const last = relevant[relevant.length - 1];
      if (!last) continue;
      const msg = this.host.changeMessage(relevant);
      this.sentRevision = last.revision;
      if (msg && !this.write(msg)) {
        // The transport buffer is full: keep the rest for when it drains.
        this.queue = changes.slice(i).concat(this.queue);
        return;
      }
    }
  }

  /** Write one message; false once the transport wants us to wait for 'drain'. */
  private write(msg: object): boolean {
    if (this.phase === 'closed') return false;
    const ok = this.call.write(msg);
    if ('change' in msg || 'snapshot' in msg) {
      this.lastSentAt = performance.now();
      if (this.sentRevision > (this.unacked.at(-1) ?? this.ackedRevision)) {
        this.unacked.push(this.sentRevision);
      }
    }
    if ('change' in msg) this.host.metrics.changesSent.inc();
    if (!ok) this.blocked = true;
    return ok;
  }

  /**
   * Send a snapshot of `vnis` (default: all of the NVE's). A full snapshot replaces the backlog
   * and moves the stream to its revision. A partial one (one VNI after a digest mismatch) only
   * drops that VNI's queued changes and keeps the stream's revision, so the other VNIs' changes
   * still go out in order and an ack never covers something not yet sent.
   */
  private async sendSnapshot(
    reason: string,
    vnis: readonly number[] = this.subscribed(),
  ): Promise<void> {
    this.snapshotting = true;
    try {
      const snap = await this.host.directory.store.snapshot(vnis);
      const all = this.subscribed();
      const full = vnis.length === all.length && all.every((v) => vnis.includes(v));
      const covered = new Set(vnis);
      this.queue = this.queue.filter((c) => c.revision > snap.revision || !covered.has(c.vni));
      // A partial snapshot may take the stream to its revision too when no change of another
      // VNI up to it waits: else the changes it replaced are never acked (nothing else brings
      // the NVE to their revision until the next change).
      const caughtUp = full || !this.queue.some((c) => c.revision <= snap.revision);
      if (caughtUp) this.sentRevision = Math.max(this.sentRevision, snap.revision);
      this.host.metrics.snapshots.inc({ reason });
      // Members of the VNs it is a member of only: a route-only VN's flood list is not its own.
      const memberships = snap.memberships.filter((m) => this.vnis.has(m.vni));
      this.write(
        snapshotToWire(
          { ...snap, memberships, revision: caughtUp ? snap.revision : this.sentRevision },
          vnis,
          this.l3Configs.map(routedVnToWire),
        ),
      );
    } finally {
      this.snapshotting = false;
    }
    this.scheduleFlush();
  }

  /** Every VNI whose entries it gets: member VNIs and route-only ones. */
  private subscribed(): number[] {
    return [...new Set([...this.vnis, ...this.routeVnis])];
  }

  /**
   * Which VRFs it takes part in (from the VNs it serves): their L3 VNIs join its member VNIs
   * (their flood list is the VRF's NVEs: tunnel peers), their other routed VNs are route-only.
   * Returns true when that view changed.
   */
  private async refreshL3(): Promise<boolean> {
    const store = this.host.directory.store;
    const view = nveL3View(await store.listVns(), this.served);
    const before = JSON.stringify([this.l3Configs, [...this.routeVnis]]);
    this.l3Configs = view.configs;
    this.routeVnis = new Set(view.routeVnis);
    for (const vni of view.l3Vnis) {
      if (this.vnis.has(vni)) continue;
      this.vnis.add(vni);
      if (this.phase === 'live') await store.putMembership(this.membership(vni));
    }
    return JSON.stringify([this.l3Configs, [...this.routeVnis]]) !== before;
  }

  private membership(vni: number): { vni: number; nveId: string; nveAddr: string } {
    return { vni, nveId: this.nveId, nveAddr: this.nveAddr };
  }

  /**
   * Validate one message and route it; returns once hellos are done (others run on). Not an
   * async function: an ack (one per Change per NVE) is handled without a promise.
   */
  private dispatch(raw: unknown): Promise<void> | void {
    if (this.phase === 'closed') return;
    const parsed = parseNveMessage(raw);
    if (!parsed.ok) {
      this.host.metrics.refused.inc({ reason: 'malformed' });
      this.log.warn({ nveId: this.nveId, reason: parsed.reason }, 'malformed NVE message refused');
      this.reject(requestIdOf(raw), 'MALFORMED', parsed.reason);
      return;
    }
    const m = parsed.value;
    if ('hello' in m) return this.onHello(m.hello);
    if (this.phase === 'hello') {
      this.host.metrics.refused.inc({ reason: 'no_hello' });
      this.fail(grpc.status.FAILED_PRECONDITION, 'the first message on a stream must be a hello');
      return;
    }
    if ('register' in m)
      this.perMac(m.register.vni, m.register.mac, () => this.onRegister(m.register));
    else if ('withdraw' in m)
      this.perMac(m.withdraw.vni, m.withdraw.mac, () => this.onWithdraw(m.withdraw));
    else if ('ack' in m) return this.onAck(m.ack);
    else if ('releaseAnchor' in m)
      this.perMac(m.releaseAnchor.vni, m.releaseAnchor.mac, () =>
        this.onReleaseAnchor(m.releaseAnchor),
      );
  }

  /**
   * Run `fn` after the earlier requests for the same MAC: different MACs proceed in parallel (and
   * share the store's group commit). Too many in flight pauses reading: HTTP/2 pushes back.
   */
  private perMac(vni: number, mac: string, fn: () => Promise<void>): void {
    const key = `${vni}/${mac}`;
    this.inFlight += 1;
    this.host.requestStarted();
    if (this.inFlight >= MAX_IN_FLIGHT) this.call.pause();
    const run = (this.keyChains.get(key) ?? Promise.resolve())
      .then(fn)
      .catch((err: unknown) => {
        this.log.error({ err, nveId: this.nveId }, 'NVE request handling failed');
      })
      .finally(() => {
        if (this.keyChains.get(key) === run) this.keyChains.delete(key);
        this.inFlight -= 1;
        this.host.requestDone();
        if (this.inFlight === MAX_IN_FLIGHT / 2 && this.phase !== 'closed') this.call.resume();
      });
    this.keyChains.set(key, run);
  }

  private async onHello(h: Hello): Promise<void> {
    if (this.phase !== 'hello') {
      this.host.metrics.refused.inc({ reason: 'second_hello' });
      this.reject(0, 'MALFORMED', 'hello may be sent only once per stream');
      return;
    }
    clearTimeout(this.helloTimer);
    const auth = this.host.auth.checkNve(this.call.metadata, h.nveId);
    if (!auth.ok) {
      this.host.metrics.refused.inc({ reason: 'unauthenticated' });
      this.log.warn({ nveId: h.nveId, peer: this.call.getPeer() }, `NVE refused: ${auth.reason}`);
      this.fail(grpc.status.UNAUTHENTICATED, auth.reason);
      return;
    }
    this.nveId = h.nveId;
    this.nveAddr = h.underlayAddr;
    this.log = this.host.log.child({ nveId: h.nveId });
    const store = this.host.directory.store;
    for (const vni of new Set(h.vnis)) {
      if (!(await store.getVn(vni))) {
        this.host.metrics.refused.inc({ reason: 'unknown_vni' });
        this.reject(0, 'UNKNOWN_VNI', `VNI ${vni} is not configured on this NVA`);
        continue;
      }
      this.vnis.add(vni);
      this.served.add(vni);
    }
    await this.refreshL3();
    this.phase = 'syncing';
    this.host.attach(this);
    // Join the flood lists (a change every NVE of the VN hears), unless already there.
    let joined = false;
    for (const vni of this.vnis) {
      const m = (await store.listMemberships(vni)).find((x) => x.nveId === this.nveId);
      joined ||= !m;
      if (!m || m.nveAddr !== this.nveAddr) {
        await store.putMembership(this.membership(vni));
      }
    }
    // A VNI the NVE did not serve before has no history to resume from: snapshot everything.
    if (h.lastRevision > 0 && this.vnis.size > 0 && !joined) {
      try {
        const changes = await store.changesSince(h.lastRevision, this.subscribed());
        if (changes.some((c) => c.vnConfig)) {
          // the routing of its VRFs changed while it was away: the L3 config comes in snapshots
          this.phase = 'live';
          this.log.info({ from: h.lastRevision }, 'routing changed meanwhile: sending a snapshot');
          await this.sendSnapshot('l3_config');
          return;
        }
        this.sentRevision = h.lastRevision;
        this.ackedRevision = h.lastRevision;
        // Resume: the log, then whatever arrived live meanwhile (deduplicated by revision).
        const live = this.queue;
        this.queue = [
          ...changes,
          ...live.filter((c) => c.revision > (changes.at(-1)?.revision ?? 0)),
        ];
        this.phase = 'live';
        this.log.info({ from: h.lastRevision, changes: changes.length }, 'NVE resumed');
        if (this.queue.length === 0) {
          // Nothing missed: an empty change at the NVE's own revision tells it the resume is done.
          const vni = [...this.vnis][0] as number;
          this.write({
            change: {
              revision: h.lastRevision,
              vni,
              upserts: [],
              deletes: [],
              membersUpserted: [],
              membersRemoved: [],
            },
          });
        }
        this.scheduleFlush();
        return;
      } catch (err) {
        if (!(err instanceof RevisionTooOldError)) throw err;
        this.phase = 'live';
        this.log.info({ from: h.lastRevision }, 'NVE revision too old: sending a snapshot');
        await this.sendSnapshot('too_old');
        return;
      }
    }
    this.phase = 'live';
    this.log.info({ vnis: [...this.vnis] }, 'NVE connected');
    await this.sendSnapshot('hello');
  }

  private async onRegister(r: Register): Promise<void> {
    const res = await this.host.directory
      .register(
        {
          vni: r.vni,
          mac: r.mac,
          ips: r.ips,
          seq: r.seq,
          nveId: this.nveId,
          nveAddr: this.nveAddr,
          tsi: r.tsi,
        },
        this.vnis.has(r.vni),
      )
      .catch((err: unknown) => this.storeFailed(r.requestId, 'register', err));
    if (res) this.answer(r.requestId, 'register', res);
  }

  /** A store failure (disk full, etcd unreachable) is answered, not left to time out. */
  private storeFailed(requestId: number, kind: string, err: unknown): void {
    this.host.metrics.registrations.inc({ kind, outcome: 'INTERNAL' });
    this.log.error({ err, requestId }, `${kind} could not be stored`);
    this.reject(requestId, 'INTERNAL', `the NVA could not store the ${kind}; retry later`);
  }

  private async onWithdraw(w: Withdraw): Promise<void> {
    const res = await this.host.directory
      .withdraw(w.vni, w.mac, this.nveId)
      .catch((err: unknown) => this.storeFailed(w.requestId, 'withdraw', err));
    if (res) this.answer(w.requestId, 'withdraw', res);
  }

  /** The VM's NVE judged an anchored address idle: release it (only that NVE may). */
  private async onReleaseAnchor(r: ReleaseAnchor): Promise<void> {
    try {
      const revision = await this.host.directory.releaseAnchor(r.vni, r.mac, r.ip, this.nveId);
      this.host.metrics.registrations.inc({ kind: 'release_anchor', outcome: 'released' });
      this.write({
        accepted: { requestId: r.requestId, revision: revision ?? 0, seq: 0, outcome: 'released' },
      });
    } catch (err) {
      const code = (err as { code?: string }).code === 'NOT_OWNER' ? 'NOT_OWNER' : 'INTERNAL';
      this.host.metrics.registrations.inc({ kind: 'release_anchor', outcome: code });
      this.reject(r.requestId, code, (err as Error).message);
    }
  }

  private answer(requestId: number, kind: string, res: DirectoryResult): void {
    const outcome = res.ok ? res.outcome : res.code;
    this.host.metrics.registrations.inc({ kind, outcome });
    if (res.ok) {
      this.write({
        accepted: {
          requestId,
          revision: res.revision ?? 0,
          seq: res.entry.seq,
          outcome: res.outcome,
        },
      });
      return;
    }
    if (res.code === 'DUPLICATE' && res.revision !== undefined) this.host.metrics.duplicates.inc();
    this.log.info({ requestId, code: res.code, reason: res.reason }, `${kind} refused`);
    this.reject(requestId, res.code, res.reason);
  }

  private onAck(a: Ack): Promise<void> | void {
    this.acking = true;
    if (a.revision > this.sentRevision) {
      this.host.metrics.refused.inc({ reason: 'ack_ahead' });
      this.reject(
        0,
        'MALFORMED',
        `ack of revision ${a.revision}, beyond the ${this.sentRevision} sent`,
      );
      return;
    }
    if (a.revision > this.ackedRevision) {
      this.ackedRevision = a.revision;
      // Ack clocking: what waited for this ack goes now. (shift: one or two, no array made)
      while (this.unacked.length > 0 && (this.unacked[0] as number) <= a.revision) {
        this.unacked.shift();
      }
      if (this.queue.length > 0) this.scheduleFlush();
      this.host.tracker.ack(this.nveId, a.revision);
      // Shared with other replicas and shown by Status after the NVE disconnects.
      this.host.recordAck(this.nveId, a.revision);
    }
    if (a.digests.length > 0) return this.checkDigests(a);
  }

  /** Compare the NVE's digests with the directory's: a VNI that differs is sent again. */
  private async checkDigests(a: Ack): Promise<void> {
    for (const d of a.digests) {
      if (!this.vnis.has(d.vni)) continue;
      const state = await this.host.vniState(d.vni);
      // Only comparable when the NVE has everything that touched this VNI.
      if (a.revision < state.lastRevision || d.digest === state.digest) continue;
      this.log.warn({ vni: d.vni, revision: a.revision }, 'digest mismatch: resending the VNI');
      this.write({
        digestMismatch: { vni: d.vni, revision: a.revision, expected: state.digest, got: d.digest },
      });
      await this.sendSnapshot('digest_mismatch', [d.vni]);
    }
  }

  private reject(requestId: number, code: string, reason: string): void {
    this.write({ reject: { requestId, code, reason: reason.slice(0, 500) } });
  }

  /** End the stream with a gRPC status. */
  fail(code: grpc.status, details: string): void {
    if (this.phase === 'closed') return;
    this.call.endWithStatus(code, details);
    this.close(details);
  }

  /** Forget this session (stream gone or replaced). */
  close(why: string): void {
    if (this.phase === 'closed') return;
    const wasAttached = this.phase !== 'hello';
    this.phase = 'closed';
    clearTimeout(this.helloTimer);
    clearTimeout(this.ackClockTimer);
    this.ackClockTimer = undefined;
    this.queue = [];
    if (wasAttached) {
      this.log.info({ why }, 'NVE disconnected');
      this.host.detach(this);
    }
    if (!this.call.writableEnded) this.call.end();
  }
}

function requestIdOf(raw: unknown): number {
  if (!raw || typeof raw !== 'object') return 0;
  for (const v of Object.values(raw)) {
    if (v && typeof v === 'object' && 'requestId' in v) {
      const id = (v as { requestId: unknown }).requestId;
      if (typeof id === 'number' && Number.isSafeInteger(id) && id >= 0) return id;
    }
  }
  return 0;
}
