// H2StreamCall, the NVE's gRPC stream over node:http2, against a raw node:http2 server that speaks
// gRPC by hand (5-byte length-prefixed messages, the status in trailers): the targets it accepts,
// how messages are cut out of DATA chunks, how each way of ending maps to a gRPC status (exactly one
// 'end' or 'error' per call), the request headers, and the one connection calls to a target share.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GrpcStatus } from '../../../src/protocol/grpc-framing.ts';
import {
  CallError,
  H2StreamCall,
  parseTargets,
  type H2StreamOptions,
  type H2Target,
} from '../../../src/protocol/h2-stream-call.ts';
import { until } from '../nva/harness.ts';

const PATH = '/roam.v1.Nva/Stream';
const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_REFUSED_STREAM } = http2.constants;

describe('parseTargets', () => {
  const ca = Buffer.from('a CA');
  const good: [string, H2Target[]][] = [
    ['127.0.0.1:50051', [{ address: '127.0.0.1:50051' }]],
    ['nva.example:443', [{ address: 'nva.example:443' }]],
    ['[::1]:50051', [{ address: '[::1]:50051' }]],
    ['[2001:db8::7]:7', [{ address: '[2001:db8::7]:7' }]],
    ['dns:nva:50051', [{ address: 'nva:50051' }]],
    ['dns:///nva:50051', [{ address: 'nva:50051' }]],
    ['dns:///[::1]:50051', [{ address: '[::1]:50051' }]],
    ['unix:/run/roam/nva.sock', [{ address: 'localhost', socketPath: '/run/roam/nva.sock' }]],
    ['unix:///run/roam/nva.sock', [{ address: 'localhost', socketPath: '/run/roam/nva.sock' }]],
    ['ipv4:10.0.0.1:50051', [{ address: '10.0.0.1:50051' }]],
    [
      'ipv4:10.0.0.1:50051,10.0.0.2:50052,10.0.0.3:50053',
      [{ address: '10.0.0.1:50051' }, { address: '10.0.0.2:50052' }, { address: '10.0.0.3:50053' }],
    ],
    [
      'ipv6:[fd00::1]:50051,[fd00::2]:50051',
      [{ address: '[fd00::1]:50051' }, { address: '[fd00::2]:50051' }],
    ],
  ];
  it.each(good)('%s', (input, want) => {
    expect(parseTargets(input)).toEqual(want);
    // The CA (TLS) goes with every place named.
    expect(parseTargets(input, ca)).toEqual(want.map((t) => ({ ...t, tlsCa: ca })));
  });

  const bad = [
    '',
    'nva',
    'nva:',
    ':50051',
    '127.0.0.1',
    '::1:50051',
    '[::1]',
    'unix:relative/nva.sock',
    'unix:',
    'unix://relative.sock',
    'dns:',
    'dns://nva:50051',
    'ipv4:',
    'ipv4:10.0.0.1:50051,',
    'ipv4:10.0.0.1:50051,nope',
    'ipv4:10.0.0.1:50051, 10.0.0.2:50051',
    'ipv6:[fd00::1]',
    ' 127.0.0.1:50051',
    '127.0.0.1:50051 ',
    'nva example:1',
    'http://x:1',
    'https://nva:443',
    'nva:port',
    // what the URL parser would reject or misread (a crash at connect time, or another host)
    '127.0.0.1:70000',
    '127.0.0.1:0',
    '[1.2.3.4]:1',
    'nva%1:1',
    'nva#x:50051',
    'nva?x:50051',
    'a@b:1',
    'ipv4:127.0.0.1:1,127.0.0.1:99999',
  ];
  it.each(bad)('%j is refused with a message naming it', (input) => {
    expect(() => parseTargets(input)).toThrow(`NVA address "${input}" is not host:port`);
  });
});

// ---- a gRPC server written by hand on node:http2 ----

interface RawServer {
  target: H2Target;
  /** Every connection the server accepted, and which of them have closed. */
  sessions: http2.ServerHttp2Session[];
  closedSessions: number;
  /** Each request's headers, and its streams (to see how they ended). */
  requests: http2.IncomingHttpHeaders[];
  streams: http2.ServerHttp2Stream[];
  close(): Promise<void>;
}

const servers: RawServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A node:http2 server on 127.0.0.1 port 0 (or on a Unix socket path) running `handler` per call. */
async function startServer(
  handler: (stream: http2.ServerHttp2Stream) => void,
  socketPath?: string,
): Promise<RawServer> {
  const server = http2.createServer();
  const raw: RawServer = {
    target: { address: '' },
    sessions: [],
    closedSessions: 0,
    requests: [],
    streams: [],
    async close() {
      for (const s of raw.sessions) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  server.on('session', (s) => {
    raw.sessions.push(s);
    s.on('close', () => (raw.closedSessions += 1));
    s.on('error', () => {}); // a client's reset is what some cases test
  });
  server.on('stream', (stream, headers) => {
    raw.requests.push(headers);
    raw.streams.push(stream);
    stream.on('error', () => {});
    handler(stream);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (socketPath) server.listen(socketPath, resolve);
    else server.listen(0, '127.0.0.1', resolve);
  });
  raw.target = socketPath
    ? (parseTargets(`unix:${socketPath}`)[0] as H2Target)
    : { address: `127.0.0.1:${(server.address() as AddressInfo).port}` };
  servers.push(raw);
  return raw;
}

/** One gRPC message: the compressed flag, the 4-byte big-endian length, the body. */
function frame(body: Buffer, flag = 0): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = flag;
  prefix.writeUInt32BE(body.length, 1);
  return Buffer.concat([prefix, body]);
}

/** The gRPC response headers; the status follows in trailers (sent by endWith). */
function respond(stream: http2.ServerHttp2Stream): void {
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
}

function endWith(stream: http2.ServerHttp2Stream, trailers: http2.OutgoingHttpHeaders): void {
  stream.once('wantTrailers', () => stream.sendTrailers(trailers));
  stream.end();
}

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- the client side ----

interface Seen {
  messages: Buffer[];
  ends: number;
  errors: unknown[];
}

function open(
  target: H2Target,
  over: Partial<H2StreamOptions<Buffer, Buffer>> = {},
): { call: H2StreamCall<Buffer, Buffer>; seen: Seen } {
  const call = new H2StreamCall<Buffer, Buffer>(target, {
    path: PATH,
    serialize: (b) => b,
    // A copy: the call may hand over a view of the chunk a message came in.
    deserialize: (b) => Buffer.from(b),
    maxReceiveBytes: 1 << 20,
    ...over,
  });
  const seen: Seen = { messages: [], ends: 0, errors: [] };
  call.on('data', (m: Buffer) => seen.messages.push(m));
  call.on('end', () => (seen.ends += 1));
  call.on('error', (e: unknown) => seen.errors.push(e));
  return { call, seen };
}

/** How the call ended ('end', or its CallError), once it did; and that nothing else followed. */
async function outcome(seen: Seen): Promise<'end' | CallError> {
  await until('the call to end', () => seen.ends + seen.errors.length > 0, 3_000);
  const messages = seen.messages.length;
  await tick(30);
  expect(seen.ends + seen.errors.length, 'exactly one end or error').toBe(1);
  expect(seen.messages.length, 'no message after the end').toBe(messages);
  if (seen.ends === 1) return 'end';
  expect(seen.errors[0]).toBeInstanceOf(CallError);
  return seen.errors[0] as CallError;
}

async function errorOf(seen: Seen): Promise<CallError> {
  const o = await outcome(seen);
  if (o === 'end') throw new Error('the call ended OK; an error was expected');
  return o;
}

describe('H2StreamCall framing', () => {
  it('several messages in one DATA chunk arrive whole and in order; OK trailers give end', async () => {
    const bodies = [
      Buffer.from('first'),
      Buffer.alloc(0),
      Buffer.from('third one'),
      randomBytes(300),
    ];
    const srv = await startServer((stream) => {
      respond(stream);
      stream.write(Buffer.concat(bodies.map((b) => frame(b)))); // one write: one DATA frame
      endWith(stream, { 'grpc-status': '0' });
    });
    const { seen } = open(srv.target);
    expect(await outcome(seen)).toBe('end');
    expect(seen.messages).toEqual(bodies);
  });

  it('a message split over several writes (its prefix too) arrives whole, then the next', async () => {
    const big = randomBytes(40_000); // also over one 16 KiB DATA frame
    const small = Buffer.from('after the big one');
    const bytes = Buffer.concat([frame(big), frame(small), frame(Buffer.from('last'))]);
    // Cuts inside the first prefix, the big body, the second prefix and the second body.
    const cuts = [0, 1, 3, 5, 6, 9_000, 40_004, 40_007, 40_012, bytes.length];
    const srv = await startServer(async (stream) => {
      respond(stream);
      for (let i = 1; i < cuts.length; i++) {
        stream.write(bytes.subarray(cuts[i - 1], cuts[i]));
        await tick(3); // separate chunks at the client
      }
      endWith(stream, { 'grpc-status': '0' });
    });
    const { seen } = open(srv.target);
    expect(await outcome(seen)).toBe('end');
    expect(seen.messages).toEqual([big, small, Buffer.from('last')]);
  });

  it('a message of maxReceiveBytes passes; a longer one ends the call (8) before its body comes', async () => {
    const max = 1_000;
    const fits = randomBytes(max);
    const srv = await startServer((stream) => {
      respond(stream);
      // The too-large message's prefix alone, never its body: the call must not wait for it.
      const prefix = Buffer.from([0, 0, 0, 0, 0]);
      prefix.writeUInt32BE(max + 1, 1);
      stream.write(Buffer.concat([frame(fits), prefix]));
    });
    const { seen } = open(srv.target, { maxReceiveBytes: max });
    const err = await errorOf(seen);
    expect(err.code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    expect(err.details).toContain(`${max + 1} bytes`);
    expect(seen.messages).toEqual([fits]);
    // The client reset the stream: the server's side is over too.
    const stream = srv.streams[0] as http2.ServerHttp2Stream;
    await until('the server stream to close', () => stream.closed);
    expect(stream.rstCode).toBe(NGHTTP2_CANCEL);
  });

  it('a huge length (4 GiB - 1) is refused, not allocated', async () => {
    const srv = await startServer((stream) => {
      respond(stream);
      stream.write(Buffer.from([0, 0xff, 0xff, 0xff, 0xff]));
    });
    const { seen } = open(srv.target);
    expect((await errorOf(seen)).code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
  });

  it('a compressed-flag message ends the call with INTERNAL (13); messages before it arrive', async () => {
    const srv = await startServer((stream) => {
      respond(stream);
      stream.write(
        Buffer.concat([
          frame(Buffer.from('plain')),
          frame(Buffer.from('zz'), 1),
          frame(Buffer.from('x')),
        ]),
      );
    });
    const { seen } = open(srv.target);
    const err = await errorOf(seen);
    expect(err.code).toBe(GrpcStatus.INTERNAL);
    expect(err.details).toContain('compressed');
    expect(seen.messages).toEqual([Buffer.from('plain')]);
  });

  it('a message deserialize throws on ends the call with INTERNAL (13); the rest is dropped', async () => {
    const srv = await startServer((stream) => {
      respond(stream);
      stream.write(Buffer.concat(['ok', 'bad', 'after'].map((s) => frame(Buffer.from(s)))));
      endWith(stream, { 'grpc-status': '0' });
    });
    const { seen } = open(srv.target, {
      deserialize: (b) => {
        if (b.toString() === 'bad') throw new Error('not a Change');
        return Buffer.from(b);
      },
    });
    const err = await errorOf(seen);
    expect(err.code).toBe(GrpcStatus.INTERNAL);
    expect(err.details).toContain('not a Change');
    expect(seen.messages).toEqual([Buffer.from('ok')]);
  });
});

describe('H2StreamCall status', () => {
  it('a trailers-only answer gives its code and the percent-decoded message', async () => {
    const srv = await startServer((stream) => {
      stream.respond(
        {
          ':status': 200,
          'content-type': 'application/grpc',
          'grpc-status': '16',
          'grpc-message': 'token%20%22t0%22%20unknown%3A%20%C3%A9%25',
        },
        { endStream: true },
      );
    });
    const { seen } = open(srv.target);
    const err = await errorOf(seen);
    expect(err.code).toBe(16);
    expect(err.details).toBe('token "t0" unknown: é%');
    expect(seen.messages).toEqual([]);
  });

  it('an error status in trailers after messages: the messages, then that error', async () => {
    const srv = await startServer((stream) => {
      respond(stream);
      stream.write(frame(Buffer.from('m1')));
      endWith(stream, { 'grpc-status': '3', 'grpc-message': 'bad%20vni' });
    });
    const { seen } = open(srv.target);
    const err = await errorOf(seen);
    expect([err.code, err.details]).toEqual([3, 'bad vni']);
    expect(seen.messages).toEqual([Buffer.from('m1')]);
  });

  it('a grpc-message that is not percent-encoding is kept as sent', async () => {
    const srv = await startServer((stream) => {
      respond(stream);
      endWith(stream, { 'grpc-status': '9', 'grpc-message': '100% full' });
    });
    const { seen } = open(srv.target);
    const err = await errorOf(seen);
    expect([err.code, err.details]).toEqual([9, '100% full']);
  });

  it('trailers without grpc-status give UNKNOWN (2)', async () => {
    const srv = await startServer((stream) => {
      respond(stream);
      endWith(stream, { 'x-other': 'y' });
    });
    const { seen } = open(srv.target);
    expect((await errorOf(seen)).code).toBe(GrpcStatus.UNKNOWN);
  });

  it('a trailers-only OK answer gives end', async () => {
    const srv = await startServer((stream) => {
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '0' },
        { endStream: true },
      );
    });
    const { seen } = open(srv.target);
    expect(await outcome(seen)).toBe('end');
  });

  it.each([
    [404, GrpcStatus.UNIMPLEMENTED],
    [401, 16],
    [503, GrpcStatus.UNAVAILABLE],
    [500, GrpcStatus.UNKNOWN],
  ])(
    'HTTP %i with a text body: code %i (gRPC mapping), the body is not read as messages',
    async (http, code) => {
      const srv = await startServer((stream) => {
        stream.respond({ ':status': http, 'content-type': 'text/plain' });
        stream.end('upstream down');
      });
      const { seen } = open(srv.target);
      const err = await errorOf(seen);
      expect([err.code, err.details]).toEqual([
        code,
        `the NVA answered HTTP status ${http}, not a gRPC call`,
      ]);
      expect(seen.messages).toEqual([]);
    },
  );

  it('a 200 answer that is not application/grpc is an error naming its content-type', async () => {
    const srv = await startServer((stream) => {
      stream.respond({ ':status': 200, 'content-type': 'text/html' });
      stream.end(frame(Buffer.from('looks like a message')));
    });
    const { seen } = open(srv.target);
    const err = await errorOf(seen);
    expect(err.code).toBe(GrpcStatus.UNKNOWN);
    expect(err.details).toContain('content-type text/html');
    expect(seen.messages).toEqual([]);
  });

  it('OK trailers in the middle of a message: INTERNAL, not a clean end', async () => {
    const srv = await startServer((stream) => {
      respond(stream);
      stream.write(Buffer.from([0, 0, 0, 0, 10, 1, 2, 3]));
      endWith(stream, { 'grpc-status': '0' });
    });
    const { seen } = open(srv.target);
    const err = await errorOf(seen);
    expect(err.code).toBe(GrpcStatus.INTERNAL);
    expect(err.details).toContain('middle of a message');
  });

  it('an HTTP answer that is not 200 is an error naming the status, not an end', async () => {
    const srv = await startServer((stream) => {
      stream.respond({ ':status': 404 }, { endStream: true });
    });
    const { seen } = open(srv.target);
    const err = await errorOf(seen);
    expect(err.code).not.toBe(GrpcStatus.OK);
    expect(err.details).toContain('HTTP status 404');
  });
});

describe('H2StreamCall transport failures are UNAVAILABLE (14)', () => {
  const cases: [string, (stream: http2.ServerHttp2Stream) => void][] = [
    [
      'the server resets the stream after a message',
      (stream) => {
        respond(stream);
        stream.write(frame(Buffer.from('m1')), () => stream.close(NGHTTP2_INTERNAL_ERROR));
      },
    ],
    ['the server refuses the stream at once', (stream) => stream.close(NGHTTP2_REFUSED_STREAM)],
    [
      'the server destroys the connection after a message',
      (stream) => {
        respond(stream);
        stream.write(frame(Buffer.from('m1')), () => stream.session?.destroy());
      },
    ],
    ['the server destroys the connection before answering', (stream) => stream.session?.destroy()],
  ];
  it.each(cases)('%s', async (_, handler) => {
    const srv = await startServer(handler);
    const { seen } = open(srv.target);
    const err = await errorOf(seen);
    expect(err.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(err.details).toContain('connection to the NVA lost');
  });

  it('nobody listening', async () => {
    const srv = await startServer(() => {});
    const target = srv.target;
    await Promise.all(servers.splice(0).map((s) => s.close()));
    const { seen } = open(target);
    const err = await errorOf(seen);
    expect(err.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(err.details).toContain('ECONNREFUSED');
  });
});

describe('H2StreamCall requests and connections', () => {
  it('sends the metadata, gRPC headers and framed messages the server reads', async () => {
    const received: Buffer[] = [];
    const srv = await startServer((stream) => {
      respond(stream);
      stream.on('data', (c: Buffer) => {
        received.push(c);
        // Echo once both requests are in: the client's messages are framed as gRPC frames them.
        if (Buffer.concat(received).length === 5 + 5 + 5 + 3) {
          stream.write(Buffer.concat(received));
          endWith(stream, { 'grpc-status': '0' });
        }
      });
    });
    const { call, seen } = open(srv.target, {
      metadata: { authorization: 'Bearer t0k', 'x-roam-nve': 'a' },
    });
    expect(call.write(Buffer.from('hello'))).toBe(true);
    call.write(Buffer.from('nve'));
    expect(await outcome(seen)).toBe('end');
    expect(seen.messages).toEqual([Buffer.from('hello'), Buffer.from('nve')]);
    expect(Buffer.concat(received)).toEqual(
      Buffer.concat([frame(Buffer.from('hello')), frame(Buffer.from('nve'))]),
    );
    const h = srv.requests[0] as http2.IncomingHttpHeaders;
    expect(h).toMatchObject({
      ':method': 'POST',
      ':path': PATH,
      ':scheme': 'http',
      'content-type': 'application/grpc',
      te: 'trailers',
      authorization: 'Bearer t0k',
      'x-roam-nve': 'a',
    });
  });

  it('cancel() ends the call once with CANCELLED (1) and the server sees the stream reset', async () => {
    const srv = await startServer((stream) => {
      respond(stream);
      stream.write(frame(Buffer.from('m1')));
    });
    const { call, seen } = open(srv.target);
    await until('the first message', () => seen.messages.length === 1);
    call.cancel();
    call.cancel(); // a second cancel changes nothing
    const err = await errorOf(seen);
    expect(err.code).toBe(GrpcStatus.CANCELLED);
    expect(call.write(Buffer.from('late'))).toBe(false);
    const stream = srv.streams[0] as http2.ServerHttp2Stream;
    await until('the server stream to close', () => stream.closed);
    expect(stream.rstCode).toBe(NGHTTP2_CANCEL);
  });

  it('cancel() before the connection is up ends the call once, and nothing is left open', async () => {
    const srv = await startServer((stream) => respond(stream));
    const { call, seen } = open(srv.target);
    call.cancel();
    expect((await errorOf(seen)).code).toBe(GrpcStatus.CANCELLED);
    // Whatever reached the server is closed again: the call released its connection.
    await until('every connection to close', () => srv.closedSessions === srv.sessions.length);
    expect(srv.streams.every((s) => s.closed)).toBe(true);
  });

  it('two calls to one target share one connection, closed once both have ended', async () => {
    const srv = await startServer((stream) => {
      respond(stream);
      stream.write(frame(Buffer.from(`call ${srv.streams.length}`)));
    });
    const a = open(srv.target);
    const b = open(srv.target);
    await until(
      'both calls to answer',
      () => a.seen.messages.length + b.seen.messages.length === 2,
    );
    expect(srv.sessions).toHaveLength(1);
    expect(srv.streams).toHaveLength(2);

    a.call.cancel();
    expect((await errorOf(a.seen)).code).toBe(GrpcStatus.CANCELLED);
    expect(srv.closedSessions, 'b still uses the connection').toBe(0);
    expect(srv.streams[1]?.closed).toBe(false);

    endWith(srv.streams[1] as http2.ServerHttp2Stream, { 'grpc-status': '0' });
    expect(await outcome(b.seen)).toBe('end');
    await until('the connection to close', () => srv.closedSessions === 1);

    // Released, not kept: the next call opens a new connection.
    const c = open(srv.target);
    await until('a third call to answer', () => c.seen.messages.length === 1);
    expect(srv.sessions).toHaveLength(2);
    c.call.cancel();
    await errorOf(c.seen);
    await until('that connection to close too', () => srv.closedSessions === 2);
  });

  it('a unix:/path target reaches a server listening on that socket', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'roam-h2-'));
    try {
      const srv = await startServer(
        (stream) => {
          respond(stream);
          stream.write(frame(Buffer.from('over a unix socket')));
          endWith(stream, { 'grpc-status': '0' });
        },
        join(dir, 'nva.sock'),
      );
      expect(srv.target).toEqual({ address: 'localhost', socketPath: join(dir, 'nva.sock') });
      const { seen } = open(srv.target, { metadata: { authorization: 'Bearer u' } });
      expect(await outcome(seen)).toBe('end');
      expect(seen.messages).toEqual([Buffer.from('over a unix socket')]);
      expect(srv.requests[0]?.authorization).toBe('Bearer u');
      await Promise.all(servers.splice(0).map((s) => s.close()));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
