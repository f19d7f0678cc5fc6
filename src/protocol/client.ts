// The NVE side of the roam.v1 stream: connect, say Hello, get a snapshot (or a resume from the
// last revision installed), then changes; register/withdraw with request/answer matching; ack.
// Reconnects with exponential backoff and jitter and resumes from its last acked revision; it
// never tells its user to flush state while the NVA is away. Every NVA message is validated.
import type * as grpc from '@grpc/grpc-js';
import { withChangeDecoder } from './change-decoder.ts';
import { isPackedSnapshot, type PackedSnapshotMsg } from './packed-snapshot.ts';
import { SnapshotRefused, withSnapshotDecoder } from './snapshot-decoder.ts';
import { loadServices } from './proto.ts';
import { GrpcStatus } from './grpc-framing.ts';
import {
  H2StreamCall,
  parseTargets,
  type CallError,
  type H2StreamOptions,
  type H2Target,
} from './h2-stream-call.ts';
import {
  announcementKindToProto,
  LIMITS,
  parseNvaMessage,
  type Accepted,
  type AnnouncementKind,
  type ChangeMsg,
  type DigestMismatch,
  type MoveHintMsg,
  type Reject,
  type SnapshotMsg,
} from './schema.ts';

export const INITIAL_BACKOFF_MS = 100;
export const MAX_BACKOFF_MS = 10_000;
export const BACKOFF_MULTIPLIER = 2;
export const BACKOFF_JITTER = 0.2;
/** A register/withdraw not answered this soon fails (the stream is probably gone). */
export const REQUEST_TIMEOUT_MS = 10_000;

/** Handlers run one at a time in message order; the client waits for each before the next. */
export interface NvaClientHandlers {
  snapshot?(s: SnapshotMsg): void | Promise<void>;
  /**
   * When given, snapshots are decoded into packed columns (snapshot-decoder.ts: no object per
   * entry, validated as read) and come here instead of `snapshot` (the NVE agent's fast path).
   */
  packedSnapshot?(s: PackedSnapshotMsg): void | Promise<void>;
  change?(c: ChangeMsg): void | Promise<void>;
  moveHint?(h: MoveHintMsg): void | Promise<void>;
  digestMismatch?(d: DigestMismatch): void | Promise<void>;
  /** A Reject not tied to a request (unknown VNI in Hello, malformed message...). */
  reject?(r: Reject): void;
  connected?(): void;
  disconnected?(reason: string): void;
  /** A message from the NVA that failed validation (dropped). */
  invalid?(reason: string): void;
}

export interface NvaClientOptions {
  /**
   * The NVA: host:port, unix:/path, or ipv4:/ipv6: and a comma-separated list of its replicas'
   * host:port (parseTargets); a malformed one throws from the constructor.
   */
  address: string;
  nveId: string;
  underlayAddr: string;
  vnis: number[];
  token?: string;
  /** PEM CA to verify the NVA's certificate; absent = plaintext. */
  tlsCa?: Buffer;
  /** Ack every snapshot/change as soon as its handler returns (benchmarks, simple NVEs). */
  autoAck?: boolean;
  /** Revision to resume from on the first connect (an NVE restarting with state kept). */
  lastRevision?: number;
  handlers?: NvaClientHandlers;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface RegisterInput {
  vni: number;
  mac: string;
  ips?: string[];
  /** 0 or absent: the NVA picks. */
  seq?: number;
  tsi?: string;
  kind?: AnnouncementKind;
}

/** The NVA refused a register/withdraw: `code` is machine-readable, message says why. */
export class NvaRejectError extends Error {
  constructor(
    readonly code: string,
    reason: string,
  ) {
    super(reason);
    this.name = 'NvaRejectError';
  }
}

interface PendingRequest {
  resolve: (a: Accepted) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

type Stream = H2StreamCall<object, unknown>;

export class NvaClient {
  /** Highest revision acked (what a reconnect resumes from). */
  ackedRevision: number;
  /** Highest revision received. */
  receivedRevision = 0;
  /** Where the NVA is (several: replicas, tried in turn) and which one the next stream uses. */
  private readonly targets: H2Target[];
  private targetIndex = 0;
  private readonly call: H2StreamOptions<object, unknown>;
  private stream: Stream | undefined;
  private closed = false;
  private backoffMs: number;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private nextRequestId = 1;
  private readonly pending = new Map<number, PendingRequest>();
  private chain: Promise<void> = Promise.resolve();
  private connectedOnce = false;
  private readyWaiters: (() => void)[] = [];
  private synced = false;
  private ackPending = 0;
  private ackScheduled = false;

  constructor(private readonly opts: NvaClientOptions) {
    this.ackedRevision = opts.lastRevision ?? 0;
    this.backoffMs = opts.initialBackoffMs ?? INITIAL_BACKOFF_MS;
    // The stream runs over node:http2 (h2-stream-call.ts: why not grpc-js), as a gRPC call.
    this.targets = parseTargets(opts.address, opts.tlsCa);
    const method = nvaStreamMethod(opts.handlers?.packedSnapshot !== undefined);
    this.call = {
      path: method.path,
      metadata: opts.token ? { authorization: `Bearer ${opts.token}` } : undefined,
      serialize: method.requestSerialize,
      deserialize: method.responseDeserialize,
      maxReceiveBytes: LIMITS.nvaMessageBytes,
    };
  }

  /** Open the stream (and keep reopening it until close()). */
  start(): void {
    this.connect();
  }

  /** Resolves once a snapshot or resume has been received on the current stream. */
  ready(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  /** Register a MAC (and IPs) on this NVE; resolves with the NVA's answer, rejects if refused. */
  register(r: RegisterInput): Promise<Accepted> {
    return this.request((requestId) => ({
      register: {
        requestId,
        vni: r.vni,
        mac: r.mac,
        ips: r.ips ?? [],
        seq: r.seq ?? 0,
        tsi: r.tsi ?? '',
        kind: announcementKindToProto(r.kind ?? 'unspecified'),
      },
    }));
  }

  /** Withdraw a MAC this NVE registered. */
  withdraw(vni: number, mac: string): Promise<Accepted> {
    return this.request((requestId) => ({ withdraw: { requestId, vni, mac } }));
  }

  /** An anchored address of a VM here was idle: the NVA may release it (docs/l3.md). */
  releaseAnchor(vni: number, mac: string, ip: string): Promise<Accepted> {
    return this.request((requestId) => ({ releaseAnchor: { requestId, vni, mac, ip } }));
  }

  /** Tell the NVA everything up to `revision` is installed (with optional per-VNI digests). */
  ack(revision: number, digests: { vni: number; digest: string }[] = []): void {
    if (revision > this.ackedRevision) this.ackedRevision = revision;
    this.stream?.write({ ack: { revision, digests } });
  }

  /** autoAck: one Ack for everything handled in this turn of the event loop. */
  private scheduleAck(revision: number): void {
    this.ackPending = Math.max(this.ackPending, revision);
    if (this.ackScheduled) return;
    this.ackScheduled = true;
    scheduleAutoAck(this);
  }

  /** The turn is over (scheduleAutoAck): ack, after the handlers queued meanwhile. */
  sendAutoAck(): void {
    this.ackScheduled = false;
    this.chain = this.chain.then(() => {
      if (this.ackPending > 0) this.ack(this.ackPending);
      this.ackPending = 0;
    });
  }

  /** Close the stream for good; pending requests fail. */
  close(): void {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    this.failPending('client closed');
    this.stream?.cancel();
    this.stream = undefined;
  }

  private request(build: (requestId: number) => object): Promise<Accepted> {
    return new Promise((resolve, reject) => {
      const stream = this.stream;
      if (!stream) return reject(new NvaRejectError('DISCONNECTED', 'not connected to the NVA'));
      const requestId = this.nextRequestId++;
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject(
          new NvaRejectError('TIMEOUT', `no answer from the NVA within ${REQUEST_TIMEOUT_MS} ms`),
        );
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(requestId, { resolve, reject, timer });
      stream.write(build(requestId));
    });
  }

  private connect(): void {
    if (this.closed) return;
    const stream: Stream = new H2StreamCall(this.targets[this.targetIndex] as H2Target, this.call);
    this.stream = stream;
    this.synced = false;
    const resumeFrom = this.connectedOnce || this.ackedRevision > 0 ? this.ackedRevision : 0;
    stream.write({
      hello: {
        nveId: this.opts.nveId,
        underlayAddr: this.opts.underlayAddr,
        vnis: this.opts.vnis,
        lastRevision: resumeFrom,
      },
    });
    stream.on('data', (raw: unknown) => this.onData(raw));
    let gone = false;
    const onGone = (reason: string) => {
      if (gone) return;
      gone = true;
      if (this.stream === stream) this.stream = undefined;
      this.failPending(`stream to the NVA ended: ${reason}`);
      this.opts.handlers?.disconnected?.(reason);
      this.scheduleReconnect();
    };
    stream.on('error', (err: CallError) => {
      // Unreachable or lost: the next attempt goes to the next replica (gRPC's pick_first also
      // stays on an address that works and moves on when it fails).
      if (err.code === GrpcStatus.UNAVAILABLE) {
        this.targetIndex = (this.targetIndex + 1) % this.targets.length;
      }
      onGone(err.details || err.message);
    });
    stream.on('end', () => onGone('ended by the NVA'));
  }

  private scheduleReconnect(): void {
    if (this.closed) return;
    const jitter = 1 + (Math.random() * 2 - 1) * BACKOFF_JITTER;
    const delay = this.backoffMs * jitter;
    this.backoffMs = Math.min(
      this.backoffMs * BACKOFF_MULTIPLIER,
      this.opts.maxBackoffMs ?? MAX_BACKOFF_MS,
    );
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  private failPending(reason: string): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new NvaRejectError('DISCONNECTED', reason));
      this.pending.delete(id);
    }
  }

  private onData(raw: unknown): void {
    const packed = (raw as { snapshot?: object } | null)?.snapshot;
    if (packed && isPackedSnapshot(packed)) {
      // Validated but for its entries, which the handler decodes as it takes them: refused
      // there (SnapshotRefused), the snapshot is invalid like any message that fails validation.
      this.chain = this.chain.then(async () => {
        try {
          await this.opts.handlers?.packedSnapshot?.(packed);
        } catch (err) {
          if (err instanceof SnapshotRefused) this.opts.handlers?.invalid?.(err.message);
          throw err;
        }
        this.onSynced(packed.revision);
      });
      this.chain.catch(() => undefined);
      return;
    }
    const parsed = parseNvaMessage(raw);
    if (!parsed.ok) {
      this.opts.handlers?.invalid?.(parsed.reason);
      return;
    }
    const m = parsed.value;
    const h = this.opts.handlers ?? {};
    if ('accepted' in m) return this.settle(m.accepted.requestId, m.accepted);
    if ('reject' in m) {
      if (m.reject.requestId !== 0 && this.pending.has(m.reject.requestId)) {
        return this.settle(m.reject.requestId, new NvaRejectError(m.reject.code, m.reject.reason));
      }
      h.reject?.(m.reject);
      return;
    }
    // State messages: handled one at a time, in order.
    this.chain = this.chain.then(async () => {
      if ('snapshot' in m) {
        await h.snapshot?.(m.snapshot);
        this.onSynced(m.snapshot.revision);
      } else if ('change' in m) {
        if (!this.synced) this.onSynced(0); // a resume starts with changes
        await h.change?.(m.change);
        this.receivedRevision = Math.max(this.receivedRevision, m.change.revision);
        if (this.opts.autoAck) this.scheduleAck(m.change.revision);
      } else if ('moveHint' in m) {
        await h.moveHint?.(m.moveHint);
      } else if ('digestMismatch' in m) {
        await h.digestMismatch?.(m.digestMismatch);
      }
    });
    this.chain.catch(() => undefined);
  }

  private onSynced(snapshotRevision: number): void {
    if (snapshotRevision > 0) {
      this.receivedRevision = Math.max(this.receivedRevision, snapshotRevision);
      if (this.opts.autoAck) this.scheduleAck(snapshotRevision);
    }
    if (!this.synced) {
      this.synced = true;
      this.connectedOnce = true;
      this.backoffMs = this.opts.initialBackoffMs ?? INITIAL_BACKOFF_MS;
      this.opts.handlers?.connected?.();
      for (const w of this.readyWaiters.splice(0)) w();
    }
  }

  private settle(requestId: number, result: Accepted | Error): void {
    const p = this.pending.get(requestId);
    if (!p) return;
    this.pending.delete(requestId);
    clearTimeout(p.timer);
    if (result instanceof Error) p.reject(result);
    else p.resolve(result);
  }
}

/**
 * Clients with an automatic ack to send at the end of this turn: one task for all of them, not one
 * each (the simulated NVEs of bench:nva share a process, and each gets a Change per move).
 */
let autoAcks: NvaClient[] = [];

function scheduleAutoAck(c: NvaClient): void {
  if (autoAcks.push(c) > 1) return;
  setImmediate(() => {
    const due = autoAcks;
    autoAcks = [];
    for (const d of due) d.sendAutoAck();
  });
}

const streamMethods = new Map<boolean, grpc.MethodDefinition<object, unknown>>();

/**
 * The Nva Stream method with Change messages decoded by hand (change-decoder.ts), and with `packed`
 * Snapshots decoded into columns (snapshot-decoder.ts); built once each.
 */
function nvaStreamMethod(packed: boolean): grpc.MethodDefinition<object, unknown> {
  const known = streamMethods.get(packed);
  if (known) return known;
  const { Nva } = loadServices();
  const stream = Nva.service.Stream as grpc.MethodDefinition<object, unknown>;
  const changes = withChangeDecoder(stream.responseDeserialize);
  const method = {
    ...stream,
    responseDeserialize: packed ? withSnapshotDecoder(changes) : changes,
  };
  streamMethods.set(packed, method);
  return method;
}
