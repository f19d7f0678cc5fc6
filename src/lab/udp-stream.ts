// A sequenced UDP stream between two VM namespaces, to count what a move loses. The sender puts
// a 32-bit sequence number in each datagram at a set rate; the receiver records which numbers
// arrived and when. Both are small Node scripts run inside the VMs' namespaces (`node -e`, no
// compile step, ~50 ms to start); each prints its JSON report when stopped with SIGTERM.
// analyzeStream() joins the two reports: sent, received, lost, lost after an instant (the
// announce), and the gaps.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Netns } from './netns.ts';

/** Default stream: 1,000 datagrams/s of 64 bytes to port 9100. */
export const DEFAULT_RATE_PPS = 1000;
export const DEFAULT_PAYLOAD_BYTES = 64;
export const DEFAULT_STREAM_PORT = 9100;
/** The receiver's socket buffer: 4 MiB (the kernel caps it at net.core.rmem_max). */
const RECEIVE_BUFFER_BYTES = 4 << 20;
/** How long a stream script may take to start (bind) before we give up (ms). */
const START_TIMEOUT_MS = 10_000;
/** How long a stream script may take to write its report after SIGTERM (ms). */
const STOP_TIMEOUT_MS = 10_000;

// Sender: every ms, send as many datagrams as the rate says are due since the start, and note
// (first sequence number of the batch, wall-clock ms) so each datagram's send time is known to
// within one tick. The time is performance.timeOrigin + now(): sub-ms, same clock in every process.
const SENDER_JS = `
const d = require('node:dgram');
const [type, host, port, rate, size] = process.argv.slice(1);
const s = d.createSocket(type);
const now = () => performance.timeOrigin + performance.now();
let seq = 0, errors = 0, timer;
const marks = [];
let t0 = now();
const tick = () => {
  const t = now();
  const due = Math.floor(((t - t0) * Number(rate)) / 1000);
  if (seq >= due) return;
  marks.push([seq, t]);
  for (; seq < due; seq++) {
    const b = Buffer.alloc(Number(size));
    b.writeUInt32BE(seq, 0);
    s.send(b, Number(port), host, (e) => { if (e) errors++; });
  }
};
process.on('SIGTERM', () => {
  clearInterval(timer);
  setTimeout(() => {
    // A pipe is written asynchronously: exit once the whole report is out.
    process.stdout.write(JSON.stringify({ sent: seq, errors, startMs: t0, marks }), () =>
      process.exit(0),
    );
  }, 20);
});
// The process that started us died (our stdin closed): stop, or we would stream forever.
process.stdin.on('end', () => process.exit(0)).resume();
t0 = now();
timer = setInterval(tick, 1);
process.stderr.write('ready\\n');
`;

// Receiver: contiguous runs of sequence numbers as [first, last, tFirst, tLast]; a datagram that
// does not extend the current run starts a new one (a gap, or a late re-tunnelled one).
const RECEIVER_JS = `
const d = require('node:dgram');
const [type, port, rcvbuf] = process.argv.slice(1);
const s = d.createSocket({ type, recvBufferSize: Number(rcvbuf) });
const now = () => performance.timeOrigin + performance.now();
const runs = [];
// Datagrams the kernel dropped at this socket's full buffer (the receiver fell behind): counted
// apart, so a slow receiver is never mistaken for the network losing packets.
const rcvbufErrors = () => {
  const fs = require('node:fs');
  let n = 0;
  try {
    const l = fs.readFileSync('/proc/net/snmp', 'utf8').split('\\n').filter((x) => x.startsWith('Udp: '));
    n += Number(l[1].split(' ')[l[0].split(' ').indexOf('RcvbufErrors')]);
  } catch {}
  try {
    const m = /Udp6RcvbufErrors\\s+(\\d+)/.exec(fs.readFileSync('/proc/net/snmp6', 'utf8'));
    if (m) n += Number(m[1]);
  } catch {}
  return n;
};
const rcvbufAtStart = rcvbufErrors();
let cur = null, received = 0, maxSeq = -1, late = 0;
s.on('message', (m) => {
  if (m.length < 4) return;
  const seq = m.readUInt32BE(0), t = now();
  received++;
  if (seq < maxSeq) late++;
  if (seq > maxSeq) maxSeq = seq;
  if (cur && seq === cur[1] + 1) { cur[1] = seq; cur[3] = t; return; }
  cur = [seq, seq, t, t];
  runs.push(cur);
});
process.on('SIGTERM', () => {
  const rcvbuf = rcvbufErrors() - rcvbufAtStart;
  process.stdout.write(JSON.stringify({ received, late, rcvbufErrors: rcvbuf, runs }), () =>
    process.exit(0),
  );
});
process.stdin.on('end', () => process.exit(0)).resume();
s.bind(Number(port), () => process.stderr.write('ready\\n'));
`;

export interface SenderReport {
  sent: number;
  errors: number;
  startMs: number;
  /** [first sequence number of a batch, wall-clock ms it was sent]. */
  marks: Array<[number, number]>;
}

export interface ReceiverReport {
  received: number;
  /** Datagrams that arrived after a higher sequence number (reordered, e.g. re-tunnelled). */
  late: number;
  /** Datagrams dropped at the receiver's own full socket buffer (not the network's loss). */
  rcvbufErrors?: number;
  /** [first seq, last seq, ms first arrived, ms last arrived] of each contiguous run. */
  runs: Array<[number, number, number, number]>;
}

/** A stretch of sequence numbers that never arrived. */
export interface StreamGap {
  from: number;
  to: number;
  count: number;
  /** When its first datagram was sent (wall-clock ms). */
  sentAtMs: number;
}

export interface StreamResult {
  sent: number;
  received: number;
  /** Distinct sequence numbers that never arrived. */
  lost: number;
  /** Of those, the ones sent at or after `afterMs` (the announce). */
  lostAfter: number;
  /**
   * The first datagram that arrived at or after `afterMs` (the VM reachable again), and how many
   * datagrams sent after it never arrived.
   */
  reachable?: { seq: number; atMs: number } | undefined;
  lostAfterReachable: number;
  /** When the last datagram arrived (wall-clock ms; 0 if none did). */
  lastArrivalMs: number;
  late: number;
  duplicates: number;
  gaps: StreamGap[];
}

/** The send time of datagram `seq` (the batch it went out in). */
function sendTimeOf(marks: ReadonlyArray<[number, number]>, seq: number): number {
  let lo = 0;
  let hi = marks.length - 1;
  let best = marks[0]?.[1] ?? 0;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const m = marks[mid]!;
    if (m[0] <= seq) {
      best = m[1];
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return best;
}

/**
 * Join the two reports. `afterMs`: count separately what was lost of datagrams sent from then on
 * (and before `beforeMs`, e.g. the next move: the window one move is judged on).
 */
export function analyzeStream(
  s: SenderReport,
  r: ReceiverReport,
  afterMs = Number.POSITIVE_INFINITY,
  beforeMs = Number.POSITIVE_INFINITY,
): StreamResult {
  // Merge runs into the set of distinct sequence numbers that arrived, as sorted intervals.
  const iv = r.runs
    .map(([a, b]) => [a, b] as [number, number])
    .filter(([a]) => a < s.sent)
    .sort((x, y) => x[0] - y[0]);
  const merged: Array<[number, number]> = [];
  for (const [a, b0] of iv) {
    const b = Math.min(b0, s.sent - 1);
    const last = merged[merged.length - 1];
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else merged.push([a, b]);
  }
  const distinct = merged.reduce((n, [a, b]) => n + b - a + 1, 0);
  const gaps: StreamGap[] = [];
  let next = 0;
  const addGap = (from: number, to: number) => {
    if (to >= from)
      gaps.push({ from, to, count: to - from + 1, sentAtMs: sendTimeOf(s.marks, from) });
  };
  for (const [a, b] of merged) {
    addGap(next, a - 1);
    next = b + 1;
  }
  addGap(next, s.sent - 1);
  const inWindow = (q: number) => {
    const t = sendTimeOf(s.marks, q);
    return t >= afterMs && t < beforeMs;
  };
  let lostAfter = 0;
  for (const g of gaps) for (let q = g.from; q <= g.to; q++) if (inWindow(q)) lostAfter++;
  let reachable: { seq: number; atMs: number } | undefined;
  for (const [a, , t1] of r.runs) {
    if (t1 >= afterMs && (reachable === undefined || t1 < reachable.atMs))
      reachable = { seq: a, atMs: t1 };
  }
  let lostAfterReachable = 0;
  if (reachable) {
    const from = reachable.seq;
    for (const g of gaps)
      for (let q = Math.max(g.from, from); q <= g.to; q++) if (inWindow(q)) lostAfterReachable++;
  }
  return {
    sent: s.sent,
    received: r.received,
    lost: s.sent - distinct,
    lostAfter,
    reachable,
    lostAfterReachable,
    lastArrivalMs: r.runs.reduce((m, run) => Math.max(m, run[3]), 0),
    late: r.late,
    duplicates: Math.max(0, r.received - distinct),
    gaps,
  };
}

/** The last arrival before `t` and the first at or after it (ms), from the receiver's runs. */
export function arrivalsAround(
  r: ReceiverReport,
  t: number,
): { lastBefore?: number; firstAfter?: number } {
  let lastBefore: number | undefined;
  let firstAfter: number | undefined;
  for (const [, , t1, t2] of r.runs) {
    if (t2 < t && (lastBefore === undefined || t2 > lastBefore)) lastBefore = t2;
    if (t1 < t && t2 >= t && lastBefore === undefined) lastBefore = t1;
    if (t1 >= t && (firstAfter === undefined || t1 < firstAfter)) firstAfter = t1;
  }
  return { lastBefore, firstAfter };
}

/** One stream script running in a namespace; stop() ends it and returns its JSON report. */
class StreamProcess<R> {
  private stdout = '';
  private stderr = '';
  private readonly exited: Promise<void>;

  constructor(private readonly child: ChildProcess) {
    child.stdout?.on('data', (d: Buffer) => (this.stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    live.add(child);
  }

  /** Resolves once the script has bound its socket ("ready" on stderr). */
  async ready(): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!this.stderr.includes('ready')) {
      if (this.child.exitCode !== null)
        throw new Error(`stream script exited at start: ${this.stderr.trim()}`);
      if (Date.now() > deadline) throw new Error('stream script did not start in time');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async stop(): Promise<R> {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await this.exited;
    clearTimeout(timer);
    live.delete(this.child);
    try {
      return JSON.parse(this.stdout) as R;
    } catch {
      throw new Error(`stream script wrote no report: ${this.stderr.trim() || this.stdout}`);
    }
  }

  kill(): void {
    this.child.kill('SIGKILL');
    live.delete(this.child);
  }
}

export type StreamSender = StreamProcess<SenderReport>;
export type StreamReceiver = StreamProcess<ReceiverReport>;

function startScript<R>(ns: Netns, js: string, args: string[]): StreamProcess<R> {
  // stdin is a pipe we never write: it closes when this process dies, and the script exits.
  const child = spawn('ip', ['netns', 'exec', ns.name, process.execPath, '-e', js, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  return new StreamProcess<R>(child);
}

/** Start a receiver in `ns` on `port` (IPv4 and IPv6 sockets differ: pick the family). */
export async function startReceiver(
  ns: Netns,
  opts: { family?: 'ipv4' | 'ipv6'; port?: number } = {},
): Promise<StreamReceiver> {
  const type = opts.family === 'ipv6' ? 'udp6' : 'udp4';
  const r = startScript<ReceiverReport>(ns, RECEIVER_JS, [
    type,
    String(opts.port ?? DEFAULT_STREAM_PORT),
    String(RECEIVE_BUFFER_BYTES),
  ]);
  await r.ready();
  return r;
}

/** Start a sender in `ns` to `dst` at `ratePps` datagrams/s. */
export async function startSender(
  ns: Netns,
  dst: string,
  opts: { ratePps?: number; port?: number; payloadBytes?: number } = {},
): Promise<StreamSender> {
  const type = dst.includes(':') ? 'udp6' : 'udp4';
  const s = startScript<SenderReport>(ns, SENDER_JS, [
    type,
    dst,
    String(opts.port ?? DEFAULT_STREAM_PORT),
    String(opts.ratePps ?? DEFAULT_RATE_PPS),
    String(Math.max(4, opts.payloadBytes ?? DEFAULT_PAYLOAD_BYTES)),
  ]);
  await s.ready();
  return s;
}

/** Wall-clock ms with sub-ms precision, the clock the stream scripts use. */
export function preciseNowMs(): number {
  return performance.timeOrigin + performance.now();
}

// A crashed or interrupted run must not leave a sender running in a namespace.
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});
