// A long-lived TCP connection between two VMs of the lab, to show that a connection survives a
// move: an echo server in one VM's namespace, a client in another that sends a numbered line
// every few milliseconds and counts the echoes. Both are plain `node -e` processes entered with
// nsenter --net, so the connection is the VMs' own kernel TCP, retransmissions included.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { VmNode } from './topology.ts';

/** Default port of the echo server. */
export const TCP_SESSION_PORT = 9200;
/** Gap between the client's lines (ms). */
const SEND_INTERVAL_MS = 10;
const START_TIMEOUT_MS = 10_000;

const SERVER_JS = `
const net = require('node:net');
const srv = net.createServer((s) => { s.on('error', () => {}); s.pipe(s); });
srv.listen({ host: '::', port: Number(process.argv[1]) }, () => console.log('listening'));
`;

// Prints {"echoed": n} at each echo and {"closed": reason} when the connection ends.
const CLIENT_JS = `
const net = require('node:net');
const [host, port, local] = process.argv.slice(1);
const s = net.connect({ host, port: Number(port), ...(local ? { localAddress: local } : {}) });
let sent = 0, echoed = 0, buf = '';
s.setNoDelay(true);
s.on('connect', () => {
  console.log(JSON.stringify({ connected: s.localAddress }));
  setInterval(() => s.write(String(++sent) + '\\n'), ${SEND_INTERVAL_MS});
});
s.on('data', (d) => {
  buf += d;
  let i;
  while ((i = buf.indexOf('\\n')) >= 0) {
    const n = Number(buf.slice(0, i)); buf = buf.slice(i + 1);
    if (n !== echoed + 1) { console.log(JSON.stringify({ closed: 'out of order ' + n })); process.exit(1); }
    echoed = n;
    console.log(JSON.stringify({ echoed }));
  }
});
s.on('error', (e) => console.log(JSON.stringify({ closed: e.message })));
s.on('close', () => { console.log(JSON.stringify({ closed: 'closed' })); process.exit(1); });
`;

function nodeIn(vm: VmNode, js: string, args: string[]): ChildProcess {
  return spawn('nsenter', [`--net=${vm.ns.path}`, process.execPath, '-e', js, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

/** One TCP connection from `client` to `server` (at `serverIp`), echoing numbered lines. */
export class TcpSession {
  /** Lines echoed back so far (in order: anything else ends the session). */
  echoed = 0;
  /** Why the connection ended, once it did. */
  closed: string | undefined;
  /** The client's local address of the connection. */
  localAddress = '';
  /** Longest time between two echoes (ms), e.g. the stall across a move. */
  maxGapMs = 0;
  private lastEchoAt = 0;

  private constructor(
    private readonly server: ChildProcess,
    private readonly client: ChildProcess,
  ) {}

  /**
   * Start the server, connect the client (from `localIp` if given) and resolve once the
   * connection echoes.
   */
  static async open(
    client: VmNode,
    server: VmNode,
    serverIp: string,
    o: { port?: number; localIp?: string } = {},
  ): Promise<TcpSession> {
    const port = String(o.port ?? TCP_SESSION_PORT);
    const srv = nodeIn(server, SERVER_JS, [port]);
    await firstLine(srv, (l) => l === 'listening');
    const cli = nodeIn(client, CLIENT_JS, [serverIp, port, o.localIp ?? '']);
    const session = new TcpSession(srv, cli);
    createInterface({ input: cli.stdout! }).on('line', (line) => {
      const m = JSON.parse(line) as { echoed?: number; closed?: string; connected?: string };
      if (m.echoed !== undefined) {
        const now = performance.now();
        if (session.lastEchoAt > 0)
          session.maxGapMs = Math.max(session.maxGapMs, now - session.lastEchoAt);
        session.lastEchoAt = now;
        session.echoed = m.echoed;
      }
      if (m.connected !== undefined) session.localAddress = m.connected;
      if (m.closed !== undefined) session.closed ??= m.closed;
    });
    cli.once('exit', () => (session.closed ??= 'client exited'));
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (session.echoed === 0) {
      if (session.closed || Date.now() > deadline) {
        session.close();
        throw new Error(`TCP to ${serverIp}: ${session.closed ?? 'no echo'}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    return session;
  }

  /** Resolve once `n` more lines were echoed; throws if the connection ends or stalls. */
  async waitEchoes(n: number, timeoutMs = 10_000): Promise<void> {
    const target = this.echoed + n;
    const deadline = Date.now() + timeoutMs;
    while (this.echoed < target) {
      if (this.closed) throw new Error(`TCP session ended: ${this.closed}`);
      if (Date.now() > deadline)
        throw new Error(`TCP session stalled at ${this.echoed} echoes (wanted ${target})`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  close(): void {
    this.client.kill('SIGKILL');
    this.server.kill('SIGKILL');
  }
}

function firstLine(p: ChildProcess, ok: (line: string) => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('process did not start')), START_TIMEOUT_MS);
    createInterface({ input: p.stdout! }).on('line', (l) => {
      if (ok(l)) {
        clearTimeout(t);
        resolve();
      }
    });
    p.once('exit', (code) => reject(new Error(`process exited (${code})`)));
  });
}
