// The roam row of bench:dataplane. roam's programs and the Dataplane class are not in the tree
// yet: until they are, this says so, and the benchmark prints that instead of a number.
import type { Topology } from '../src/lab/topology.ts';
import type { Forwarder } from './bench-dataplane.ts';

/** roam installed on the benchmark topology, or why it cannot be (a sentence). */
export async function roamForwarder(
  _topo: Topology,
  _entries: number,
): Promise<Forwarder | string> {
  return 'not available yet: roam XDP programs / Dataplane class not landed';
}
