// npm run bench:nva — convergence of VM moves through a real NVA (issue 4's benchmark).
// For each store (embedded SQLite, etcd: a real 3-member cluster on loopback) and each size
// (100, 1,000 NVEs, all in one VNI), an NvaServer listens on 127.0.0.1 and child processes host
// the NVEs as real roam.v1 stream clients that ack every change on arrival. VMs are placed, then
// each is moved once (the destination NVE registers it). A move's convergence time is the NVA's
// own record: from the registration reaching the NVA to the last NVE's acknowledgement. Prints a
// table; --json FILE writes it.
//
//   tsx scripts/bench-nva.ts [--quick] [--json FILE] [--stores sqlite,etcd] [--sizes 100,1000]
//                            [--moves N] [--procs N] [--window N[,N...]] [--warmup N]
//
// Warm-up (--warmup N, default 1): before the measured round, N rounds of the same moves (every
// VM moved once more, same window), not counted. A process that has just started runs its move
// path cold (most likely V8 compiling it, on the same two cores as the NVEs): in the first round
// the first ~0.5 s of moves converged 3-5x slower than the rest, and those were most of the slowest
// 1%. A running NVA is warm; the first round's p50/p99 are still reported (first_round_*), so the
// cost of a cold start is in the table too. --warmup 0 measures the first round (rounds before
// 2026-12-06 did).
//
// Load patterns (--window: registrations in flight at once over all NVEs; each one is sent as
// soon as one in flight is accepted). Both run by default, one row each:
//   window 1       the "1,000 moves issued as fast as they are accepted": one sequence of
//                  moves (an orchestrator draining hosts), the next registered as soon as the last
//                  was accepted (not converged: fan-outs of consecutive moves overlap). The p99
//                  goals are checked on this row.
//   window = moves the same words as a capacity figure: the NVA's acceptance is the only limit,
//                  so the whole burst is in flight at once (every VM's destination NVE registers
//                  it as it arrives, pipelined on its stream as the protocol allows; 10 per NVE
//                  at 100 NVEs, 1 per NVE at 1,000). The throughput goal is checked on this row;
//                  its latencies are queueing (Little's law: W in flight at X/s wait W/X).
//                  (Until round 4, docs/nva.md, window = NVEs: each NVE waited for its last
//                  registration's answer before the next, which at 100 NVEs measured 100 NVE
//                  round trips in flight more than what the NVA accepts: still --window 100.)
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setRootLogger } from '../src/log.ts';
import { pino } from 'pino';
import type { ConvergenceRecord } from '../src/nva/model.ts';
import { NvaServer } from '../src/nva/server.ts';
import { EtcdStore } from '../src/nva/store-etcd.ts';
import { SqliteStore } from '../src/nva/store-sqlite.ts';
import type { DirectoryStore } from '../src/nva/store.ts';
import { EtcdCluster } from '../test/helpers/etcd-cluster.ts';
import type { FromNves, ToNves } from './bench-nva-nves.ts';
import { startProfile, stopProfile } from './bench-nva-profile.ts';
import { writeBenchJson } from '../src/lab/bench-json.ts';

const VNI = 4242;
const DEFAULT_SIZES = [100, 1_000];
const DEFAULT_MOVES = 1_000;
const QUICK_SIZES = [100];
const QUICK_MOVES = 200;
/** NVE client processes (the NVA keeps the bench's own process). */
const DEFAULT_PROCS = 2;
/** Unmeasured rounds of moves before the measured one (see --warmup above). */
const DEFAULT_WARMUP_ROUNDS = 1;
/** How long to wait for every move to converge before reporting what did. */
const CONVERGE_TIMEOUT_MS = 60_000;
/** Goals from issue 4, embedded store; etcd may be this many times worse. */
const GOAL = { p99_ms: { 100: 10, 1000: 100 } as Record<number, number>, regs_per_s: 5_000 };
const ETCD_SLACK = 3;

type StoreKind = 'sqlite' | 'etcd';

interface Row {
  store: StoreKind;
  nves: number;
  moves: number;
  window: number;
  converged: number;
  rejected: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  registrations_per_s: number;
  /** CPU (user + system) of the NVA process per accepted move, from first move to convergence. */
  nva_cpu_ms_per_reg: number;
  /** The same for all the simulated NVEs' processes together (decode, validate, ack). */
  nves_cpu_ms_per_reg: number;
  /** Change messages the NVA wrote (to all NVEs) per accepted move: how well fan-out batches. */
  change_msgs_per_reg: number;
  /** Unmeasured rounds of moves before the measured one (--warmup). */
  warmup_rounds: number;
  /** The first round of moves after start (cold), whether or not it was the measured one. */
  first_round_p50_ms: number;
  first_round_p99_ms: number;
  /** Which of the goals this row is held to (by its load pattern), and the verdict. */
  goal_checked: 'p99' | 'registrations_per_s' | 'none';
  goal_met: boolean | null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function mac(i: number): string {
  return `02:b0:00:${((i >> 16) & 0xff).toString(16).padStart(2, '0')}:${((i >> 8) & 0xff)
    .toString(16)
    .padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
}

/** A child process hosting some NVEs, spoken to by request/answer over IPC. */
class NveProcess {
  private readonly proc: ChildProcess;
  private waiting: ((m: FromNves) => void) | undefined;

  constructor() {
    const script = fileURLToPath(new URL('./bench-nva-nves.ts', import.meta.url));
    this.proc = fork(script, [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, ROAM_LOG_LEVEL: 'error' },
    });
    this.proc.on('message', (m: FromNves) => {
      const w = this.waiting;
      this.waiting = undefined;
      w?.(m);
    });
  }

  async ask(m: ToNves): Promise<FromNves> {
    const answer = new Promise<FromNves>((resolve) => (this.waiting = resolve));
    this.proc.send(m);
    const a = await answer;
    if ('error' in a) throw new Error(`NVE process: ${a.error}`);
    return a;
  }

  close(): void {
    if (this.proc.connected) this.proc.send({ cmd: 'close' } satisfies ToNves);
    setTimeout(() => this.proc.kill('SIGKILL'), 2_000).unref();
  }
}

async function openStore(
  kind: StoreKind,
  tmp: string,
  cluster: () => Promise<EtcdCluster>,
): Promise<DirectoryStore> {
  if (kind === 'sqlite') return new SqliteStore({ path: join(tmp, `nva-${Date.now()}.db`) });
  const c = await cluster();
  return EtcdStore.open({
    hosts: c.endpoints(),
    prefix: `/roam-bench/${randomBytes(4).toString('hex')}/`,
  });
}

async function runRow(
  kind: StoreKind,
  nves: number,
  moves: number,
  procs: number,
  window: number,
  warmup: number,
  tmp: string,
  cluster: () => Promise<EtcdCluster>,
): Promise<Row> {
  const store = await openStore(kind, tmp, cluster);
  await store.putVn({ vni: VNI, routed: false, learning: 'open' });
  // The NVA's convergence records, as it stores them.
  const records: ConvergenceRecord[] = [];
  const addConvergence = store.addConvergence.bind(store);
  store.addConvergence = async (rec) => {
    records.push(rec);
    return addConvergence(rec);
  };
  const server = new NvaServer({ store, auth: { openNves: true } });
  const port = await server.listen('127.0.0.1:0');
  const children = Array.from({ length: Math.min(procs, nves) }, () => new NveProcess());
  try {
    // NVEs in contiguous blocks, one per process; connect each (it gets a snapshot and acks it).
    const procOf = (nve: number) => Math.floor((nve * children.length) / nves);
    const ids = Array.from({ length: nves }, (_, i) => ({
      id: `nve${i}`,
      addr: `10.255.${i >> 8}.${i & 0xff}`,
    }));
    await Promise.all(
      children.map((c, k) =>
        c.ask({
          cmd: 'connect',
          address: `127.0.0.1:${port}`,
          vni: VNI,
          nves: ids.filter((_, i) => procOf(i) === k),
        }),
      ),
    );

    // Place the VMs (VM i on NVE i mod n), not measured.
    const place = (dest: (i: number) => number, inFlight: number) => {
      const perChild = children.map(() => [] as { nve: string; mac: string; ip: string }[]);
      for (let i = 0; i < moves; i++) {
        const n = dest(i);
        perChild[procOf(n)]!.push({
          nve: `nve${n}`,
          mac: mac(i),
          ip: `10.${(i >> 16) & 0xff}.${(i >> 8) & 0xff}.${i & 0xff}`,
        });
      }
      const ask = (k: number, w: number) =>
        children[k]!.ask({ cmd: 'register', regs: perChild[k]!, window: w });
      // The window is shared out between the processes; fewer in flight than processes: the
      // processes take turns (window 1 is one registration in flight, never two).
      if (inFlight >= children.length) {
        return Promise.all(children.map((_, k) => ask(k, Math.ceil(inFlight / children.length))));
      }
      return (async () => {
        const out: FromNves[] = [];
        for (let k = 0; k < children.length; k++) out.push(await ask(k, inFlight));
        return out;
      })();
    };
    await place((i) => i % nves, nves);
    await waitSettled(server);
    // Round r moves every VM once more, to NVE (i + r) mod n; the last round is measured.
    let firstRound: number[] | undefined;
    for (let r = 1; r <= warmup; r++) {
      records.length = 0;
      await place((i) => (i + r) % nves, window);
      await waitSettled(server);
      firstRound ??= records.map((rec) => rec.durationMs).sort((a, b) => a - b);
    }
    records.length = 0;
    const cpu = () => Promise.all(children.map((c) => c.ask({ cmd: 'cpu' })));
    await cpu();
    const nvaCpu = process.cpuUsage();
    const changesBefore = await changeMessagesSent(server);
    // BENCH_NVA_PROFILE_DIR=dir: CPU profiles of the moves, in every process (who limits a run).
    const profileName = `${kind}-${nves}-w${window}`;
    await Promise.all([
      startProfile(),
      ...children.map((c) => c.ask({ cmd: 'profile', start: true })),
    ]);

    // The measured round: every VM moves once more; the destination registers it.
    const answers = await place((i) => (i + warmup + 1) % nves, window);
    let accepted = 0;
    let rejected = 0;
    let first = Infinity;
    let last = 0;
    for (const a of answers) {
      if (!('ok' in a) || a.ok !== 'registered') continue;
      accepted += a.accepted;
      rejected += a.rejected;
      first = Math.min(first, a.firstSentAt);
      last = Math.max(last, a.lastAt);
    }
    const deadline = Date.now() + CONVERGE_TIMEOUT_MS;
    while (records.length < accepted && Date.now() < deadline) await sleep(20);
    const nvaCpuUsed = process.cpuUsage(nvaCpu);
    await Promise.all([
      stopProfile(`${profileName}-nva`),
      ...children.map((c, k) =>
        c.ask({ cmd: 'profile', start: false, name: `${profileName}-nves${k}` }),
      ),
    ]);
    const changeMsgs = (await changeMessagesSent(server)) - changesBefore;
    let nvesCpuMs = 0;
    for (const a of await cpu()) if ('cpuMs' in a) nvesCpuMs += a.cpuMs;

    const d = records.map((r) => r.durationMs).sort((a, b) => a - b);
    firstRound ??= d;
    const row: Row = {
      store: kind,
      nves,
      moves,
      window,
      converged: records.length,
      rejected,
      p50_ms: round(percentile(d, 50)),
      p99_ms: round(percentile(d, 99)),
      max_ms: round(d[d.length - 1] ?? NaN),
      registrations_per_s: Math.round(accepted / ((last - first) / 1000)),
      nva_cpu_ms_per_reg: round((nvaCpuUsed.user + nvaCpuUsed.system) / 1000 / accepted, 3),
      nves_cpu_ms_per_reg: round(nvesCpuMs / accepted, 3),
      change_msgs_per_reg: round(changeMsgs / accepted, 1),
      warmup_rounds: warmup,
      first_round_p50_ms: round(percentile(firstRound, 50)),
      first_round_p99_ms: round(percentile(firstRound, 99)),
      goal_checked: window === 1 ? 'p99' : window >= moves ? 'registrations_per_s' : 'none',
      goal_met: null,
    };
    const slack = kind === 'etcd' ? ETCD_SLACK : 1;
    const p99Goal = GOAL.p99_ms[nves];
    const allConverged = row.converged === moves && rejected === 0;
    if (row.goal_checked === 'p99' && p99Goal !== undefined) {
      row.goal_met = allConverged && row.p99_ms <= p99Goal * slack;
    } else if (row.goal_checked === 'registrations_per_s') {
      row.goal_met = allConverged && row.registrations_per_s >= GOAL.regs_per_s / slack;
    }
    return row;
  } finally {
    for (const c of children) c.close();
    await server.close();
    await store.close();
  }
}

async function changeMessagesSent(server: NvaServer): Promise<number> {
  return (await server.metrics.changesSent.get()).values.reduce((n, v) => n + v.value, 0);
}

/** Wait until the NVA has no change waiting for acks (the placement has converged). */
async function waitSettled(server: NvaServer): Promise<void> {
  const deadline = Date.now() + CONVERGE_TIMEOUT_MS;
  while (server.tracker.pendingCount() > 0 && Date.now() < deadline) await sleep(20);
}

function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function printTable(rows: Row[]): void {
  const head = [
    'store',
    'nves',
    'moves',
    'window',
    'converged',
    'p50_ms',
    'p99_ms',
    'max_ms',
    'regs/s',
    'nva_cpu/reg',
    'nves_cpu/reg',
    'changes/reg',
    'first p99',
    'goal',
  ];
  const lines = rows.map((r) => [
    r.store,
    String(r.nves),
    String(r.moves),
    String(r.window),
    String(r.converged),
    r.p50_ms.toFixed(2),
    r.p99_ms.toFixed(2),
    r.max_ms.toFixed(2),
    String(r.registrations_per_s),
    `${r.nva_cpu_ms_per_reg.toFixed(3)} ms`,
    `${r.nves_cpu_ms_per_reg.toFixed(3)} ms`,
    r.change_msgs_per_reg.toFixed(1),
    r.warmup_rounds > 0 ? r.first_round_p99_ms.toFixed(2) : '-',
    r.goal_met === null
      ? '-'
      : `${r.goal_checked === 'p99' ? 'p99' : 'regs/s'} ${r.goal_met ? 'met' : 'MISSED'}`,
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padStart(w[i]!)).join('  ');
  console.log(fmt(head));
  for (const l of lines) console.log(fmt(l));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      json: { type: 'string' },
      stores: { type: 'string', default: 'sqlite,etcd' },
      sizes: { type: 'string' },
      moves: { type: 'string' },
      procs: { type: 'string' },
      window: { type: 'string' },
      warmup: { type: 'string' },
    },
  });
  const stores = values.stores.split(',').map((s) => s.trim()) as StoreKind[];
  for (const s of stores) {
    if (s !== 'sqlite' && s !== 'etcd') throw new Error(`unknown store "${s}" (sqlite, etcd)`);
  }
  const sizes = values.sizes
    ? values.sizes.split(',').map(Number)
    : values.quick
      ? QUICK_SIZES
      : DEFAULT_SIZES;
  const moves = values.moves ? Number(values.moves) : values.quick ? QUICK_MOVES : DEFAULT_MOVES;
  const procs = values.procs ? Number(values.procs) : DEFAULT_PROCS;
  const warmup = values.warmup ? Number(values.warmup) : DEFAULT_WARMUP_ROUNDS;
  if (!Number.isInteger(warmup) || warmup < 0) {
    throw new Error(`--warmup must be a whole number of rounds (got "${values.warmup}")`);
  }
  // Default: both patterns (window 1, window = moves); --window N[,N...] picks.
  const windows = values.window ? values.window.split(',').map(Number) : undefined;
  // The NVA's own logs would drown the table: warnings and errors only.
  setRootLogger(pino({ level: process.env.ROAM_LOG_LEVEL ?? 'warn' }, pino.destination(2)));

  const tmp = mkdtempSync(join(tmpdir(), 'roam-bench-nva-'));
  let etcd: EtcdCluster | undefined;
  const cluster = async () => (etcd ??= await EtcdCluster.start({ members: 3 }));
  const rows: Row[] = [];
  try {
    for (const kind of stores) {
      for (const nves of sizes) {
        for (const window of windows ?? [1, moves]) {
          console.error(
            `bench:nva ${kind}, ${nves} NVEs, ${moves} moves, window ${window}, ${warmup} warm-up round(s)...`,
          );
          rows.push(await runRow(kind, nves, moves, procs, window, warmup, tmp, cluster));
        }
      }
    }
  } finally {
    await etcd?.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
  printTable(rows);
  if (values.json) writeBenchJson(values.json, rows);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
