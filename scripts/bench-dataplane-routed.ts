// The routed row of bench:dataplane: roam routing a -> r between two routed VNs of one VRF
// through the anycast gateway, with full-sized L3 tables (src/lab/bench-routed.ts). Its own
// roam instances on the same NVEs: the bridged row's VN stays unrouted, as an L2-only VN is.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_OBJECTS_DIR } from '../src/dataplane/dataplane.ts';
import type { ProgStats } from '../src/lab/bench-forwarders.ts';
import { RoutedBench } from '../src/lab/bench-routed.ts';
import { BENCH_ROUTED_RECEIVER } from '../src/lab/bench-topology.ts';
import type { Topology } from '../src/lab/topology.ts';
import type { Forwarder } from './bench-dataplane.ts';

export const ROUTED_ROW = 'roam-routed';
/** roam's objects: without them the row says why instead of showing a number. */
const ROAM_OBJECTS = ['tsi.bpf.o', 'underlay.bpf.o', 'flood.bpf.o'];

/** roam routed, installed on first use with `hostRoutes` and `prefixRoutes` filler routes. */
export function routedForwarder(
  topo: Topology,
  hostRoutes: number,
  prefixRoutes: number,
): Forwarder | string {
  const missing = ROAM_OBJECTS.filter((f) => !existsSync(join(DEFAULT_OBJECTS_DIR, f)));
  if (missing.length > 0)
    return `not available: ${missing.join(', ')} not built (scripts/build.sh)`;
  let bench: RoutedBench | undefined;
  return {
    name: ROUTED_ROW,
    receiver: BENCH_ROUTED_RECEIVER,
    target: () => {
      if (!bench) throw new Error('routed row not installed');
      return bench.target();
    },
    install: () => {
      if (bench) bench.attach();
      else {
        bench = RoutedBench.install(topo, { hostRoutes, prefixRoutes });
        const counts = bench
          .routeCounts()
          .map((c, i) => `NVE${i} ${c.hostRoutes} host / ${c.prefixRoutes} prefix routes`);
        console.error(`${ROUTED_ROW}: installed ${counts.join(', ')}`);
      }
    },
    programs: (): Record<string, () => ProgStats> => {
      const b = bench;
      if (!b) return {};
      return {
        encap: () => b.nves[0].dp.program('tsi').runStats(),
        decap: () => b.nves[1].dp.program('underlay').runStats(),
      };
    },
    // Only frames NVE1 delivered by route count: anything else reaching r would be another path.
    ownDelivered: () => bench?.routedIn() ?? 0n,
    remove: () => bench?.detach(),
    close: () => {
      bench?.remove();
      bench = undefined;
    },
  };
}
