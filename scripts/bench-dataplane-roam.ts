// The roam row of bench:dataplane: roam on both NVEs of the benchmark topology, each with
// `entries` extra remote FDB entries and as many neighbour entries, so every lookup runs
// against full-sized tables. Tables are filled once; rounds only attach and detach programs.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_OBJECTS_DIR } from '../src/dataplane/dataplane.ts';
import type { FdbEntry, FdbKey, NeighKey } from '../src/dataplane/codecs.ts';
import type { ProgStats } from '../src/lab/bench-forwarders.ts';
import { installRoamNve, type RoamNve } from '../src/lab/roam-nve.ts';
import type { Topology } from '../src/lab/topology.ts';
import type { Forwarder } from './bench-dataplane.ts';

/** roam's objects: without them the row says why instead of showing a number. */
const ROAM_OBJECTS = ['tsi.bpf.o', 'underlay.bpf.o', 'flood.bpf.o'];
/** Entries written per batched update. */
const BATCH = 10_000;

/** The i-th filler MAC: locally administered, never one of the lab's VMs (02:00:...). */
function fillerMac(i: number): string {
  const b = [0x02, 0x10, (i >>> 24) & 0xff, (i >>> 16) & 0xff, (i >>> 8) & 0xff, i & 0xff];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** The i-th filler IPv4 address in 10.128.0.0/9 (outside the lab's VM subnets). */
function fillerIp(i: number): string {
  return `10.${128 + ((i >>> 16) & 0x7f)}.${(i >>> 8) & 0xff}.${i & 0xff}`;
}

function fill(r: RoamNve, vni: number, peer: string, entries: number): void {
  for (let start = 0; start < entries; start += BATCH) {
    const n = Math.min(BATCH, entries - start);
    const fdb: [FdbKey, FdbEntry][] = [];
    const neigh: [NeighKey, string][] = [];
    for (let i = start; i < start + n; i++) {
      fdb.push([
        { vni, mac: fillerMac(i) },
        { kind: 'remote', nve: peer },
      ]);
      neigh.push([{ vni, ip: fillerIp(i) }, fillerMac(i)]);
    }
    r.dp.tables.fdb.setMany(fdb);
    r.dp.tables.neigh.setMany(neigh);
  }
}

/** roam installed on the benchmark topology with full tables. */
export async function roamForwarder(topo: Topology, entries: number): Promise<Forwarder | string> {
  const missing = ROAM_OBJECTS.filter((f) => !existsSync(join(DEFAULT_OBJECTS_DIR, f)));
  if (missing.length > 0)
    return `not available: ${missing.join(', ')} not built (scripts/build.sh)`;
  let nves: RoamNve[] | undefined;
  const a = topo.vm('a');
  const b = topo.vm('b');
  const attach = (r: RoamNve) => r.install();
  return {
    name: 'roam',
    install: () => {
      if (nves) {
        nves.forEach(attach);
        return;
      }
      nves = [installRoamNve(topo, 0), installRoamNve(topo, 1)];
      const [n0, n1] = nves as [RoamNve, RoamNve];
      fill(n0, a.vni, n0.addr(topo.nve(1)), entries);
      fill(n1, b.vni, n1.addr(topo.nve(0)), entries);
    },
    programs: (): Record<string, () => ProgStats> => {
      const [n0, n1] = nves ?? [];
      if (!n0 || !n1) return {};
      return {
        encap: () => n0.dp.program('tsi').runStats(),
        decap: () => n1.dp.program('underlay').runStats(),
      };
    },
    remove: () => {
      for (const r of nves ?? []) {
        for (const vm of r.localVms()) r.dp.detachTsi(vm.tsiIfindex);
        r.dp.detachUnderlay();
      }
    },
    close: () => {
      for (const r of nves ?? []) r.remove();
      nves = undefined;
    },
  };
}
