// H2GrpcServer, the NVA's gRPC server over node:http2, as a stock grpc-js client sees it: unary
// answers and errors (grpc-message's percent-encoding round trip), bidi streams (order, each way of
// ending, cancel, pause), message size limits, unknown methods and non-gRPC requests, metadata and
// peer, the addresses it listens on, shutdown, and the methods it refuses to serve.
import { mkdtempSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import {
  H2GrpcServer,
  type H2GrpcServerOptions,
  type ServerStreamCall,
  type UnaryCall,
  type UnaryCallback,
} from '../../../src/nva/h2-grpc-server.ts';
import { frameMessage } from '../../../src/protocol/grpc-framing.ts';
import { until } from './harness.ts';

const id = (b: Buffer) => b;
const method = (
  path: string,
  requestStream: boolean,
  responseStream: boolean,
): grpc.MethodDefinition<Buffer, Buffer> => ({
  path,
  requestStream,
  responseStream,
  requestSerialize: id,
  requestDeserialize: id,
  responseSerialize: id,
  responseDeserialize: id,
});
const ECHO = method('/test.T/Echo', false, false);
const CHAT = method('/test.T/Chat', true, true);
const SERVICE: grpc.ServiceDefinition = { Echo: ECHO, Chat: CHAT };

const LIMIT = 1024;
const Status = grpc.status;
const b = (s: string) => Buffer.from(s);

// Everything a test opens, closed after it (clients first, so the servers' sessions can end).
let servers: H2GrpcServer[] = [];
let clients: grpc.Client[] = [];
let dirs: string[] = [];
afterEach(async () => {
  for (const c of clients) c.close();
  for (const s of servers) {
    s.forceShutdown();
    await new Promise<void>((r) => s.tryShutdown(r));
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  servers = [];
  clients = [];
  dirs = [];
});

interface Handlers {
  Echo?: (call: UnaryCall, cb: UnaryCallback) => void;
  Chat?: (call: ServerStreamCall) => void;
}

const echoRe = (call: UnaryCall, cb: UnaryCallback) =>
  cb(null, Buffer.concat([b('re:'), call.request as Buffer]));

async function serve(
  handlers: Handlers,
  address = '127.0.0.1:0',
  over: Partial<H2GrpcServerOptions> = {},
): Promise<{ server: H2GrpcServer; port: number }> {
  const server = new H2GrpcServer({ maxReceiveBytes: LIMIT, maxSendBytes: LIMIT, ...over });
  servers.push(server);
  server.addService(SERVICE, {
    Echo: handlers.Echo ?? echoRe,
    ...(handlers.Chat && { Chat: handlers.Chat }),
  });
  return { server, port: await server.listen(address) };
}

function client(target: string): grpc.Client {
  // A subchannel of its own: closing the client closes its connection now (not when the global
  // pool next sweeps), so tryShutdown in afterEach does not wait on it.
  const c = new grpc.Client(target, grpc.credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
  });
  clients.push(c);
  return c;
}

function unary(
  c: grpc.Client,
  request: Buffer,
  md = new grpc.Metadata(),
  path = ECHO.path,
): Promise<{ value?: Buffer; err?: grpc.ServiceError }> {
  return new Promise((resolve) => {
    c.makeUnaryRequest(path, id, id, request, md, (err, value) =>
      resolve(err ? { err } : { value }),
    );
  });
}

/** A bidi call from the client, recording what it receives and how it ends. */
function chat(c: grpc.Client, md = new grpc.Metadata()) {
  const call = c.makeBidiStreamRequest(CHAT.path, id, id, md);
  const got: string[] = [];
  const rec: { status?: grpc.StatusObject; err?: grpc.ServiceError } = {};
  call.on('data', (m: Buffer) => got.push(m.toString()));
  call.on('error', (err: grpc.ServiceError) => (rec.err = err));
  call.on('status', (s: grpc.StatusObject) => (rec.status = s));
  return { call, got, rec };
}

/** The server's side of bidi calls, through a handler that records what it gets. */
function chatServer() {
  const srv = {
    calls: [] as ServerStreamCall[],
    got: [] as string[],
    closed: 0,
    handler: (call: ServerStreamCall) => {
      srv.calls.push(call);
      call.on('data', (m: Buffer) => srv.got.push(m.toString()));
      call.on('close', () => srv.closed++);
    },
  };
  return srv;
}

/** A bidi call open on both sides: the server has its first message. */
async function openChat(port: number, srv: ReturnType<typeof chatServer>) {
  const c = chat(client(`127.0.0.1:${port}`));
  c.call.write(b('hi'));
  await until('the first message', () => srv.got.length === 1);
  return c;
}

/** One POST over node:http2 (no grpc-js); the response headers once the stream has closed. */
async function rawRequest(
  port: number,
  path: string,
  contentType: string,
  body: string,
): Promise<http2.IncomingHttpHeaders> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const req = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': contentType,
      te: 'trailers',
    });
    req.end(body);
    const headers = await new Promise<http2.IncomingHttpHeaders>((r) => req.on('response', r));
    await new Promise((r) => req.on('close', r).resume());
    return headers;
  } finally {
    session.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('H2GrpcServer: unary calls', () => {
  it('answers a request', async () => {
    const { port } = await serve({});
    expect(await unary(client(`127.0.0.1:${port}`), b('hello'))).toEqual({ value: b('re:hello') });
  });

  it.each([
    'some text with ünïcode, a % and a\nnewline',
    'percent escapes kept literal: %41 %2F %25 %%, and #?;/ reserved',
  ])("a handler error's code and details reach the client exactly: %j", async (details) => {
    const { port } = await serve({ Echo: (_call, cb) => cb({ code: 5, details }) });
    const { err } = await unary(client(`127.0.0.1:${port}`), b('x'));
    expect(err?.code).toBe(Status.NOT_FOUND);
    expect(err?.details).toBe(details);
  });

  it('a handler error with only a message: UNKNOWN with that message', async () => {
    const { port } = await serve({ Echo: (_call, cb) => cb({ message: 'only a message' }) });
    const { err } = await unary(client(`127.0.0.1:${port}`), b('x'));
    expect(err?.code).toBe(Status.UNKNOWN);
    expect(err?.details).toBe('only a message');
  });
});

describe('H2GrpcServer: bidi streams', () => {
  it('carries messages both ways in order; end() gives the client OK', async () => {
    const srv = chatServer();
    const { port } = await serve({
      Chat: (call) => {
        srv.handler(call);
        call.on('data', (m: Buffer) => call.write(Buffer.concat([b('ack:'), m])));
        call.on('end', () => call.end());
      },
    });
    const { call, got, rec } = chat(client(`127.0.0.1:${port}`));
    const sent = Array.from({ length: 50 }, (_, i) => `m${i}`);
    for (const m of sent) call.write(b(m));
    call.end();
    await until('the status', () => rec.status !== undefined);
    expect(srv.got).toEqual(sent);
    expect(got).toEqual(sent.map((m) => `ack:${m}`));
    expect(rec.status?.code).toBe(Status.OK);
    expect(rec.err).toBeUndefined();
  });

  it('endWithStatus after messages: the client gets them, then that code and details', async () => {
    const { port } = await serve({
      Chat: (call) => {
        call.write(b('one'));
        call.write(b('two'));
        call.endWithStatus(7, 'why');
      },
    });
    const { got, rec } = chat(client(`127.0.0.1:${port}`));
    await until('the status', () => rec.status !== undefined);
    expect(got).toEqual(['one', 'two']);
    expect(rec.err?.code).toBe(Status.PERMISSION_DENIED);
    expect(rec.err?.details).toBe('why');
  });

  it('endWithStatus before any message (trailers-only): that code and details', async () => {
    const { port } = await serve({ Chat: (call) => call.endWithStatus(7, 'why') });
    const { got, rec } = chat(client(`127.0.0.1:${port}`));
    await until('the status', () => rec.status !== undefined);
    expect(got).toEqual([]);
    expect(rec.err?.code).toBe(Status.PERMISSION_DENIED);
    expect(rec.err?.details).toBe('why');
  });

  it('the status is in the response headers when nothing was sent (raw HTTP/2)', async () => {
    const { port } = await serve({ Chat: (call) => call.endWithStatus(7, 'why') });
    const headers = await rawRequest(port, CHAT.path, 'application/grpc', '');
    expect(headers).toMatchObject({
      ':status': 200,
      'content-type': 'application/grpc',
      'grpc-status': '7',
      'grpc-message': 'why',
    });
  });

  it("the client cancelling: the server's call emits 'close'", async () => {
    const srv = chatServer();
    const { port } = await serve({ Chat: srv.handler });
    const { call, rec } = await openChat(port, srv);
    expect(srv.closed).toBe(0);
    call.cancel();
    await until("the server call's close", () => srv.closed === 1);
    expect(srv.calls[0]?.writableEnded).toBe(true);
    await until('the status', () => rec.status !== undefined);
    expect(rec.err?.code).toBe(Status.CANCELLED);
  });

  it("pause() holds 'data' back until resume()", async () => {
    const srv = chatServer();
    const { port } = await serve({
      Chat: (call) => {
        srv.handler(call);
        call.once('data', () => call.pause());
      },
    });
    const { call } = chat(client(`127.0.0.1:${port}`));
    const sent = Array.from({ length: 20 }, (_, i) => `m${i}`);
    // The rest only once the server has paused: pause() holds back what arrives after it.
    call.write(b(sent[0] ?? ''));
    await until('the first message', () => srv.got.length === 1);
    for (const m of sent.slice(1)) call.write(b(m));
    await sleep(100);
    expect(srv.got).toEqual(['m0']);
    srv.calls[0]?.resume();
    await until('the rest', () => srv.got.length === sent.length);
    expect(srv.got).toEqual(sent);
    call.cancel();
  });
});

describe('H2GrpcServer: pause and serialization failures', () => {
  it('pause() also holds back the messages that came in the same DATA chunk', async () => {
    const srv = chatServer();
    const { port } = await serve({
      Chat: (call) => {
        srv.handler(call);
        call.once('data', () => call.pause());
      },
    });
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      const req = session.request({
        ':method': 'POST',
        ':path': CHAT.path,
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      req.on('error', () => undefined);
      // Three messages in one write: one DATA chunk for the server's deframer.
      req.write(Buffer.concat(['a', 'b', 'c'].map((m) => frameMessage(b(m)))));
      await until('the first message', () => srv.got.length >= 1);
      await sleep(100);
      expect(srv.got).toEqual(['a']);
      srv.calls[0]?.resume();
      await until('the rest', () => srv.got.length === 3);
      expect(srv.got).toEqual(['a', 'b', 'c']);
      req.close();
    } finally {
      session.close();
    }
  });

  it('a unary answer that fails to serialize: INTERNAL, not an uncaught exception', async () => {
    const server = new H2GrpcServer({ maxReceiveBytes: LIMIT, maxSendBytes: LIMIT });
    servers.push(server);
    const bad = {
      ...ECHO,
      responseSerialize: () => {
        throw new Error('bad field');
      },
    };
    server.addService({ Echo: bad }, { Echo: (_c: UnaryCall, cb: UnaryCallback) => cb(null, {}) });
    const port = await server.listen('127.0.0.1:0');
    const { err } = await unary(client(`127.0.0.1:${port}`), b('x'));
    expect(err?.code).toBe(Status.INTERNAL);
    expect(err?.details).toContain('bad field');
  });

  it('a stream message that fails to serialize: write() is false and the call ends INTERNAL', async () => {
    const wrote: boolean[] = [];
    const server = new H2GrpcServer({ maxReceiveBytes: LIMIT, maxSendBytes: LIMIT });
    servers.push(server);
    const bad = {
      ...CHAT,
      responseSerialize: (m: Buffer) => {
        if (m.toString() === 'poison') throw new Error('bad field');
        return m;
      },
    };
    server.addService(
      { Chat: bad },
      {
        Chat: (call: ServerStreamCall) => {
          wrote.push(call.write(b('ok')), call.write(b('poison')));
        },
      },
    );
    const port = await server.listen('127.0.0.1:0');
    const { got, rec } = chat(client(`127.0.0.1:${port}`));
    await until('the status', () => rec.status !== undefined);
    expect(rec.err?.code).toBe(Status.INTERNAL);
    expect(got).toEqual(['ok']);
    expect(wrote).toEqual([true, false]);
  });
});

describe('H2GrpcServer: message size limits', () => {
  it('a unary request over maxReceiveBytes: RESOURCE_EXHAUSTED, the handler not called', async () => {
    let called = false;
    const { port } = await serve(
      {
        Echo: (call, cb) => {
          called = true;
          echoRe(call, cb);
        },
      },
      '127.0.0.1:0',
      { maxSendBytes: 2 * LIMIT },
    );
    const c = client(`127.0.0.1:${port}`);
    const { err } = await unary(c, Buffer.alloc(LIMIT + 1, 0x61));
    expect(err?.code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(called).toBe(false);
    // At the limit it is served (the answer, 're:' and the request, is under maxSendBytes).
    const { value } = await unary(c, Buffer.alloc(LIMIT, 0x61));
    expect(value?.length).toBe(LIMIT + 3);
  });

  it("a stream message over maxReceiveBytes: RESOURCE_EXHAUSTED, no 'data' for it", async () => {
    const srv = chatServer();
    const { port } = await serve({ Chat: srv.handler });
    const { call, rec } = chat(client(`127.0.0.1:${port}`));
    call.write(b('small'));
    call.write(Buffer.alloc(LIMIT + 1, 0x61));
    call.write(b('after'));
    await until('the status', () => rec.status !== undefined);
    expect(rec.err?.code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(srv.got).toEqual(['small']);
  });

  it('a unary answer over maxSendBytes: RESOURCE_EXHAUSTED and no message', async () => {
    const { port } = await serve({ Echo: (_call, cb) => cb(null, Buffer.alloc(LIMIT + 1)) });
    const { value, err } = await unary(client(`127.0.0.1:${port}`), b('x'));
    expect(value).toBeUndefined();
    expect(err?.code).toBe(Status.RESOURCE_EXHAUSTED);
  });

  it('a stream message over maxSendBytes: RESOURCE_EXHAUSTED, nothing of it sent', async () => {
    const wrote: boolean[] = [];
    const { port } = await serve({
      Chat: (call) => {
        call.write(b('small'));
        wrote.push(call.write(Buffer.alloc(LIMIT + 1, 0x62)));
        wrote.push(call.write(b('after')));
      },
    });
    const received: Buffer[] = [];
    const c = chat(client(`127.0.0.1:${port}`));
    c.call.on('data', (m: Buffer) => received.push(m));
    await until('the status', () => c.rec.status !== undefined);
    expect(c.rec.err?.code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(c.got).toEqual(['small']);
    expect(received.every((m) => !m.includes(0x62))).toBe(true);
    expect(wrote).toEqual([false, false]);
  });

  it('a first stream message over maxSendBytes: RESOURCE_EXHAUSTED with no message', async () => {
    const { port } = await serve({ Chat: (call) => call.write(Buffer.alloc(LIMIT + 1)) });
    const { got, rec } = chat(client(`127.0.0.1:${port}`));
    await until('the status', () => rec.status !== undefined);
    expect(rec.err?.code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(got).toEqual([]);
  });
});

describe('H2GrpcServer: what it does not serve', () => {
  it('an unknown method: UNIMPLEMENTED', async () => {
    const { port } = await serve({});
    const c = client(`127.0.0.1:${port}`);
    const { err } = await unary(c, b('x'), new grpc.Metadata(), '/test.T/Nope');
    expect(err?.code).toBe(Status.UNIMPLEMENTED);
    // A method of the definition without a handler is unknown too.
    const { rec } = chat(c);
    await until('the status', () => rec.status !== undefined);
    expect(rec.err?.code).toBe(Status.UNIMPLEMENTED);
  });

  it('a request that is not gRPC (content-type): HTTP 415', async () => {
    const { port } = await serve({});
    const headers = await rawRequest(port, ECHO.path, 'application/json', '{}');
    expect(headers[':status']).toBe(415);
  });

  it.each([
    ['client streaming', true, false],
    ['server streaming', false, true],
  ])('addService refuses a %s method, naming its path', (_kind, reqStream, resStream) => {
    const server = new H2GrpcServer({ maxReceiveBytes: LIMIT, maxSendBytes: LIMIT });
    const def = { Up: method('/test.T/Up', reqStream, resStream) };
    expect(() => server.addService(def, { Up: () => undefined })).toThrow(/\/test\.T\/Up/);
    expect(() => server.addService(def, { Up: () => undefined })).toThrow(Error);
  });
});

describe('H2GrpcServer: metadata and peer', () => {
  it("a unary call sees the client's headers and its address", async () => {
    let seen: UnaryCall | undefined;
    let peer = '';
    const { port } = await serve({
      Echo: (call, cb) => {
        seen = call;
        peer = call.getPeer();
        echoRe(call, cb);
      },
    });
    const md = new grpc.Metadata();
    md.set('authorization', 'Bearer tok-a');
    md.set('x-roam-nve', 'a');
    await unary(client(`127.0.0.1:${port}`), b('x'), md);
    expect(seen?.metadata.get('authorization')).toEqual(['Bearer tok-a']);
    expect(seen?.metadata.get('x-roam-nve')).toEqual(['a']);
    expect(peer).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(Number(peer.split(':')[1])).toBeGreaterThan(0);
    expect(Number(peer.split(':')[1])).not.toBe(port); // the client's port, not ours
  });

  it("a stream call sees the client's headers and its address", async () => {
    const srv = chatServer();
    const { port } = await serve({ Chat: srv.handler });
    const md = new grpc.Metadata();
    md.set('authorization', 'Bearer tok-b');
    const { call } = chat(client(`127.0.0.1:${port}`), md);
    await until('the call', () => srv.calls.length === 1);
    expect(srv.calls[0]?.metadata.get('authorization')).toEqual(['Bearer tok-b']);
    expect(srv.calls[0]?.getPeer()).toMatch(/^127\.0\.0\.1:\d+$/);
    call.cancel();
  });
});

describe('H2GrpcServer: listen', () => {
  it.each(['unix:', 'unix://'])(
    'on a unix socket (%spath) a grpc-js client reaches it',
    async (scheme) => {
      const dir = mkdtempSync(join(tmpdir(), 'roam-h2grpc-'));
      dirs.push(dir);
      const path = join(dir, 'nva.sock');
      const { port } = await serve({}, `${scheme}${path}`);
      expect(port).toBe(0);
      expect(await unary(client(`unix:${path}`), b('via unix'))).toEqual({
        value: b('re:via unix'),
      });
    },
  );

  it('on IPv6 loopback ([::1]:0)', async () => {
    let peer = '';
    const { port } = await serve(
      {
        Echo: (call, cb) => {
          peer = call.getPeer();
          echoRe(call, cb);
        },
      },
      '[::1]:0',
    );
    expect(port).toBeGreaterThan(0);
    expect(await unary(client(`[::1]:${port}`), b('v6'))).toEqual({ value: b('re:v6') });
    expect(peer).toMatch(/^\[::1\]:\d+$/);
  });

  it('on a port in use: rejects with EADDRINUSE', async () => {
    const { port } = await serve({});
    const second = new H2GrpcServer({ maxReceiveBytes: LIMIT, maxSendBytes: LIMIT });
    servers.push(second);
    await expect(second.listen(`127.0.0.1:${port}`)).rejects.toMatchObject({
      code: 'EADDRINUSE',
    });
  });
});

describe('H2GrpcServer: shutdown', () => {
  it('tryShutdown calls back once the open calls are over', async () => {
    const srv = chatServer();
    const { server, port } = await serve({ Chat: srv.handler });
    const { call, rec } = await openChat(port, srv);
    let done = 0;
    server.tryShutdown(() => done++);
    await sleep(100);
    expect(done).toBe(0); // a call is still open
    // The open call still works while the server drains.
    call.write(b('still here'));
    await until('the second message', () => srv.got.length === 2);
    srv.calls[0]?.end();
    await until('the status', () => rec.status !== undefined);
    expect(rec.status?.code).toBe(Status.OK);
    await until('the shutdown callback', () => done > 0);
    await sleep(50);
    expect(done).toBe(1);
  });

  it('tryShutdown with no connection calls back at once', async () => {
    const { server } = await serve({});
    let done = 0;
    server.tryShutdown(() => done++);
    await until('the shutdown callback', () => done > 0);
    expect(done).toBe(1);
  });

  it('forceShutdown ends open calls: the client sees an error', async () => {
    const srv = chatServer();
    const { server, port } = await serve({ Chat: srv.handler });
    const { rec } = await openChat(port, srv);
    server.forceShutdown();
    await until('the client error', () => rec.err !== undefined);
    expect(rec.err?.code).not.toBe(Status.OK);
    await until("the server call's close", () => srv.closed === 1);
  });
});
