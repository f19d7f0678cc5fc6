// The NVA's gRPC server over node:http2, without grpc-js's server: unary calls (the Admin service)
// and bidirectional streams (the Nva service, one per NVE). Why: with 1,000 NVEs a move is 1,000
// Change messages written and 1,000 Acks read, and grpc-js's server costs 5-7 µs of CPU per such
// pair on loopback where this one costs 3-4.5 (scripts/bench-transport.ts, rows grpc-shared and
// roam; docs/protocol.md). The wire is plain gRPC (HTTP/2, length-prefixed messages,
// status in trailers), so grpc-js clients (roam's CLI), the NVE's own client and tools such as
// grpcurl see an ordinary gRPC server. grpc-js still provides the types, Metadata and the service
// definitions (proto-loader).
//
// What it does not do (roam does not use it): compression, deadlines on the server side, server or
// client streaming alone, reflection.
import { EventEmitter } from 'node:events';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { frameMessage, GrpcStatus, MessageDeframer } from '../protocol/grpc-framing.ts';
import { keepAlive } from '../protocol/h2-keepalive.ts';
import { splitHostPort } from './config.ts';

export interface H2GrpcServerOptions {
  /** Larger inbound messages end the call (RESOURCE_EXHAUSTED) before they are buffered. */
  maxReceiveBytes: number;
  /** A larger outbound message ends the call (RESOURCE_EXHAUSTED) instead of being sent. */
  maxSendBytes: number;
  /** Server TLS (cert + key, PEM); absent = plaintext. */
  tls?: { cert: Buffer; key: Buffer };
  /** An HTTP/2 ping to every connected client this often; no answer this soon closes it. */
  keepaliveMs?: number;
  keepaliveTimeoutMs?: number;
}

/** What a unary handler sees (the part of grpc-js's ServerUnaryCall that roam uses). */
export interface UnaryCall {
  request: unknown;
  metadata: grpc.Metadata;
  getPeer(): string;
}

export type UnaryCallback = (
  err: { code?: number; details?: string; message?: string } | null,
  value?: object,
) => void;

type UnaryHandler = (call: UnaryCall, callback: UnaryCallback) => void;
type StreamHandler = (call: ServerStreamCall) => void;

interface Route {
  method: grpc.MethodDefinition<object, object>;
  handler: UnaryHandler | StreamHandler;
}

/** Receive window per stream and connection: an NVE's burst of registrations is never held up. */
const WINDOW_BYTES = 1024 * 1024;

/** grpc-message: bytes outside printable ASCII, and '%', percent-encoded (PROTOCOL-HTTP2.md). */
function encodeGrpcMessage(details: string): string {
  let out = '';
  for (const b of Buffer.from(details, 'utf8')) {
    out +=
      b >= 0x20 && b <= 0x7e && b !== 0x25
        ? String.fromCharCode(b)
        : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** An answer that is only a status, in the response headers ("trailers-only"). */
function respondTrailersOnly(stream: http2.ServerHttp2Stream, code: number, details: string): void {
  stream.respond(
    {
      ':status': 200,
      'content-type': 'application/grpc',
      'grpc-status': String(code),
      'grpc-message': encodeGrpcMessage(details),
    },
    { endStream: true },
  );
}

function peerOf(stream: http2.ServerHttp2Stream): string {
  const s = stream.session?.socket;
  if (!s?.remoteAddress) return 'unix:';
  return s.remoteFamily === 'IPv6'
    ? `[${s.remoteAddress}]:${s.remotePort}`
    : `${s.remoteAddress}:${s.remotePort}`;
}

/**
 * One call on the server: the HTTP/2 stream, its messages deframed and deserialized. Responds
 * with headers before its first message and ends with a status in trailers (or, when nothing was
 * sent, in the headers: "trailers-only").
 */
abstract class ServerCall extends EventEmitter {
  readonly metadata: grpc.Metadata;
  private peer: string | undefined;
  protected ended = false;
  private headersSent = false;
  private pendingStatus: { code: number; details: string } | undefined;
  protected readonly deframer: MessageDeframer;

  constructor(
    protected readonly stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    protected readonly method: grpc.MethodDefinition<object, object>,
    protected readonly opts: H2GrpcServerOptions,
  ) {
    super();
    this.metadata = grpc.Metadata.fromHttp2Headers(headers);
    this.deframer = new MessageDeframer(
      opts.maxReceiveBytes,
      (b) => this.onMessage(b),
      (e) =>
        this.endWithStatus(
          e.kind === 'too_large' ? GrpcStatus.RESOURCE_EXHAUSTED : GrpcStatus.UNIMPLEMENTED,
          `${e.message} from the client`,
        ),
    );
    stream.on('data', (chunk: Buffer) => this.deframer.push(chunk));
    stream.on('wantTrailers', () => {
      const s = this.pendingStatus ?? { code: GrpcStatus.OK, details: '' };
      stream.sendTrailers({
        'grpc-status': String(s.code),
        'grpc-message': encodeGrpcMessage(s.details),
      });
    });
  }

  getPeer(): string {
    return (this.peer ??= peerOf(this.stream));
  }

  protected abstract onMessage(body: Buffer): void;

  protected decode(body: Buffer): { ok: true; value: unknown } | { ok: false } {
    try {
      return { ok: true, value: this.method.requestDeserialize(body) };
    } catch (err) {
      this.endWithStatus(
        GrpcStatus.INTERNAL,
        `request message parsing error: ${(err as Error).message}`,
      );
      return { ok: false };
    }
  }

  /** Frame and write one message (headers first if not yet sent); false: wait for 'drain'. */
  protected send(value: object): boolean {
    if (this.ended || this.stream.closed || this.stream.destroyed) return false;
    let body: Buffer;
    try {
      body = this.method.responseSerialize(value);
    } catch (err) {
      // grpc-js's server answers INTERNAL too; never an exception thrown into the handler.
      this.endWithStatus(
        GrpcStatus.INTERNAL,
        `response serialization failed: ${(err as Error).message}`,
      );
      return false;
    }
    if (body.length > this.opts.maxSendBytes) {
      this.endWithStatus(
        GrpcStatus.RESOURCE_EXHAUSTED,
        `response of ${body.length} bytes, over the ${this.opts.maxSendBytes} allowed`,
      );
      return false;
    }
    this.respondHeaders();
    return this.stream.write(frameCache(body));
  }

  private respondHeaders(): void {
    if (this.headersSent) return;
    this.headersSent = true;
    this.stream.respond(
      { ':status': 200, 'content-type': 'application/grpc' },
      { waitForTrailers: true },
    );
  }

  /** End the call with this status (in trailers, or trailers-only when nothing was sent). */
  endWithStatus(code: number, details: string): void {
    if (this.ended) return;
    this.ended = true;
    this.deframer.stop();
    if (this.stream.closed || this.stream.destroyed) return;
    if (!this.headersSent) {
      this.headersSent = true;
      respondTrailersOnly(this.stream, code, details);
      return;
    }
    this.pendingStatus = { code, details };
    this.stream.end(); // 'wantTrailers' then sends the status
  }
}

/**
 * Shared Change messages (one Buffer serialized for many NVEs) are framed once too: the frame is
 * kept for as long as the Buffer lives.
 */
const framed = new WeakMap<Buffer, Buffer>();
function frameCache(body: Buffer): Buffer {
  let f = framed.get(body);
  if (!f) {
    f = frameMessage(body);
    framed.set(body, f);
  }
  return f;
}

/** A unary call: one request message, then the handler's answer or error. */
class UnaryServerCall extends ServerCall implements UnaryCall {
  request: unknown;
  private got = false;

  start(handler: UnaryHandler): void {
    this.stream.on('end', () => {
      if (this.ended) return;
      if (!this.got) {
        this.endWithStatus(GrpcStatus.INTERNAL, 'the unary call carried no request message');
        return;
      }
      handler(this, (err, value) => {
        if (err) {
          this.endWithStatus(err.code ?? GrpcStatus.UNKNOWN, err.details ?? err.message ?? '');
          return;
        }
        this.send(value ?? {});
        this.endWithStatus(GrpcStatus.OK, '');
      });
    });
  }

  protected onMessage(body: Buffer): void {
    if (this.got) {
      this.endWithStatus(GrpcStatus.INTERNAL, 'the unary call carried more than one request');
      return;
    }
    const d = this.decode(body);
    if (!d.ok) return;
    this.got = true;
    this.request = d.value;
  }
}

/**
 * A bidirectional stream (what NveSession reads and writes). Events: 'data' (a request message),
 * 'end' (the client ended its side), 'error' (the stream failed), 'close', 'drain'.
 */
export class ServerStreamCall extends ServerCall {
  private paused = false;
  private held: unknown[] = [];
  constructor(
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    method: grpc.MethodDefinition<object, object>,
    opts: H2GrpcServerOptions,
  ) {
    super(stream, headers, method, opts);
    this.getPeer(); // while the connection is there to ask
    stream.on('end', () => this.emit('end'));
    stream.on('error', (err: Error) => {
      if (this.listenerCount('error') > 0) this.emit('error', err); // 'close' follows anyway
    });
    stream.on('close', () => {
      this.ended = true;
      this.emit('close');
    });
    stream.on('drain', () => this.emit('drain'));
  }

  get writableEnded(): boolean {
    return this.ended;
  }

  write(value: object): boolean {
    return this.send(value);
  }

  /** End the call with OK. */
  end(): void {
    this.endWithStatus(GrpcStatus.OK, '');
  }

  /**
   * Stop reading: HTTP/2 flow control holds the client back. Messages already read (the rest of
   * the chunk being deframed) wait here until resume().
   */
  pause(): void {
    this.paused = true;
    this.stream.pause();
  }

  resume(): void {
    this.paused = false;
    while (this.held.length > 0 && !this.paused && !this.ended) {
      this.emit('data', this.held.shift());
    }
    if (!this.paused) this.stream.resume();
  }

  protected onMessage(body: Buffer): void {
    const d = this.decode(body);
    if (!d.ok) return;
    if (this.paused) this.held.push(d.value);
    else this.emit('data', d.value);
  }
}

export class H2GrpcServer {
  private readonly routes = new Map<string, Route>();
  private server: http2.Http2Server | http2.Http2SecureServer | undefined;
  private readonly sessions = new Set<http2.ServerHttp2Session>();

  constructor(private readonly opts: H2GrpcServerOptions) {}

  /** Serve a service: its unary methods and bidi streams (others are refused at addService). */
  addService(
    def: grpc.ServiceDefinition,
    impl: Record<string, UnaryHandler | StreamHandler | grpc.UntypedHandleCall>,
  ): void {
    for (const [name, method] of Object.entries(def) as [
      string,
      grpc.MethodDefinition<object, object>,
    ][]) {
      const handler = impl[name];
      if (!handler) continue;
      if (method.requestStream !== method.responseStream) {
        throw new Error(`${method.path}: only unary and bidi-streaming methods are served`);
      }
      this.routes.set(method.path, { method, handler: handler as UnaryHandler | StreamHandler });
    }
  }

  /** Listen on host:port (port 0: any) or unix:/path; resolves with the bound port (0: unix). */
  listen(address: string): Promise<number> {
    // No cap on a connection's buffered memory (node's default is 10 MB), as grpc-js sets it: a
    // snapshot in flight may be larger; what a slow NVE can queue is bounded in NveSession.
    const common = {
      settings: { initialWindowSize: WINDOW_BYTES, enablePush: false },
      maxSessionMemory: Number.MAX_SAFE_INTEGER,
    };
    const server = this.opts.tls
      ? http2.createSecureServer({ ...common, cert: this.opts.tls.cert, key: this.opts.tls.key })
      : http2.createServer(common);
    this.server = server;
    server.on('session', (s) => this.onSession(s));
    server.on('stream', (stream, headers) => this.onStream(stream, headers));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      const done = () => {
        server.off('error', reject);
        const a = server.address();
        resolve(a && typeof a === 'object' ? (a as AddressInfo).port : 0);
      };
      if (address.startsWith('unix:')) {
        server.listen(address.replace(/^unix:(\/\/)?/, ''), done);
      } else {
        const { host, port } = splitHostPort(address);
        server.listen(port, host, done);
      }
    });
  }

  /** Stop accepting; `done` once every connection has finished its calls. */
  tryShutdown(done: () => void): void {
    const server = this.server;
    if (!server) return done();
    let left = this.sessions.size + 1;
    const one = () => {
      if (--left === 0) done();
    };
    server.close(() => one());
    for (const s of this.sessions) {
      if (s.closed || s.destroyed) one();
      else {
        s.once('close', one);
        s.close();
      }
    }
  }

  /** Drop every connection now. */
  forceShutdown(): void {
    for (const s of this.sessions) s.destroy();
    this.server?.close();
  }

  private onSession(session: http2.ServerHttp2Session): void {
    this.sessions.add(session);
    session.setLocalWindowSize(WINDOW_BYTES);
    // (the pings stop by themselves once the connection closes)
    keepAlive(session, this.opts.keepaliveMs ?? 30_000, this.opts.keepaliveTimeoutMs ?? 10_000);
    session.on('error', () => undefined); // each stream reports its own failure
    session.on('close', () => this.sessions.delete(session));
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => undefined); // a reset by the client; the call's 'close' follows
    const type = headers['content-type'];
    if (typeof type !== 'string' || !type.startsWith('application/grpc')) {
      stream.respond({ ':status': 415 }, { endStream: true });
      return;
    }
    const route = this.routes.get(String(headers[':path']));
    if (!route) {
      respondTrailersOnly(
        stream,
        GrpcStatus.UNIMPLEMENTED,
        `unknown method ${String(headers[':path'])}`,
      );
      return;
    }
    if (route.method.requestStream) {
      (route.handler as StreamHandler)(
        new ServerStreamCall(stream, headers, route.method, this.opts),
      );
    } else {
      new UnaryServerCall(stream, headers, route.method, this.opts).start(
        route.handler as UnaryHandler,
      );
    }
  }
}
