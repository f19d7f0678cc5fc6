// Traffic probes run inside VM namespaces: ping, and a UDP echo exchange done by small Node
// scripts (Node is always there; no netcat/socat needed). Each returns what it observed, so a
// test asserts on counts, never on a tool's exit code alone.
import { spawn } from 'node:child_process';
import type { VmNode } from './topology.ts';

export type Family = 'ipv4' | 'ipv6';

const PING_INTERVAL_S = '0.2';
const PING_WAIT_S = '1';

/** Address of a VM in a family. */
export function vmAddr(vm: VmNode, family: Family): string {
  return family === 'ipv4' ? vm.ipv4 : vm.ipv6;
}

/** Ping from a VM; returns how many of `count` echo requests were answered. */
export function ping(from: VmNode, to: string, count = 3): number {
  const fam = to.includes(':') ? '-6' : '-4';
  let out: string;
  try {
    out = from.ns.run(
      'ping',
      [fam, '-n', '-q', '-c', String(count), '-i', PING_INTERVAL_S, '-W', PING_WAIT_S, to],
      {
        timeoutMs: 30_000,
      },
    );
  } catch (err) {
    out = (err as Error).message;
  }
  const m = /(\d+) received/.exec(out);
  return m ? Number(m[1]) : 0;
}

const ECHO_SERVER = `
const d = require('node:dgram');
const s = d.createSocket(process.argv[1]);
s.on('message', (m, r) => s.send(m, r.port, r.address));
s.bind(Number(process.argv[2]), process.argv[3], () => process.stdout.write('ready\\n'));
setTimeout(() => process.exit(0), Number(process.argv[4]));
`;

const ECHO_CLIENT = `
const d = require('node:dgram');
const [type, host, port, count, waitMs] = process.argv.slice(1);
const s = d.createSocket(type);
const seen = new Set();
s.on('message', (m) => seen.add(m.toString()));
s.bind(0, () => {
  for (let i = 0; i < Number(count); i++) s.send('probe-' + i, Number(port), host);
  setTimeout(() => { process.stdout.write(String(seen.size)); process.exit(0); }, Number(waitMs));
});
`;

export interface UdpEchoResult {
  sent: number;
  echoed: number;
}

/**
 * Send `count` UDP datagrams from one VM to another, which echoes each back; returns how many
 * distinct datagrams made the round trip (both directions of the path work when echoed > 0).
 */
export async function udpEcho(
  client: VmNode,
  server: VmNode,
  family: Family,
  opts: { count?: number; port?: number; waitMs?: number } = {},
): Promise<UdpEchoResult> {
  const count = opts.count ?? 10;
  const port = opts.port ?? 7007;
  const waitMs = opts.waitMs ?? 1500;
  const type = family === 'ipv4' ? 'udp4' : 'udp6';
  const addr = vmAddr(server, family);
  const serverLifeMs = waitMs + SERVER_GRACE_MS;
  // `ip netns exec` execs node in place, so killing this child stops the server itself.
  const srv = spawn(
    'ip',
    [
      'netns',
      'exec',
      server.ns.name,
      'node',
      '-e',
      ECHO_SERVER,
      type,
      String(port),
      addr,
      String(serverLifeMs),
    ],
    {
      stdio: 'ignore',
    },
  );
  try {
    await waitForServer(server, port, family);
    const out = client.ns.run(
      'node',
      ['-e', ECHO_CLIENT, type, addr, String(port), String(count), String(waitMs)],
      {
        timeoutMs: waitMs + SERVER_GRACE_MS,
      },
    );
    return { sent: count, echoed: Number(out.trim()) || 0 };
  } finally {
    srv.kill('SIGKILL');
  }
}

const SERVER_GRACE_MS = 10_000;
const SERVER_START_POLL_MS = 50;
const SERVER_START_TIMEOUT_MS = 5000;

async function waitForServer(vm: VmNode, port: number, family: Family): Promise<void> {
  const deadline = Date.now() + SERVER_START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const out = vm.ns.run('ss', [
      '-H',
      '-u',
      '-l',
      '-n',
      family === 'ipv4' ? '-4' : '-6',
      'sport',
      '=',
      `:${port}`,
    ]);
    if (out.trim().length > 0) return;
    await new Promise((r) => setTimeout(r, SERVER_START_POLL_MS));
  }
  throw new Error(
    `UDP echo server in ${vm.name} did not bind port ${port} within ${SERVER_START_TIMEOUT_MS} ms`,
  );
}
