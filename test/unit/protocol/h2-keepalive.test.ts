// Keepalive pings: a connection whose peer answers stays up; one whose peer never answers is
// destroyed after the timeout, so the calls on it end instead of hanging.
import http2 from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { keepAlive } from '../../../src/protocol/h2-keepalive.ts';
import { until } from '../nva/harness.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

describe('keepAlive', () => {
  it('a peer that answers pings keeps the connection; stopping it stops the pings', async () => {
    const server = http2.createServer();
    let pings = 0;
    server.on('session', (s) => s.on('ping', () => pings++));
    const port = await listen(server);
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      await new Promise((r) => session.once('connect', r));
      const stop = keepAlive(session, 20, 100);
      await sleep(200);
      expect(session.destroyed).toBe(false);
      expect(pings).toBeGreaterThanOrEqual(3);
      stop();
      const seen = pings;
      await sleep(100);
      expect(pings).toBe(seen);
    } finally {
      session.destroy();
      server.close();
    }
  });

  it('a peer that never answers: the connection is destroyed after the timeout', async () => {
    // Accepts TCP and says nothing: no SETTINGS, no PING ack.
    const sockets: net.Socket[] = [];
    const server = net.createServer((s) => sockets.push(s));
    const port = await listen(server);
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => undefined);
    try {
      const t0 = Date.now();
      keepAlive(session, 20, 60);
      await until('the session destroyed', () => session.destroyed, 2_000);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(60);
    } finally {
      session.destroy();
      for (const s of sockets) s.destroy();
      server.close();
    }
  });
});
