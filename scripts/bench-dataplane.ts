// npm run bench:dataplane [-- --json FILE] [--rounds N] [--seconds N] [--entries N] [--cpu N]
//                          [--host-routes N] [--prefix-routes N]
//
// One run, one topology, one generator, four forwarders side by side, taking turns over
// --rounds rounds (the best round of each is reported, all rounds go to the JSON):
//   kernel: the Linux VXLAN device + bridge with static FDB entries on both NVEs;
//   bare:   bpf/bench/bare-forwarder.bpf.c, encap to one fixed NVE with no lookups (the floor);
//   roam:   roam's XDP programs bridging, with --entries entries in its tables;
//   roam-routed: roam routing between two VNs of one VRF through the anycast gateway, with
//           --host-routes host routes and --prefix-routes prefix routes (src/lab/bench-routed.ts).
// Topology: VM a -> TSI -> NVE0 -> veth underlay -> NVE1 -> TSI -> VM b (VM r, in another VN,
// for the routed row: frames to the gateway MAC with r's address). trafgen sends one
// 64-byte UDP flow from a, pinned to one core; an XDP program on b's interface counts and drops
// what arrives (so b's stack is never the bottleneck). The whole path runs in softirq on the
// generator's core, so the headline rate is delivered packets per CPU-second of that core
// (trafgen, the softirq work it carries, ksoftirqd): what one dedicated core forwards,
// however much of the core a busy machine left us (src/lab/cpu-time.ts). The wall-clock
// rate and the core share are printed beside it. ns/pkt comes from the kernel's BPF run-time
// statistics, taken in a separate window so their own cost does not lower the pps figures.
import { Command, InvalidArgumentError } from 'commander';
import { enableBpfStats } from '../src/bpf/index.ts';
import { BareForwarder, CountingReceiver, type ProgStats } from '../src/lab/bench-forwarders.ts';
import { installKernelVtep, type KernelVtep } from '../src/lab/kernel-vtep.ts';
import { cleanupOnSignals, destroyAll, setRunPrefix } from '../src/lab/netns.ts';
import type { Topology, VmNode } from '../src/lab/topology.ts';
import {
  BENCH_RECEIVER,
  BENCH_ROUTED_RECEIVER,
  BENCH_SENDER,
  BENCH_VNI,
  buildBenchTopology,
} from '../src/lab/bench-topology.ts';
import { DEFAULT_HOST_ROUTES, DEFAULT_PREFIX_ROUTES } from '../src/lab/bench-routed.ts';
import { Trafgen } from '../src/lab/trafgen.ts';
import { groupPids, ksoftirqdPid, processCpuSeconds } from '../src/lab/cpu-time.ts';
import { roamForwarder } from './bench-dataplane-roam.ts';
import { ROUTED_ROW, routedForwarder } from './bench-dataplane-routed.ts';
import { writeBenchJson } from '../src/lab/bench-json.ts';

const VNI = BENCH_VNI;
/** Rows of the table, in order. */
const ROWS = ['kernel', 'bare', 'roam', ROUTED_ROW] as const;
/** Goal of issue 6: routed forwarding at least this share of roam's bridged forwarding. */
const ROUTED_GOAL = 0.85;
/** The receiver's and the forwarder's counters are read a moment apart: allow this much. */
const OWN_COUNT_SLACK = 1.01;
const DEFAULT_SECONDS = 3;
/** Six, not three: on this shared 2-core VM the best of three swung roam/bare by +-3% between
 * runs (0.87-0.93x of one build); the best of six moved less. */
const DEFAULT_ROUNDS = 6;
/** The forwarding path runs in softirq on the generator's core: give it that core. */
const DEFAULT_NICE = -20;
const DEFAULT_ENTRIES = 100_000;
const WARMUP_MS = 1000;
const STATS_WINDOW_MS = 1500;
const MPPS = 1e6;

/**
 * Something that forwards a -> b on the topology while installed. Rows take turns in every
 * round, so a load spike from other work on the machine hits all of them alike.
 */
export interface Forwarder {
  name: string;
  /** Put the forwarder on the NVEs (expensive state, e.g. filled tables, may stay between rounds). */
  install(): void | Promise<void>;
  /** The VM that receives (default: b, in the sender's VN). */
  receiver?: string;
  /** Where the generator's frames are addressed (MAC + IPv4; default: the receiver VM). */
  target?(): VmNode;
  /**
   * Frames the forwarder's own counters say it delivered the way the row is about (e.g. routed):
   * the receiver's count must not exceed it, or the row would measure another path.
   */
  ownDelivered?(): bigint;
  /** Programs whose run-time statistics give ns/pkt, by label ("encap", "decap"). */
  programs(): Record<string, () => ProgStats>;
  /** Take it off the NVEs so the next forwarder has them alone. */
  remove(): void | Promise<void>;
  /** Free everything at the end of the run. */
  close?(): void | Promise<void>;
}

interface Row {
  name: string;
  /** Delivered packets per second of CPU time on the sender's core (see src/lab/cpu-time.ts). */
  pps: number | null;
  /** Delivered packets per second of wall-clock time. */
  wallPps: number | null;
  sentPps: number | null;
  /** Share of the sender's core the run got (CPU seconds per second). */
  coreShare?: number;
  nsPerPkt: Record<string, number>;
  note?: string;
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function txPackets(vm: VmNode): number {
  const out = JSON.parse(vm.ns.ip('-s', '-j', 'link', 'show', 'dev', vm.ifname)) as {
    stats64: { tx: { packets: number } };
  }[];
  return out[0]?.stats64.tx.packets ?? 0;
}

async function measure(
  topo: Topology,
  receiver: CountingReceiver,
  fw: Forwarder,
  seconds: number,
  cpu: number,
  nice: number,
): Promise<Row> {
  const a = topo.vm(BENCH_SENDER);
  const gen = Trafgen.start(a, fw.target?.() ?? topo.vm(fw.receiver ?? BENCH_RECEIVER), cpu, nice);
  const softirqd = ksoftirqdPid(cpu);
  try {
    await sleep(WARMUP_MS);
    if (!gen.running) throw new Error(`trafgen exited early: ${gen.errors.trim()}`);
    // Window 1: delivered and sent packets, and the CPU time the path used, statistics off.
    const pids = [...groupPids(gen.pgid ?? -1), ...(softirqd === undefined ? [] : [softirqd])];
    const cpu = () => pids.reduce((s, p) => s + processCpuSeconds(p), 0);
    const own0 = fw.ownDelivered?.();
    const r0 = receiver.count();
    const s0 = txPackets(a);
    const c0 = cpu();
    const t0 = process.hrtime.bigint();
    await sleep(seconds * 1000);
    const r1 = receiver.count();
    const own1 = fw.ownDelivered?.();
    const s1 = txPackets(a);
    const c1 = cpu();
    const t1 = process.hrtime.bigint();
    const secs = Number(t1 - t0) / 1e9;
    const cpuSecs = c1 - c0;
    // Window 2: BPF run-time statistics of the forwarder's programs.
    const nsPerPkt: Record<string, number> = {};
    const progs = Object.entries(fw.programs());
    if (progs.length > 0) {
      const release = enableBpfStats();
      try {
        const before = progs.map(([, f]) => f());
        await sleep(STATS_WINDOW_MS);
        progs.forEach(([label, f], i) => {
          const b0 = before[i];
          const b1 = f();
          const runs = b0 ? b1.runCount - b0.runCount : 0n;
          if (b0 && runs > 0n) nsPerPkt[label] = Number(b1.runTimeNs - b0.runTimeNs) / Number(runs);
        });
      } finally {
        release();
      }
    }
    const delivered = Number(r1 - r0);
    const own = own0 === undefined || own1 === undefined ? undefined : Number(own1 - own0);
    if (own !== undefined && delivered > own * OWN_COUNT_SLACK) {
      const problem = `receiver counted ${delivered} frames, ${fw.name} delivered ${own}`;
      console.error(`${fw.name}: ${problem}`);
      return { name: fw.name, pps: null, wallPps: null, sentPps: null, nsPerPkt, note: problem };
    }
    return {
      name: fw.name,
      pps: cpuSecs > 0 ? delivered / cpuSecs : null,
      wallPps: delivered / secs,
      sentPps: (s1 - s0) / secs,
      coreShare: cpuSecs / secs,
      nsPerPkt,
    };
  } finally {
    await gen.stop();
  }
}

function fmtMpps(v: number | null): string {
  return v === null ? '-' : (v / MPPS).toFixed(3);
}

function printTable(rows: Row[]): void {
  const kernel = rows.find((r) => r.name === 'kernel')?.pps ?? null;
  const bare = rows.find((r) => r.name === 'bare')?.pps ?? null;
  const bridged = rows.find((r) => r.name === 'roam')?.pps ?? null;
  const ratio = (v: number | null, base: number | null) =>
    v === null || base === null || base === 0 ? '-' : `${(v / base).toFixed(2)}x`;
  const lines = [
    [
      'forwarder',
      'Mpps/core',
      'wall Mpps',
      'core share',
      'vs kernel',
      'vs bare',
      'vs roam',
      'ns/pkt (BPF stats)',
    ],
    ...rows.map((r) => [
      r.name,
      fmtMpps(r.pps),
      fmtMpps(r.wallPps),
      r.coreShare === undefined ? '-' : `${(r.coreShare * 100).toFixed(0)}%`,
      ratio(r.pps, kernel),
      ratio(r.pps, bare),
      ratio(r.pps, bridged),
      r.note ??
        (Object.entries(r.nsPerPkt)
          .map(([k, v]) => `${k} ${v.toFixed(1)}`)
          .join(', ') ||
          '-'),
    ]),
  ];
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => (l[i] ?? '').length)));
  for (const l of lines) console.log(l.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  '));
}

/**
 * The kernel's best configuration: GRO off on the NVEs' veths (the lab turns it on so that
 * XDP_REDIRECT into a veth delivers; the kernel path does not need it: 0.135 against 0.121
 * Mpps/core with it in one direct comparison here, within noise in others).
 */
function setNveGro(topo: Topology, on: boolean): void {
  for (const n of topo.nves) {
    const devs = [n.underlayIf, ...topo.vms.filter((v) => v.nve === n.index).map((v) => v.tsi)];
    for (const d of devs) n.ns.run('ethtool', ['-K', d, 'gro', on ? 'on' : 'off']);
  }
}

function kernelForwarder(topo: Topology): Forwarder {
  let vteps: KernelVtep[] = [];
  return {
    name: 'kernel',
    install: () => {
      setNveGro(topo, false);
      vteps = [installKernelVtep(topo, 0), installKernelVtep(topo, 1)];
    },
    programs: () => ({}),
    remove: () => {
      vteps.forEach((v) => v.remove());
      setNveGro(topo, true);
    },
  };
}

function bareForwarder(topo: Topology): Forwarder {
  let enc: BareForwarder | undefined;
  let dec: BareForwarder | undefined;
  return {
    name: 'bare',
    install: () => {
      enc = BareForwarder.encap(topo.nve(0), topo.vm('a'), topo.nve(1), VNI);
      dec = BareForwarder.decap(topo.nve(1), topo.vm('b'));
    },
    programs: (): Record<string, () => ProgStats> => {
      const [e, d] = [enc, dec];
      return e && d ? { encap: () => e.stats(), decap: () => d.stats() } : {};
    },
    remove: () => {
      enc?.detach();
      dec?.detach();
      enc = dec = undefined;
    },
  };
}

/** pps of row `a` over pps of row `b`, or null when either was not measured. */
function ratioOf(rows: Row[], a: string, b: string): number | null {
  const x = rows.find((r) => r.name === a)?.pps ?? null;
  const y = rows.find((r) => r.name === b)?.pps ?? null;
  return x === null || y === null || y === 0 ? null : x / y;
}

/** The best round of each forwarder (throughput under interference: the least disturbed run). */
function best(samples: Row[]): Row {
  return samples.reduce((a, b) => ((b.pps ?? -1) > (a.pps ?? -1) ? b : a));
}

async function main(): Promise<void> {
  const opts = new Command('bench-dataplane')
    .description('kernel VXLAN vs bare XDP vs roam bridged and routed, same topology and generator')
    .option('--json <file>', 'also write the results as JSON')
    .option(
      '--seconds <n>',
      'measured window per forwarder and round',
      positiveInt,
      DEFAULT_SECONDS,
    )
    .option(
      '--rounds <n>',
      'rounds; each forwarder runs once per round, the best round counts',
      positiveInt,
      DEFAULT_ROUNDS,
    )
    .option('--entries <n>', "entries in roam's tables", positiveInt, DEFAULT_ENTRIES)
    .option(
      '--host-routes <n>',
      "filler host routes in the routed row's VRF",
      positiveInt,
      DEFAULT_HOST_ROUTES,
    )
    .option(
      '--prefix-routes <n>',
      "filler prefix routes in the routed row's VRF",
      positiveInt,
      DEFAULT_PREFIX_ROUTES,
    )
    .option('--cpu <n>', 'core the generator is pinned to', (v) => Number(v), 0)
    .option(
      '--nice <n>',
      "generator's nice value (its CPU share on a busy machine)",
      (v) => Number(v),
      DEFAULT_NICE,
    )
    .parse()
    .opts<{
      json?: string;
      seconds: number;
      rounds: number;
      entries: number;
      hostRoutes: number;
      prefixRoutes: number;
      cpu: number;
      nice: number;
    }>();

  setRunPrefix(`roamb-${process.pid.toString(36)}-`);
  cleanupOnSignals();
  const topo = buildBenchTopology();
  const samples = new Map<string, Row[]>();
  const unavailable = new Map<string, string>();
  const receivers = new Map<string, CountingReceiver>();
  const forwarders: Forwarder[] = [];
  try {
    for (const name of [BENCH_RECEIVER, BENCH_ROUTED_RECEIVER])
      receivers.set(name, CountingReceiver.attach(topo.vm(name), 'drop'));
    forwarders.push(kernelForwarder(topo), bareForwarder(topo));
    const roam = await roamForwarder(topo, opts.entries);
    if (typeof roam === 'string') unavailable.set('roam', roam);
    else forwarders.push(roam);
    const routed = routedForwarder(topo, opts.hostRoutes, opts.prefixRoutes);
    if (typeof routed === 'string') unavailable.set(ROUTED_ROW, routed);
    else forwarders.push(routed);

    for (let round = 1; round <= opts.rounds; round++) {
      for (const fw of forwarders) {
        if (unavailable.has(fw.name)) continue;
        try {
          await fw.install();
        } catch (err) {
          // A forwarder that cannot be installed gets a reason in its row, never a number.
          const first = (err as Error).message.split('\n')[0] ?? '';
          unavailable.set(fw.name, `not available: ${first}`);
          console.error(`${fw.name}: cannot install: ${(err as Error).message}`);
          await fw.remove();
          continue;
        }
        try {
          const receiver = receivers.get(fw.receiver ?? BENCH_RECEIVER);
          if (!receiver) throw new Error(`no receiver on VM ${fw.receiver}`);
          const row = await measure(topo, receiver, fw, opts.seconds, opts.cpu, opts.nice);
          samples.set(fw.name, [...(samples.get(fw.name) ?? []), row]);
          console.error(`round ${round}/${opts.rounds} ${fw.name}: ${fmtMpps(row.pps)} Mpps`);
        } finally {
          await fw.remove();
        }
      }
    }
  } finally {
    for (const fw of forwarders) await fw.close?.();
    for (const r of receivers.values()) r.detach();
    topo.destroy();
    destroyAll();
  }

  const rows: Row[] = ROWS.map((name) => {
    const s = samples.get(name);
    if (s && s.length > 0 && !unavailable.has(name)) return best(s);
    return {
      name,
      pps: null,
      wallPps: null,
      sentPps: null,
      nsPerPkt: {},
      note: unavailable.get(name) ?? 'not measured',
    };
  });
  console.log(
    `bench:dataplane, 64-byte UDP frames, generator on cpu ${opts.cpu} (nice ${opts.nice}), best of ${opts.rounds} rounds of ${opts.seconds} s`,
  );
  printTable(rows);
  const routedRatio = ratioOf(rows, ROUTED_ROW, 'roam');
  if (routedRatio !== null) {
    const verdict = routedRatio >= ROUTED_GOAL ? 'met' : 'NOT met';
    console.log(
      `routed / bridged: ${routedRatio.toFixed(2)}x (goal >= ${ROUTED_GOAL}x: ${verdict})`,
    );
  }
  if (opts.json) {
    const by = (n: string) => rows.find((r) => r.name === n);
    const roamRow = by('roam');
    const routedRow = by(ROUTED_ROW);
    const result = {
      kernel_pps: by('kernel')?.pps ?? null,
      bare_pps: by('bare')?.pps ?? null,
      roam_pps: roamRow?.pps ?? null,
      roam_ns_per_pkt_encap: roamRow?.nsPerPkt.encap ?? null,
      roam_ns_per_pkt_decap: roamRow?.nsPerPkt.decap ?? null,
      bare_ns_per_pkt_encap: by('bare')?.nsPerPkt.encap ?? null,
      bare_ns_per_pkt_decap: by('bare')?.nsPerPkt.decap ?? null,
      kernel_wall_pps: by('kernel')?.wallPps ?? null,
      bare_wall_pps: by('bare')?.wallPps ?? null,
      roam_wall_pps: roamRow?.wallPps ?? null,
      roam_routed_pps: routedRow?.pps ?? null,
      roam_routed_wall_pps: routedRow?.wallPps ?? null,
      roam_routed_ns_per_pkt_encap: routedRow?.nsPerPkt.encap ?? null,
      roam_routed_ns_per_pkt_decap: routedRow?.nsPerPkt.decap ?? null,
      routed_vs_bridged: routedRatio,
      routed_goal: ROUTED_GOAL,
      pps_unit:
        'delivered packets per CPU-second of the sender core (trafgen + its softirq work + ksoftirqd)',
      roam_status: roamRow?.note ?? 'measured',
      roam_entries: opts.entries,
      roam_routed_status: routedRow?.note ?? 'measured',
      roam_routed_host_routes: opts.hostRoutes,
      roam_routed_prefix_routes: opts.prefixRoutes,
      rounds: opts.rounds,
      seconds: opts.seconds,
      frame_bytes: 64,
      samples: Object.fromEntries(samples),
    };
    writeBenchJson(opts.json, result);
    console.log(`wrote ${opts.json}`);
  }
}

main().catch((err: unknown) => {
  console.error(`bench:dataplane failed: ${(err as Error).message}`);
  process.exitCode = 1;
});
