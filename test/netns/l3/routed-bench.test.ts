// The routed row of bench:dataplane measures what reaches the receiver: this checks, on the
// benchmark's own topology and setup (src/lab/bench-topology.ts, src/lab/bench-routed.ts),
// that the generator's frames really are routed end to end (NVE0 routes them into the L3 VNI,
// NVE1 delivers them by route, every one reaches VM r and none reaches VM b), and that the
// receiver counts only what roam delivered: a frame with no route arrives nowhere.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CountingReceiver } from '../../../src/lab/bench-forwarders.ts';
import {
  BENCH_RECEIVER,
  BENCH_ROUTED_RECEIVER,
  BENCH_SENDER,
  buildBenchTopology,
} from '../../../src/lab/bench-topology.ts';
import { ROUTED_L3_VNI, RoutedBench } from '../../../src/lab/bench-routed.ts';
import { sendUdpFrames } from '../../../src/lab/bench-send.ts';
import type { Topology } from '../../../src/lab/topology.ts';
import { destroyAll } from '../../helpers/netns.ts';

const FRAMES = 200;
/** Smaller filler than the benchmark's (100,000 / 1,000): same code path, faster fill. */
const HOST_ROUTES = 10_000;
const PREFIX_ROUTES = 1_000;
/** Delivery through veths is asynchronous (NAPI): wait this long for the counts to settle. */
const SETTLE_MS = 300;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('bench:dataplane routed row: the topology forwards what the generator sends', () => {
  let topo: Topology;
  let bench: RoutedBench | undefined;
  let atR: CountingReceiver | undefined;
  let atB: CountingReceiver | undefined;

  beforeAll(() => {
    topo = buildBenchTopology();
    atR = CountingReceiver.attach(topo.vm(BENCH_ROUTED_RECEIVER), 'drop');
    atB = CountingReceiver.attach(topo.vm(BENCH_RECEIVER), 'drop');
    bench = RoutedBench.install(topo, { hostRoutes: HOST_ROUTES, prefixRoutes: PREFIX_ROUTES });
  });
  afterAll(() => {
    bench?.remove();
    atR?.detach();
    atB?.detach();
    topo?.destroy();
    destroyAll();
  });

  const counts = () => ({
    // the generator's kind only: a VM's kernel may send an IPv6 autoconfiguration frame any time
    r: atR?.countUdp4() ?? -1n,
    b: atB?.countUdp4() ?? -1n,
    out: bench?.routedOut() ?? -1n,
    in: bench?.routedIn() ?? -1n,
    noRoute: bench?.nves[0].count(topo.vm(BENCH_SENDER).vni, 'drop-no-route') ?? -1n,
  });

  it("both NVEs hold the filler routes besides the VMs' own (two per VM)", () => {
    const own = topo.vms.length * 2;
    expect(bench?.routeCounts()).toEqual([
      { hostRoutes: HOST_ROUTES + own, prefixRoutes: PREFIX_ROUTES },
      { hostRoutes: HOST_ROUTES + own, prefixRoutes: PREFIX_ROUTES },
    ]);
  });

  it('every frame to the gateway MAC is routed at NVE0, delivered by route at NVE1, counted at r', async () => {
    const b = bench;
    if (!b) throw new Error('routed bench not installed');
    const before = counts();
    sendUdpFrames(topo.vm(BENCH_SENDER), b.target(), FRAMES);
    await sleep(SETTLE_MS);
    const after = counts();
    expect(after.out - before.out).toBe(BigInt(FRAMES));
    expect(after.in - before.in).toBe(BigInt(FRAMES));
    expect(after.r - before.r).toBe(BigInt(FRAMES));
    expect(after.b - before.b).toBe(0n);
    expect(b.nves[1].count(ROUTED_L3_VNI, 'drop-no-route')).toBe(0n);
  });

  it('still forwards after the per-round detach and attach', async () => {
    const b = bench;
    if (!b) throw new Error('routed bench not installed');
    b.detach();
    b.attach();
    const before = counts();
    sendUdpFrames(topo.vm(BENCH_SENDER), b.target(), FRAMES);
    await sleep(SETTLE_MS);
    expect(counts().r - before.r).toBe(BigInt(FRAMES));
  });

  it('a destination without a route is dropped at NVE0 and never reaches a receiver', async () => {
    const b = bench;
    if (!b) throw new Error('routed bench not installed');
    const before = counts();
    // 192.0.2.0/24 (TEST-NET-1): no host route, no filler prefix covers it
    sendUdpFrames(topo.vm(BENCH_SENDER), { ...b.target(), ipv4: '192.0.2.7' }, FRAMES);
    await sleep(SETTLE_MS);
    const after = counts();
    expect(after.noRoute - before.noRoute).toBe(BigInt(FRAMES));
    expect(after.r - before.r).toBe(0n);
    expect(after.b - before.b).toBe(0n);
    expect(after.out - before.out).toBe(0n);
  });
});
