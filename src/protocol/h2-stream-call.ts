// One gRPC bidirectional-streaming call, spoken over node:http2 without grpc-js: the NVE's stream
// to the NVA (a Change in, an Ack out, per move per NVE). Why not grpc-js: per message pair on
// loopback its client costs 8-10 µs of CPU where this one costs 4-6 (scripts/bench-transport.ts,
// rows grpc-shared and roam; docs/protocol.md), and at 1,000 NVEs every move is a thousand of
// them. The wire is plain gRPC (HTTP/2, 5-byte length-prefixed messages, the status in
// trailers): any gRPC server sees an ordinary call.
//
// Like grpc-js channels, calls to the same target in one process share one HTTP/2 connection
// (bench:nva's simulated NVEs), opened on first use, closed when its last user releases it, and
// kept alive with HTTP/2 pings (a silent peer is noticed, as grpc-js's keepalive does).
import http2 from 'node:http2';
import { EventEmitter } from 'node:events';
import net, { isIPv6 } from 'node:net';
import tls from 'node:tls';
import { frameMessage, GrpcStatus, MessageDeframer } from './grpc-framing.ts';
import { keepAlive } from './h2-keepalive.ts';

/** One place to connect to (parseTargets), TLS if a CA to verify the server with is given. */
export interface H2Target {
  /** host:port (an IPv6 host in brackets), or the path of a Unix domain socket. */
  address: string;
  socketPath?: string;
  tlsCa?: Buffer;
}

/** A host name or IPv4 address, or an IPv6 address in brackets; a port 1-65535. */
const HOST_PORT = /^(?:\[([0-9a-fA-F:.]+)\]|[A-Za-z0-9._-]+):(\d{1,5})$/;

function isHostPort(a: string): boolean {
  const m = HOST_PORT.exec(a);
  if (!m) return false;
  const port = Number(m[2]);
  return port >= 1 && port <= 65_535 && (m[1] === undefined || isIPv6(m[1]));
}

/**
 * The places a gRPC target names, in the forms roam's configs accept (a subset of gRPC's naming):
 * `host:port`, `dns:host:port` / `dns:///host:port`, `unix:/path` / `unix:///path`, and
 * `ipv4:` / `ipv6:` with a comma-separated list of addresses (an NVA's replicas, tried in turn).
 * Throws an Error that says what is wrong (a config mistake, not a crash).
 */
export function parseTargets(target: string, tlsCa?: Buffer): H2Target[] {
  const bad = () =>
    new Error(
      `NVA address "${target}" is not host:port, unix:/path, or ipv4:/ipv6: followed by host:port,...`,
    );
  if (target.startsWith('unix:')) {
    const path = target.replace(/^unix:(\/\/)?/, '');
    if (!path.startsWith('/')) throw bad();
    return [{ address: 'localhost', socketPath: path, tlsCa }];
  }
  const list = /^ipv[46]:/.test(target)
    ? target.slice(5).split(',')
    : [target.replace(/^dns:(\/\/\/)?/, '')];
  if (list.some((a) => !isHostPort(a))) throw bad();
  return list.map((address) => ({ address, tlsCa }));
}

export interface H2StreamOptions<Req, Res> {
  /** e.g. /roam.v1.Nva/Stream */
  path: string;
  /** Extra request headers (gRPC metadata), e.g. authorization. */
  metadata?: Record<string, string>;
  serialize(m: Req): Buffer;
  deserialize(b: Buffer): Res;
  /** Larger inbound messages end the call (RESOURCE_EXHAUSTED) before they are buffered. */
  maxReceiveBytes: number;
}

/** How a call ended when not with OK: what grpc-js's ServiceError carries. */
export class CallError extends Error {
  constructor(
    readonly code: number,
    readonly details: string,
  ) {
    super(`${code} ${details}`);
    this.name = 'CallError';
  }
}

/** Keepalive: a ping this often; no answer this soon closes the connection. */
export const KEEPALIVE_INTERVAL_MS = 30_000;
export const KEEPALIVE_TIMEOUT_MS = 10_000;
/** Receive window per stream and connection: a 1M-entry snapshot is tens of MB. */
const WINDOW_BYTES = 16 * 1024 * 1024;

interface Shared {
  key: string;
  session: http2.ClientHttp2Session;
  users: number;
}

const sessions = new Map<string, Shared>();

function keyOf(t: H2Target): string {
  const where = t.socketPath ? `unix:${t.socketPath}` : t.address;
  return t.tlsCa ? `${where}\n${t.tlsCa.toString('base64')}` : where;
}

/** The process's connection to `t` (a new one if there is none, or it is closing), held once. */
function acquire(t: H2Target): Shared {
  const key = keyOf(t);
  const known = sessions.get(key);
  if (known && !known.session.closed && !known.session.destroyed) {
    known.users += 1;
    return known;
  }
  const url = `${t.tlsCa ? 'https' : 'http'}://${t.address}`;
  const socketPath = t.socketPath;
  const session = http2.connect(url, {
    ...(t.tlsCa ? { ca: t.tlsCa } : {}),
    ...(socketPath
      ? {
          createConnection: () =>
            t.tlsCa
              ? tls.connect({
                  path: socketPath,
                  ca: t.tlsCa,
                  ALPNProtocols: ['h2'],
                  servername: 'localhost',
                })
              : net.connect(socketPath),
        }
      : {}),
    settings: { initialWindowSize: WINDOW_BYTES, enablePush: false },
    // No cap on buffered memory (node's default is 10 MB), as grpc-js sets it: snapshots are large.
    maxSessionMemory: Number.MAX_SAFE_INTEGER,
  });
  // (the pings stop by themselves once the connection closes)
  keepAlive(session, KEEPALIVE_INTERVAL_MS, KEEPALIVE_TIMEOUT_MS);
  const shared: Shared = { key, session, users: 1 };
  const forget = () => {
    if (sessions.get(key) === shared) sessions.delete(key);
  };
  session.on('connect', () => session.setLocalWindowSize(WINDOW_BYTES));
  // Errors reach the streams on it (each call reports its own); the session is just forgotten.
  session.on('error', forget);
  session.on('goaway', forget);
  session.on('close', forget);
  sessions.set(key, shared);
  return shared;
}

function release(shared: Shared): void {
  shared.users -= 1;
  if (shared.users > 0) return;
  if (sessions.get(shared.key) === shared) sessions.delete(shared.key);
  if (!shared.session.closed) shared.session.close();
}

/** gRPC's mapping of HTTP statuses when a call gets no gRPC status (http-grpc-status-mapping.md). */
function grpcCodeOfHttp(http: number): number {
  if (http === 400) return GrpcStatus.INTERNAL;
  if (http === 401) return GrpcStatus.UNAUTHENTICATED;
  if (http === 403) return GrpcStatus.PERMISSION_DENIED;
  if (http === 404) return GrpcStatus.UNIMPLEMENTED;
  if (http === 429 || http === 502 || http === 503 || http === 504) return GrpcStatus.UNAVAILABLE;
  return GrpcStatus.UNKNOWN;
}

/**
 * A bidi-streaming call. Events: 'data' (a deserialized message), then exactly one of 'end' (the
 * server closed with OK) or 'error' (a CallError: a status other than OK, a transport failure, a
 * message too large or undecodable).
 */
export class H2StreamCall<Req, Res> extends EventEmitter {
  private readonly shared: Shared;
  private readonly stream: http2.ClientHttp2Stream;
  private finished = false;
  private status: { code: number; details: string } | undefined;
  private transportError: Error | undefined;
  private readonly deframer: MessageDeframer;

  constructor(
    target: H2Target,
    private readonly opts: H2StreamOptions<Req, Res>,
  ) {
    super();
    this.deframer = new MessageDeframer(
      opts.maxReceiveBytes,
      (b) => this.deliver(b),
      (e) =>
        this.endWith(
          e.kind === 'too_large' ? GrpcStatus.RESOURCE_EXHAUSTED : GrpcStatus.INTERNAL,
          `${e.message} from the NVA`,
        ),
    );
    this.shared = acquire(target);
    this.stream = this.shared.session.request({
      ':method': 'POST',
      ':path': opts.path,
      'content-type': 'application/grpc',
      te: 'trailers',
      'user-agent': 'roam-nve',
      ...opts.metadata,
    });
    this.stream.on('response', (headers) => {
      // Trailers-only: an error answered at once (e.g. UNAUTHENTICATED) comes in the headers.
      if (headers['grpc-status'] !== undefined) return this.takeStatus(headers);
      const http = headers[':status'] ?? 0;
      if (http !== 200) {
        // Not a gRPC answer (a proxy's, say): its body is not read as messages.
        this.endWith(grpcCodeOfHttp(http), `the NVA answered HTTP status ${http}, not a gRPC call`);
      } else if (!String(headers['content-type'] ?? '').startsWith('application/grpc')) {
        this.endWith(
          GrpcStatus.UNKNOWN,
          `the NVA answered content-type ${String(headers['content-type'])}, not application/grpc`,
        );
      }
    });
    this.stream.on('trailers', (trailers) => this.takeStatus(trailers));
    this.stream.on('data', (chunk: Buffer) => this.deframer.push(chunk));
    this.stream.on('error', (err: Error) => (this.transportError ??= err));
    // The server's side ended (its status came in the trailers, just before): the call is over,
    // though this side never ended its own. 'close' covers resets and lost connections.
    this.stream.on('end', () => {
      if (this.deframer.midMessage && this.status?.code === GrpcStatus.OK) {
        this.endWith(GrpcStatus.INTERNAL, 'the NVA ended the call in the middle of a message');
      } else if (this.status) this.endWith(this.status.code, this.status.details);
    });
    this.stream.on('close', () => this.onClose());
  }

  /** Send one message; false when the transport asks the writer to wait (it is buffered). */
  write(m: Req): boolean {
    if (this.finished || this.stream.closed) return false;
    return this.stream.write(frameMessage(this.opts.serialize(m)));
  }

  /** End the call from this side (CANCELLED, as grpc-js's cancel()). */
  cancel(): void {
    this.endWith(GrpcStatus.CANCELLED, 'Cancelled on client');
  }

  private takeStatus(h: http2.IncomingHttpHeaders): void {
    const code = Number(h['grpc-status']);
    let details = String(h['grpc-message'] ?? '');
    try {
      details = decodeURIComponent(details);
    } catch {
      // not percent-encoded after all: keep it as sent
    }
    this.status = { code: Number.isInteger(code) ? code : GrpcStatus.UNKNOWN, details };
  }

  private deliver(b: Buffer): void {
    let m: Res;
    try {
      m = this.opts.deserialize(b);
    } catch (err) {
      this.endWith(
        GrpcStatus.INTERNAL,
        `response message parsing error: ${(err as Error).message}`,
      );
      return;
    }
    this.emit('data', m);
  }

  /** End the call with this status (closing the HTTP/2 stream if it is still open). */
  private endWith(code: number, details: string): void {
    if (this.finished) return;
    this.deframer.stop();
    this.status = { code, details };
    if (!this.stream.closed) {
      this.stream.close(
        code === GrpcStatus.OK ? http2.constants.NGHTTP2_NO_ERROR : http2.constants.NGHTTP2_CANCEL,
      );
    }
    this.finish();
  }

  private onClose(): void {
    if (this.finished) return;
    if (!this.status) {
      const why =
        this.transportError?.message ?? `stream reset (HTTP/2 code ${this.stream.rstCode})`;
      this.status = { code: GrpcStatus.UNAVAILABLE, details: `connection to the NVA lost: ${why}` };
    }
    this.finish();
  }

  private finish(): void {
    this.finished = true;
    release(this.shared);
    const s = this.status as { code: number; details: string };
    if (s.code === GrpcStatus.OK) this.emit('end');
    else this.emit('error', new CallError(s.code, s.details));
  }
}
