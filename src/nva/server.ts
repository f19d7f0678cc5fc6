// The NVA's gRPC server: the Nva stream service (one NveSession per connected NVE) and the Admin
// service, over one directory store. Store changes fan out to the sessions serving their VNI;
// registration-caused changes are tracked until every NVE of the VN acked them (convergence).
import * as grpc from '@grpc/grpc-js';
import { logger, type Logger } from '../log.ts';
import { vniDigest } from '../protocol/digest.ts';
import { loadServices } from '../protocol/proto.ts';
import { LIMITS } from '../protocol/schema.ts';
import { adminHandlers } from './admin-service.ts';
import { Authenticator, type AuthConfig } from './auth.ts';
import { ConvergenceTracker } from './convergence.ts';
import { Directory, type DirectoryOptions } from './directory.ts';
import { createMetrics, type NvaMetrics } from './metrics.ts';
import {
  DEFAULT_ACK_CLOCK_MAX_WAIT_MS,
  DEFAULT_MAX_QUEUED_CHANGES,
  NveSession,
  type NveCall,
  type SessionHost,
} from './session.ts';
import type { AckRecord, Change, DirectoryStore } from './store.ts';
import { ENCODED, encodeRun } from './wire.ts';
import { H2GrpcServer } from './h2-grpc-server.ts';

export interface NvaServerOptions extends DirectoryOptions {
  store: DirectoryStore;
  auth: AuthConfig;
  metrics?: NvaMetrics;
  maxQueuedChanges?: number;
  /** Ack clocking: how long changes wait for an NVE's ack (session.ts; 0: off). */
  ackClockMaxWaitMs?: number;
  /** How long the fan-out waits for registrations being stored (0: off). */
  fanoutHoldMaxMs?: number;
  /** Server TLS (cert + key, PEM); absent = plaintext (loopback, trusted underlay). */
  tls?: { cert: Buffer; key: Buffer };
  log?: Logger;
}

/** Sub-millisecond wall clock, so loopback convergence times are not all 0 or 1 ms. */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * Fan-out waits at most this long for registrations being stored (then goes anyway): under a
 * steady stream of registrations, a round of Change messages at least this often.
 */
export const DEFAULT_FANOUT_HOLD_MAX_MS = 5;
/** NVE acks are handed to the store (Status, other replicas) in batches this often. */
const ACK_RECORD_MS = 100;
/** How often pending convergence records are checked for expiry. */
const CONVERGENCE_SWEEP_MS = 5_000;
/** A hint is checked this long after it expires (clocks of replicas differ a little). */
const HINT_EXPIRY_SLACK_MS = 50;

export class NvaServer implements SessionHost {
  readonly directory: Directory;
  readonly auth: Authenticator;
  readonly metrics: NvaMetrics;
  readonly tracker: ConvergenceTracker;
  readonly log: Logger;
  readonly maxQueuedChanges: number;
  readonly ackClockMaxWaitMs: number;
  private readonly fanoutHoldMaxMs: number;
  private readonly store: DirectoryStore;
  private readonly server: H2GrpcServer;
  private readonly sessions = new Map<string, NveSession>();
  private readonly unsubscribe: () => void;
  /** Message objects built this turn, shared by every session that sends the same run. */
  private messageCache = new Map<string, object>();
  private cacheClearScheduled = false;
  private readonly lastRevisionByVni = new Map<number, number>();
  private readonly digestCache = new Map<number, string>();
  private startRevision = 0;
  /** Underlay address of every NVE that is a member of some VN (also those on other replicas). */
  private readonly memberAddrs = new Map<string, string>();
  /** One timer per pending move hint: when it expires, the entry stops being `moving`. */
  private readonly hintTimers = new Map<string, NodeJS.Timeout>();
  private readonly sweepTimer: NodeJS.Timeout;
  /** Registrations and withdrawals being decided and stored, over all NVEs. */
  private requestsInFlight = 0;
  /** Sessions whose fan-out waits for those (holdFanout), and since when. */
  private readonly heldSessions = new Set<NveSession>();
  private holdingSince = 0;
  private holdTimer: NodeJS.Timeout | undefined;
  private releasing = false;
  /** Sessions with something to write, flushed together in one event-loop task. */
  private flushQueue: NveSession[] = [];
  /** Acks not yet handed to the store: revision by NVE (stamped with the time they are handed). */
  private pendingAcks = new Map<string, number>();
  private ackTimer: NodeJS.Timeout | undefined;

  constructor(opts: NvaServerOptions) {
    this.store = opts.store;
    this.directory = new Directory(opts.store, { now: preciseNow, ...opts });
    this.auth = new Authenticator(opts.auth);
    this.metrics = opts.metrics ?? createMetrics();
    this.log = opts.log ?? logger('nva');
    this.maxQueuedChanges = opts.maxQueuedChanges ?? DEFAULT_MAX_QUEUED_CHANGES;
    this.ackClockMaxWaitMs = opts.ackClockMaxWaitMs ?? DEFAULT_ACK_CLOCK_MAX_WAIT_MS;
    this.fanoutHoldMaxMs = opts.fanoutHoldMaxMs ?? DEFAULT_FANOUT_HOLD_MAX_MS;
    this.tracker = new ConvergenceTracker({
      now: opts.now ?? preciseNow,
      onConverged: (rec) => {
        this.metrics.convergence.observe(rec.durationMs / 1000);
        void this.store.addConvergence(rec).catch((err: unknown) => {
          this.log.error({ err }, 'could not store a convergence record');
        });
      },
    });
    this.sweepTimer = setInterval(() => {
      this.tracker.pendingCount();
      this.metrics.convergenceExpired.set(this.tracker.expired());
    }, CONVERGENCE_SWEEP_MS);
    this.sweepTimer.unref();
    this.unsubscribe = this.store.subscribe((c) => this.onChange(c));

    const services = loadServices();
    // gRPC on node:http2 (h2-grpc-server.ts: why not grpc-js's server).
    this.server = new H2GrpcServer({
      maxReceiveBytes: LIMITS.nveMessageBytes,
      maxSendBytes: LIMITS.nvaMessageBytes,
      tls: opts.tls,
      keepaliveMs: 30_000,
      keepaliveTimeoutMs: 10_000,
    });
    this.server.addService(withSharedSerialization(services.Nva.service), {
      Stream: (call: NveCall) => {
        new NveSession(call, this);
      },
    });
    this.server.addService(services.Admin.service, adminHandlers(this));
  }

  /** Listen on host:port (port 0 = any); resolves with the bound port. */
  async listen(address: string): Promise<number> {
    this.startRevision = await this.store.currentRevision();
    for (const m of await this.store.listMemberships()) this.memberAddrs.set(m.nveId, m.nveAddr);
    // Entries left `moving` by a previous run: watch their hints (or end them now).
    const now = preciseNow();
    for (const e of await this.store.listEntries()) {
      if (e.state !== 'moving') continue;
      const hint = await this.store.getHint(e.vni, e.mac, now);
      this.watchHint(e.vni, e.mac, hint?.expiresAt ?? now);
    }
    this.metrics.revision.set(this.startRevision);
    return this.server.listen(address);
  }

  /** Stop accepting, end every stream, release the store subscription (not the store). */
  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    clearTimeout(this.holdTimer);
    this.recordPendingAcks();
    for (const t of this.hintTimers.values()) clearTimeout(t);
    this.hintTimers.clear();
    this.unsubscribe();
    for (const s of [...this.sessions.values()]) s.close('server shutting down');
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 2_000);
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }

  /** Connected NVEs (for status and tests). */
  connected(): NveSession[] {
    return [...this.sessions.values()];
  }

  // --- SessionHost ------------------------------------------------------------------------

  attach(s: NveSession): void {
    const old = this.sessions.get(s.nveId);
    if (old && old !== s) {
      this.log.info({ nveId: s.nveId }, 'NVE reconnected: closing its older stream');
      old.fail(grpc.status.ABORTED, 'replaced by a newer stream of the same NVE');
    }
    this.sessions.set(s.nveId, s);
    this.metrics.connectedNves.set(this.sessions.size);
  }

  detach(s: NveSession): void {
    this.recordPendingAcks(); // its last ack is in the store when Status lists it as gone
    if (this.sessions.get(s.nveId) === s) {
      this.sessions.delete(s.nveId);
      this.tracker.forget(s.nveId);
    }
    this.metrics.connectedNves.set(this.sessions.size);
  }

  nveAddr(nveId: string): string | undefined {
    return this.sessions.get(nveId)?.nveAddr ?? this.memberAddrs.get(nveId);
  }

  changeMessage(run: readonly Change[]): object | null {
    const first = run[0];
    const last = run[run.length - 1];
    if (!first || !last) return null;
    const key = `${first.revision}:${last.revision}:${run.length}`;
    let msg: object | null | undefined = this.messageCache.get(key);
    if (!msg) {
      msg = encodeRun(run);
      if (!msg) return null;
      this.messageCache.set(key, msg);
      if (!this.cacheClearScheduled) {
        this.cacheClearScheduled = true;
        setTimeout(() => {
          this.cacheClearScheduled = false;
          this.messageCache = new Map();
        }, 0);
      }
    }
    return msg;
  }

  async vniState(vni: number): Promise<{ digest: string; lastRevision: number }> {
    let digest = this.digestCache.get(vni);
    if (digest === undefined) {
      const entries = (await this.store.listEntries(vni)).filter((e) => e.state !== 'withdrawn');
      digest = vniDigest(entries);
      this.digestCache.set(vni, digest);
    }
    return { digest, lastRevision: this.lastRevisionByVni.get(vni) ?? this.startRevision };
  }

  private watchHint(vni: number, mac: string, expiresAt: number): void {
    const key = `${vni}/${mac}`;
    clearTimeout(this.hintTimers.get(key));
    const timer = setTimeout(
      () => {
        this.hintTimers.delete(key);
        this.directory.expireHint(vni, mac).catch((err: unknown) => {
          this.log.error({ err, vni, mac }, 'could not expire a move hint');
        });
      },
      Math.max(0, expiresAt - preciseNow()) + HINT_EXPIRY_SLACK_MS,
    );
    timer.unref();
    this.hintTimers.set(key, timer);
  }

  scheduleFlush(s: NveSession): void {
    // One task for the whole fan-out of a commit (a hundred sessions: one, not a hundred).
    if (this.flushQueue.push(s) > 1) return;
    setImmediate(() => {
      const queue = this.flushQueue;
      this.flushQueue = [];
      for (const q of queue) q.flush();
    });
  }

  recordAck(nveId: string, revision: number): void {
    this.pendingAcks.set(nveId, revision);
    if (this.ackTimer) return;
    this.ackTimer = setTimeout(() => this.recordPendingAcks(), ACK_RECORD_MS);
    this.ackTimer.unref();
  }

  private recordPendingAcks(): void {
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    if (this.pendingAcks.size === 0) return;
    const at = Date.now();
    const acks: AckRecord[] = [];
    for (const [nveId, revision] of this.pendingAcks) acks.push({ nveId, revision, at });
    this.pendingAcks = new Map();
    this.store.recordAcks(acks).catch((err: unknown) => {
      this.log.warn({ err }, 'could not record acks');
    });
  }

  requestStarted(): void {
    this.requestsInFlight += 1;
  }

  requestDone(): void {
    this.requestsInFlight -= 1;
    if (this.requestsInFlight === 0) this.releaseFanout();
  }

  holdFanout(s: NveSession): boolean {
    if (this.requestsInFlight === 0 || this.releasing || this.fanoutHoldMaxMs <= 0) return false;
    const now = performance.now();
    if (this.heldSessions.size === 0) {
      this.holdingSince = now;
      this.holdTimer = setTimeout(() => this.releaseFanout(), this.fanoutHoldMaxMs);
    } else if (now - this.holdingSince >= this.fanoutHoldMaxMs) {
      return false;
    }
    this.heldSessions.add(s);
    return true;
  }

  private releaseFanout(): void {
    clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    const held = [...this.heldSessions];
    this.heldSessions.clear();
    this.releasing = true;
    try {
      for (const s of held) s.releaseFanout();
    } finally {
      this.releasing = false;
    }
  }

  // --- fan-out ------------------------------------------------------------------------------

  private onChange(c: Change): void {
    this.metrics.revision.set(c.revision);
    this.lastRevisionByVni.set(c.vni, c.revision);
    for (const m of c.members ?? []) this.memberAddrs.set(m.nveId, m.nveAddr);
    if (c.hint) this.watchHint(c.hint.vni, c.hint.mac, c.hint.expiresAt);
    if (c.upserts.length > 0) this.digestCache.delete(c.vni);
    const serving: string[] = [];
    for (const s of this.sessions.values()) {
      s.offer(c);
      if (s.vnis.has(c.vni) && s.isLive) serving.push(s.nveId);
    }
    if (c.cause && c.upserts.length > 0) {
      this.tracker.track(c.revision, c.vni, c.cause.mac, c.cause.registeredAt, serving);
    }
  }
}

/**
 * The same Change object written to a thousand streams is serialized once: the stream's response
 * serializer remembers the bytes of each object it already encoded, and writes the bytes of
 * messages encoded beforehand (wire.ts encodeRun) as they are.
 */
function withSharedSerialization(def: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<object, object>> = {};
  for (const [name, method] of Object.entries(def) as [
    string,
    grpc.MethodDefinition<object, object>,
  ][]) {
    const cache = new WeakMap<object, Buffer>();
    const encode = method.responseSerialize;
    out[name] = {
      ...method,
      responseSerialize: (value: object) => {
        const encoded = (value as { [ENCODED]?: Buffer })[ENCODED];
        if (encoded) return encoded;
        let buf = cache.get(value);
        if (!buf) {
          buf = encode(value);
          cache.set(value, buf);
        }
        return buf;
      },
    };
  }
  return out as grpc.ServiceDefinition;
}
