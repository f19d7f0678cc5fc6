// `roam demo`: the README's main command. Builds an NVA and three NVE agents on one underlay in
// namespaces, with VM A on NVE1 streaming UDP to VM B on NVE2, then moves B while the stream
// flows: NVE2 -> NVE3 announced by a gratuitous ARP, then back NVE3 -> NVE2 announced by QEMU's
// RARP burst, with NVE1's agent paused across the second move to play a peer slow to converge
// (what it still sends to the old NVE is re-tunnelled). Each move is announced by the
// orchestrator first (roam vm move), as before a live migration. Prints progress, then a report: packets
// sent, lost (while B was between hosts, and after it announced), re-tunnelled, convergence time
// per NVE. Everything it built is removed at exit, also on Ctrl-C.
import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { MobilityLab } from '../../lab/mobility-lab.ts';
import { watchConvergence } from '../../lab/mobility-convergence.ts';
import { cleanupOnSignals, setRunPrefix } from '../../lab/netns.ts';
import {
  analyzeStream,
  startReceiver,
  startSender,
  type StreamResult,
} from '../../lab/udp-stream.ts';
import type { AnnounceKind } from '../../lab/announce.ts';
import { UserError } from '../user-error.ts';

/** Default stream rate (datagrams/s). */
const DEFAULT_RATE_PPS = 10_000;
/** How long the stream runs before, between and after the moves (ms). */
const SETTLE_MS = 1000;
/** How long NVE1's agent stays paused in the second move, once the others converged (ms). */
const DEFAULT_SLOW_PEER_MS = 300;
/** Let the last datagrams land before stopping the receiver (ms). */
const DRAIN_MS = 100;

interface DemoFlags {
  json?: string;
  rate: string;
  slowPeerMs: string;
}

interface MoveReport {
  from: string;
  to: string;
  announce: AnnounceKind;
  /** Time from the announce to each NVE's dataplane following the move (ms). */
  convergenceMs: Record<string, number | null>;
  retunneled: number;
  slowPeer?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function positiveInt(flag: string, v: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min)
    throw new UserError(`${flag} must be an integer >= ${min}, not "${v}"`);
  return n;
}

async function runDemo(f: DemoFlags): Promise<void> {
  const rate = positiveInt('--rate', f.rate, 1);
  const slowPeerMs = positiveInt('--slow-peer-ms', f.slowPeerMs, 0);
  if (process.getuid?.() !== 0)
    throw new UserError('roam demo needs root (namespaces, BPF); run it with sudo');
  const t0 = Date.now();
  const say = (msg: string) =>
    process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${msg}\n`);
  // Its own prefix per run: leftovers are attributable, and two demos never collide.
  setRunPrefix(`roamd-${process.pid.toString(36)}-`);
  let lab: MobilityLab | undefined;
  cleanupOnSignals(() => lab?.destroySync());
  try {
    say('building the lab: underlay, 3 NVE namespaces, VMs a (on nve1) and b (on nve2)');
    lab = await MobilityLab.start({
      vms: [
        { name: 'a', nve: 0 },
        { name: 'b', nve: 1 },
      ],
    });
    const l = lab;
    say(`NVA (unix socket) and 3 agents up; a and b registered (logs in ${l.dir})`);
    const a = l.topo.vm('a');
    const b = l.topo.vm('b');
    const rx = await startReceiver(b.ns);
    const tx = await startSender(a.ns, b.ipv4, { ratePps: rate });
    say(`UDP stream a -> b at ${rate} datagrams/s`);
    await sleep(SETTLE_MS);

    const moves: MoveReport[] = [];
    const announces: number[] = [];
    const detaches: number[] = [];
    const doMove = async (to: number, kind: AnnounceKind, slowPeer?: number) => {
      const from = b.nve;
      const retBefore = l.count(from, 'retunnel');
      say(
        `moving b ${l.nveId(from)} -> ${l.nveId(to)}: orchestrator hint, TSI re-plugged, ` +
          `b announces itself by ${kind.toUpperCase()}`,
      );
      const watch = await watchConvergence(l, b, to);
      if (slowPeer !== undefined) l.agents[slowPeer]?.child.kill('SIGSTOP');
      let m;
      try {
        m = await l.move('b', to, { announce: kind, hint: true });
        if (slowPeer !== undefined) {
          await l.waitFor('the source to mark b moved', () => l.fdb(from, b)?.kind === 'moved');
          say(`  ${l.nveId(slowPeer)}'s agent paused ${slowPeerMs} ms (a slow peer)`);
          await sleep(slowPeerMs);
        }
      } finally {
        if (slowPeer !== undefined) l.agents[slowPeer]?.child.kill('SIGCONT');
      }
      await l.waitMoved(b, to);
      const at = await watch.done;
      const announcedAt = m.announcedAtMs[0]!;
      announces.push(announcedAt);
      detaches.push(m.detachedAtMs);
      const convergenceMs: Record<string, number | null> = {};
      for (const n of l.topo.nves) {
        const t = at.get(n.index);
        convergenceMs[l.nveId(n.index)] =
          t === undefined ? null : Math.max(0, Math.round((t - announcedAt) * 10) / 10);
      }
      const e = await l.entry(b);
      const rep: MoveReport = {
        from: l.nveId(from),
        to: l.nveId(to),
        announce: kind,
        convergenceMs,
        retunneled: l.count(from, 'retunnel') - retBefore,
        slowPeer: slowPeer === undefined ? undefined : l.nveId(slowPeer),
      };
      moves.push(rep);
      say(
        `  directory: b at ${e?.nveId} seq ${e?.seq}; maps followed the announce in ` +
          Object.entries(convergenceMs)
            .map(([k, v]) => `${k} ${v === null ? '-' : `${v} ms`}`)
            .join(', ') +
          `; ${rep.retunneled} re-tunnelled by ${rep.from}`,
      );
      await sleep(SETTLE_MS);
    };

    await doMove(2, 'garp');
    await doMove(1, 'rarp', slowPeerMs > 0 ? 0 : undefined);

    const sent = await tx.stop();
    await sleep(DRAIN_MS);
    const got = await rx.stop();
    // Lost after an announce: of the datagrams sent after a move's announce and before the next
    // move began, the ones that never arrived.
    const perMove: StreamResult[] = announces.map((t, i) =>
      analyzeStream(sent, got, t, detaches[i + 1]),
    );
    const lostAfterAnnounce = perMove.reduce((n, r) => n + r.lostAfter, 0);
    const total = analyzeStream(sent, got);
    const retunneled = moves.reduce((n, m) => n + m.retunneled, 0);
    const convergence: Record<string, number | null> = moves[0]!.convergenceMs;
    const report = {
      sent: total.sent,
      received: total.received,
      lost: total.lost,
      lost_after_announce: lostAfterAnnounce,
      lost_after_reachable: perMove.reduce((n, r) => n + r.lostAfterReachable, 0),
      receiver_buffer_drops: got.rcvbufErrors ?? 0,
      retunneled,
      convergence_ms: convergence,
      rate_pps: rate,
      moves: moves.map((m) => ({
        ...m,
        convergence_ms: m.convergenceMs,
        convergenceMs: undefined,
      })),
    };
    process.stdout.write(
      [
        '',
        'report',
        `  datagrams sent            ${report.sent}`,
        `  received                  ${report.received}`,
        `  lost in all               ${report.lost}  (mostly while b was between NVEs, before it announced)`,
        `  lost after an announce    ${report.lost_after_announce}`,
        `  lost once b was reachable ${report.lost_after_reachable}`,
        `  of those, receiver too slow ${report.receiver_buffer_drops}  (its socket buffer overflowed)`,
        `  re-tunnelled              ${report.retunneled}`,
        ...moves.map(
          (m) =>
            `  ${m.from} -> ${m.to} (${m.announce}) convergence: ` +
            Object.entries(m.convergenceMs)
              .map(([k, v]) => `${k} ${v === null ? '-' : `${v} ms`}`)
              .join(', ') +
            (m.slowPeer ? ` (${m.slowPeer} paused on purpose)` : ''),
        ),
        '',
      ].join('\n'),
    );
    if (f.json) writeFileSync(f.json, `${JSON.stringify(report, null, 2)}\n`);
    say('removing everything');
  } finally {
    await lab?.destroy();
  }
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'build an NVA and 3 NVEs in namespaces, move a VM twice under a UDP stream, report the loss',
    )
    .option('--json <file>', 'also write the report as JSON to this file')
    .option('--rate <pps>', 'UDP stream rate, datagrams per second', String(DEFAULT_RATE_PPS))
    .option(
      '--slow-peer-ms <ms>',
      "second move: nve1's agent is paused from its start until this long after the source marked b moved (0: not paused)",
      String(DEFAULT_SLOW_PEER_MS),
    )
    .action(runDemo);
}
