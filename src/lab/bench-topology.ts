// The topology of bench:dataplane, shared by the benchmark and the netns test that checks its
// routed row really forwards: VM a on NVE0 sends; VM b (same VN, NVE1) receives for the
// bridged rows, VM r (another VN, NVE1) for the routed row; one veth as underlay. The receivers
// get no XDP from the lab (vmXdp 'none'): the benchmark puts its count-and-drop program there.
import { buildTopology, type Topology } from './topology.ts';

/** The VN of the sender and of the bridged rows' receiver (subnet 10.1.0.0/24). */
export const BENCH_VNI = 100;
/** The routed row's receiver VN, another subnet of the same VRF (10.1.1.0/24). */
export const BENCH_ROUTED_VNI = 200;
/** VM names: the generator, the bridged receiver, the routed receiver. */
export const BENCH_SENDER = 'a';
export const BENCH_RECEIVER = 'b';
export const BENCH_ROUTED_RECEIVER = 'r';

/** Build the benchmark's namespaces (destroy() removes them). */
export function buildBenchTopology(): Topology {
  return buildTopology({
    nves: 2,
    underlay: 'p2p',
    vmXdp: 'none',
    vms: [
      { name: BENCH_SENDER, nve: 0, vni: BENCH_VNI },
      { name: BENCH_RECEIVER, nve: 1, vni: BENCH_VNI },
      { name: BENCH_ROUTED_RECEIVER, nve: 1, vni: BENCH_ROUTED_VNI },
    ],
  });
}
