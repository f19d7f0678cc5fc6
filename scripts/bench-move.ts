// npm run bench:move [-- --json FILE] [--moves 20] [--rate 10000] [--resync 1000000]
// VM moves under a UDP stream, roam side by side with the Linux kernel's alternative, plus the
// time of a full resync of a large directory into real BPF maps.
// - roam: an NVA and three real agents (src/lab/mobility-lab.ts); each move is announced by the
//   orchestrator (roam vm move), the VM's TSI goes from one NVE to another and the VM sends a
//   gratuitous ARP; the agents do the rest.
// - kernel: vxlan + bridge per NVE (src/lab/kernel-vtep.ts), no learning; a script points the
//   FDB of every NVE at the new NVE at the moment of the move (right after the TSI moved, before
//   the VM announces itself): the best a static kernel setup driven by an orchestrator can do.
// Both lose what is sent while the VM is between hosts; "lost" below counts the datagrams sent
// after the VM announced itself at the new NVE (until the next move) that never arrived.
// Convergence (roam): from the announce until every NVE's map holds the new place, read from the
// pinned maps every 0.5 ms by a watcher thread (src/lab/mobility-convergence.ts), so this
// script's own blocking calls during a move do not delay the instant recorded. Resync: an agent receiving a snapshot of N directory entries and
// writing them (an FDB entry, which carries the RARP address, and a neighbour entry each) into
// freshly loaded, empty BPF maps, mark and sweep (src/nve/resync-bench.ts).
import { statfsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { announce } from '../src/lab/announce.ts';
import { installKernelVtep, type KernelVtep } from '../src/lab/kernel-vtep.ts';
import { watchConvergence } from '../src/lab/mobility-convergence.ts';
import { LAB_VNI, MobilityLab } from '../src/lab/mobility-lab.ts';
import { dropsBetween, linkDrops, type LinkDropCount } from '../src/lab/link-drops.ts';
import { cleanupOnSignals, setRunPrefix, type Netns } from '../src/lab/netns.ts';
import { buildTopology, type Topology, type VmNode } from '../src/lab/topology.ts';
import {
  analyzeStream,
  preciseNowMs,
  startReceiver,
  startSender,
  type ReceiverReport,
  type SenderReport,
} from '../src/lab/udp-stream.ts';
import { cleanupResyncBench, resyncBench } from '../src/nve/resync-bench.ts';
import { writeBenchJson } from '../src/lab/bench-json.ts';
import { collectGarbage, controlInstrumentGc } from '../src/lab/instrument-gc.ts';

/** statfs magic numbers of the filesystems the NVA's state may be on here. */
const FS_NAMES: Record<number, string> = {
  0xef53: 'ext4',
  0x01021994: 'tmpfs',
  0x58465342: 'xfs',
  0x9123683e: 'btrfs',
};

/** The filesystem a directory is on: where the NVA's fsyncs go (tmpfs: no disk at all). */
function filesystemOf(dir: string): string {
  const type = statfsSync(dir).type;
  return FS_NAMES[type] ?? `filesystem 0x${type.toString(16)}`;
}

/** The lab's namespaces with readable labels (their names carry a random suffix). */
function labNamespaces(topo: Topology): Array<[string, Netns]> {
  return [
    ...topo.nves.map((n): [string, Netns] => [`nve${n.index + 1}`, n.ns]),
    ...topo.vms.map((v): [string, Netns] => [`vm-${v.name}`, v.ns]),
    ...(topo.underlay ? [['underlay', topo.underlay] as [string, Netns]] : []),
  ];
}

/** Where the roam side's NVA kept its SQLite file (set when its lab starts). */
let nvaStateFs = '';

/** Between moves, the stream runs this long with the VM in place (ms). */
const SETTLE_MS = 300;
const DRAIN_MS = 100;

const { values: args } = parseArgs({
  options: {
    json: { type: 'string' },
    moves: { type: 'string', default: '20' },
    rate: { type: 'string', default: '10000' },
    resync: { type: 'string', default: '1000000' },
  },
});
const MOVES = Number(args.moves);
const RATE = Number(args.rate);
const RESYNC_N = Number(args.resync);
for (const [name, v] of [
  ['--moves', MOVES],
  ['--rate', RATE],
  ['--resync', RESYNC_N],
] as const) {
  if (!Number.isInteger(v) || v < 1) {
    process.stderr.write(`bench:move: ${name} must be a positive integer\n`);
    process.exit(2);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round1 = (x: number) => (Number.isFinite(x) ? Math.round(x * 10) / 10 : null);
const say = (s: string) => process.stdout.write(`${s}\n`);

function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
}

/** Lost after each announce, until the next move began: one number per move. */
function lostPerMove(
  sent: SenderReport,
  got: ReceiverReport,
  announces: number[],
  detaches: number[],
): number[] {
  return announces.map((a, i) => analyzeStream(sent, got, a, detaches[i + 1]).lostAfter);
}

interface LossDetail {
  move: number;
  gaps: Array<{
    count: number;
    after_announce_ms: number | null;
    before_next_detach_ms: number | null;
  }>;
}

/**
 * Where the datagrams lost after an announce were sent: for each move that lost some, each gap
 * (a run of lost sequence numbers) with its send time after the announce and before the next
 * move's detach (ms). A gap just before the next detach is datagrams still queued in the kernel
 * when that move deleted the TSI; one soon after the announce is the move itself.
 */
function lossDetail(
  sent: SenderReport,
  got: ReceiverReport,
  announces: number[],
  detaches: number[],
): LossDetail[] {
  const out: LossDetail[] = [];
  for (const [i, a] of announces.entries()) {
    const next = detaches[i + 1] ?? Number.POSITIVE_INFINITY;
    const r = analyzeStream(sent, got, a, next);
    if (r.lostAfter === 0) continue;
    const gaps = r.gaps
      .filter((g) => g.sentAtMs >= a - 1 && g.sentAtMs < next)
      .map((g) => ({
        count: g.count,
        after_announce_ms: round1(g.sentAtMs - a),
        before_next_detach_ms: Number.isFinite(next) ? round1(next - g.sentAtMs) : null,
      }));
    out.push({ move: i + 1, gaps });
  }
  return out;
}

/** Destinations of the moves: the VM goes NVE2 -> NVE3 -> NVE2 -> ... */
const destination = (k: number) => (k % 2 === 0 ? 2 : 1);

interface SideResult {
  lost: number[];
  sent: number;
  lostTotal: number;
  receiverDrops: number;
}

/**
 * Where one move's time went, split at the instant the registration reached the NVA (its own
 * convergence record, whole ms): before it, the destination's learning (XDP, ring buffer, agent)
 * and the registration's way to the NVA; after it, the NVA's decision, commit and fsync, the
 * fan-out, and the last NVE's agent installing the change (as the watcher saw the maps).
 */
interface MoveStages {
  announceToNvaMs: number;
  nvaToInstalledMs: number;
  /** The NVA's own figure: registration -> last NVE's ack. */
  nvaConvergenceMs: number;
}

async function moveStages(
  lab: MobilityLab,
  vm: VmNode,
  announcedAt: number,
  convergenceMs: number,
): Promise<MoveStages> {
  const recs = (await lab.detail(vm)).convergence;
  const last = recs.reduce<(typeof recs)[number] | undefined>(
    (a, c) => (a === undefined || c.revision > a.revision ? c : a),
    undefined,
  );
  // a record older than this announce is another move's: then nothing to split
  if (!last || last.registeredAtMs < Math.floor(announcedAt) - 1) {
    return { announceToNvaMs: NaN, nvaToInstalledMs: NaN, nvaConvergenceMs: NaN };
  }
  const announceToNvaMs = Math.max(0, last.registeredAtMs - announcedAt);
  return {
    announceToNvaMs,
    nvaToInstalledMs: Math.max(0, convergenceMs - announceToNvaMs),
    nvaConvergenceMs: last.durationMs,
  };
}

async function benchRoam(): Promise<
  SideResult & {
    convergenceMs: number[];
    retunneled: number;
    perNve: number[][];
    stages: MoveStages[];
    lossDetail: LossDetail[];
    linkDrops: Record<string, LinkDropCount>;
    announces: number[];
  }
> {
  const lab = await MobilityLab.start({
    vms: [
      { name: 'a', nve: 0 },
      { name: 'b', nve: 1 },
    ],
  });
  labs.add(lab);
  nvaStateFs = filesystemOf(lab.dir);
  say(`  NVA state in ${lab.dir} (${nvaStateFs}): every commit is fsynced before it is answered`);
  try {
    const a = lab.topo.vm('a');
    const b = lab.topo.vm('b');
    const rx = await startReceiver(b.ns);
    const tx = await startSender(a.ns, b.ipv4, { ratePps: RATE });
    collectGarbage();
    await sleep(SETTLE_MS);
    const namespaces = labNamespaces(lab.topo);
    const drops0 = linkDrops(namespaces);
    const announces: number[] = [];
    const detaches: number[] = [];
    const convergenceMs: number[] = [];
    const perNve: number[][] = [];
    const stages: MoveStages[] = [];
    let retunneled = 0;
    for (let k = 0; k < MOVES; k++) {
      const to = destination(k);
      const from = b.nve;
      const ret0 = lab.count(from, 'retunnel');
      const watch = await watchConvergence(lab, b, to);
      const m = await lab.move('b', to, { announce: 'garp', hint: true, holdQuiet: true });
      // The maps first (the watcher's records), then the lab's own work: the VM's output let out
      // (an `nft` run), the directory polled over the NVA's Admin API. Either, during the move,
      // would compete with it for the CPUs and the NVA.
      const at = await watch.done;
      lab.release(b);
      await lab.waitMoved(b, to);
      const t = m.announcedAtMs[0]!;
      announces.push(t);
      detaches.push(m.detachedAtMs);
      const per = [0, 1, 2].map((i) => Math.max(0, (at.get(i) ?? Number.NaN) - t));
      perNve.push(per);
      convergenceMs.push(Math.max(...per));
      stages.push(await moveStages(lab, b, t, Math.max(...per)));
      // this process's garbage collected between moves, not during one (instrument-gc.ts)
      collectGarbage();
      await sleep(SETTLE_MS);
      retunneled += lab.count(from, 'retunnel') - ret0;
      process.stdout.write(`\r  roam: move ${k + 1}/${MOVES}`);
    }
    process.stdout.write('\n');
    const sent = await tx.stop();
    await sleep(DRAIN_MS);
    const got = await rx.stop();
    return {
      lost: lostPerMove(sent, got, announces, detaches),
      lossDetail: lossDetail(sent, got, announces, detaches),
      linkDrops: dropsBetween(drops0, linkDrops(namespaces)),
      sent: sent.sent,
      lostTotal: analyzeStream(sent, got).lost,
      receiverDrops: got.rcvbufErrors ?? 0,
      convergenceMs,
      retunneled,
      perNve,
      stages,
      announces,
    };
  } finally {
    await lab.destroy();
    labs.delete(lab);
  }
}

async function benchKernel(): Promise<SideResult & { scriptMs: number[] }> {
  const topo = buildTopology({
    nves: 3,
    vms: [
      { name: 'a', nve: 0, vni: LAB_VNI },
      { name: 'b', nve: 1, vni: LAB_VNI },
    ],
  });
  topos.add(topo);
  try {
    const vteps: KernelVtep[] = [0, 1, 2].map((i) => installKernelVtep(topo, i));
    const a = topo.vm('a');
    const b = topo.vm('b');
    const rx = await startReceiver(b.ns);
    const tx = await startSender(a.ns, b.ipv4, { ratePps: RATE });
    await sleep(SETTLE_MS);
    const announces: number[] = [];
    const detaches: number[] = [];
    const scriptMs: number[] = [];
    for (let k = 0; k < MOVES; k++) {
      const to = destination(k);
      detaches.push(preciseNowMs());
      topo.moveVm('b', to);
      // The script, at the moment of the move: the new TSI into the VN's bridge, every other
      // NVE's FDB pointed at the new NVE, the destination's tunnel entry for the VM removed.
      const s0 = preciseNowMs();
      vteps[to]!.attachTsi(b);
      for (const [i, v] of vteps.entries()) {
        if (i === to) v.syncFdb();
        else v.pointMac(LAB_VNI, b.mac, to);
      }
      scriptMs.push(preciseNowMs() - s0);
      const sentAt = await announce(b, 'garp');
      announces.push(sentAt[0]!);
      await sleep(SETTLE_MS);
      process.stdout.write(`\r  kernel: move ${k + 1}/${MOVES}`);
    }
    process.stdout.write('\n');
    const sent = await tx.stop();
    await sleep(DRAIN_MS);
    const got = await rx.stop();
    for (const v of vteps) v.remove();
    return {
      lost: lostPerMove(sent, got, announces, detaches),
      sent: sent.sent,
      lostTotal: analyzeStream(sent, got).lost,
      receiverDrops: got.rcvbufErrors ?? 0,
      scriptMs,
    };
  } finally {
    topo.destroy();
    topos.delete(topo);
  }
}

/**
 * The agent's full resync of `n` directory entries into empty, real BPF maps: from the snapshot's
 * wire bytes (decoding and validation timed) to maps equal to it (src/nve/resync-bench.ts, also
 * `npm run bench:resync`).
 */
function benchResync(n: number) {
  const r = resyncBench(n);
  return { ms: r.cold.wallMs, cpuMs: r.cold.cpuMs, steadyMs: r.steady.wallMs, entries: n };
}

// The bench's own GC between moves only (src/lab/instrument-gc.ts); the agents and the NVA are
// separate processes, untouched.
controlInstrumentGc();

// Everything this run builds is removed at exit, also on Ctrl-C.
const labs = new Set<MobilityLab>();
const topos = new Set<Topology>();
setRunPrefix(`roamb-${process.pid.toString(36)}-`);
cleanupOnSignals(() => {
  for (const l of labs) l.destroySync();
  for (const t of topos) t.destroy();
  cleanupResyncBench();
});

say(
  `bench:move: ${MOVES} moves under ${RATE} datagrams/s, roam and the kernel; resync of ${RESYNC_N}`,
);
const roam = await benchRoam();
const kernel = await benchKernel();
say(`  resync: ${RESYNC_N} entries into BPF maps...`);
const resync = benchResync(RESYNC_N);

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '-');
const result = {
  moves: MOVES,
  rate_pps: RATE,
  roam_lost: sum(roam.lost),
  kernel_lost: sum(kernel.lost),
  roam_lost_per_move_max: Math.max(...roam.lost),
  kernel_lost_per_move_max: Math.max(...kernel.lost),
  roam_convergence_ms_p50: quantile(roam.convergenceMs, 0.5),
  roam_convergence_ms_p99: quantile(roam.convergenceMs, 0.99),
  roam_convergence_ms_max: Math.max(...roam.convergenceMs),
  kernel_script_ms_p50: quantile(kernel.scriptMs, 0.5),
  kernel_script_ms_p99: quantile(kernel.scriptMs, 0.99),
  retunneled: roam.retunneled,
  roam_sent: roam.sent,
  kernel_sent: kernel.sent,
  roam_lost_total: roam.lostTotal,
  kernel_lost_total: kernel.lostTotal,
  receiver_buffer_drops: { roam: roam.receiverDrops, kernel: kernel.receiverDrops },
  resync_entries: resync.entries,
  resync_1m_ms: RESYNC_N === 1_000_000 ? resync.ms : undefined,
  resync_ms: resync.ms,
  resync_cpu_ms: resync.cpuMs,
  resync_steady_ms: resync.steadyMs,
  roam_convergence_ms_per_nve: roam.perNve,
  // per move: announce -> registration at the NVA, and from there -> the last NVE's map
  nva_state_fs: nvaStateFs,
  roam_loss_detail: roam.lossDetail,
  // frames the lab's links dropped during the roam side (b's own links are re-created by moves)
  roam_lab_link_drops: roam.linkDrops,
  roam_announced_at_ms: roam.announces,
  roam_stage_ms_per_move: roam.stages.map((st) => ({
    announce_to_nva: round1(st.announceToNvaMs),
    nva_to_installed: round1(st.nvaToInstalledMs),
    nva_convergence: round1(st.nvaConvergenceMs),
  })),
};
say('');
say('                               roam        kernel (FDB script)');
say(`lost after announce, total     ${String(result.roam_lost).padEnd(12)}${result.kernel_lost}`);
say(
  `lost after announce, worst     ${String(result.roam_lost_per_move_max).padEnd(12)}${result.kernel_lost_per_move_max}`,
);
say(
  `lost in all (VM between hosts) ${String(result.roam_lost_total).padEnd(12)}${result.kernel_lost_total}`,
);
say(
  `convergence p50 / p99 (ms)     ${`${fmt(result.roam_convergence_ms_p50)} / ${fmt(result.roam_convergence_ms_p99)}`.padEnd(12)}script ${fmt(result.kernel_script_ms_p50)} / ${fmt(result.kernel_script_ms_p99)}`,
);
say(`re-tunnelled                   ${result.retunneled}`);
// the VMs' own links: where a stream datagram can be dropped before roam sees it (all in the JSON)
const vmDrops = Object.entries(roam.linkDrops).filter(([k]) => k.startsWith('vm-'));
if (vmDrops.length > 0)
  say(
    `VM links dropped (roam side): ${vmDrops.map(([k, d]) => `${k} rx ${d.rx} tx ${d.tx}`).join(', ')}`,
  );
const slowest = roam.convergenceMs.indexOf(result.roam_convergence_ms_max);
const st = roam.stages[slowest];
if (st)
  say(
    `slowest move (#${slowest + 1}): ${fmt(result.roam_convergence_ms_max)} ms = announce -> NVA ${fmt(st.announceToNvaMs)} + NVA -> last map ${fmt(st.nvaToInstalledMs)} (registration to last ack, NVA: ${fmt(st.nvaConvergenceMs)})`,
  );
say(`resync of ${resync.entries} entries   ${fmt(resync.ms)} ms (cpu ${fmt(resync.cpuMs)} ms)`);
say(
  `goals: 0 lost once announced (${result.roam_lost === 0 ? 'met' : 'NOT met'}), p99 <= 20 ms (${result.roam_convergence_ms_p99 <= 20 ? 'met' : 'NOT met'}), resync 1M <= 1 s (${RESYNC_N === 1_000_000 ? (resync.ms <= 1000 ? 'met' : 'NOT met') : 'not run at 1M'})`,
);
if (args.json) writeBenchJson(args.json, result);
