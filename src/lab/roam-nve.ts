// roam on a lab NVE, with its tables filled straight from the topology (no agent, no NVA):
// what the netns tests, the benchmark and the demo's baseline use. Each NVE gets its own
// instance (pin root /sys/fs/bpf/roam/<instance>) attached inside its namespace.
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_PIN_BASE } from '../dataplane/pin-layout.ts';
import { Dataplane, type DataplaneOptions } from '../dataplane/dataplane.ts';
import { verdictSlot, type VerdictName } from '../dataplane/codecs.ts';
import type {
  FdbEntry,
  FdbKey,
  FloodList,
  NeighKey,
  PeerKey,
  TsiInfo,
  VniInfo,
} from '../dataplane/codecs.ts';
import type { UnderlayFamily } from './kernel-vtep.ts';
import { runPrefix } from './netns.ts';
import type { NveNode, Topology, VmNode } from './topology.ts';

export interface RoamNveOptions {
  /** Address family of the tunnels (default ipv4). */
  family?: UnderlayFamily;
  /** Instance name (default: unique per NVE and run). */
  instance?: string;
  pinBase?: string;
  maxEntries?: DataplaneOptions['maxEntries'];
}

/** An NVE of the topology forwarding with roam. */
export class RoamNve {
  constructor(
    readonly topo: Topology,
    readonly nve: NveNode,
    public dp: Dataplane,
    readonly family: UnderlayFamily,
  ) {}

  /** The tunnel address of an NVE in this NVE's underlay family. */
  addr(n: NveNode): string {
    return this.family === 'ipv6' ? n.ipv6 : n.ipv4;
  }

  /** Attach to the underlay and every local TSI, then fill the tables from the topology. */
  install(): void {
    this.syncTables();
    this.dp.setUnderlay({
      ifindex: this.nve.underlayIfindex,
      localIp4: this.nve.ipv4,
      localIp6: this.nve.ipv6,
    });
    for (const vm of this.localVms()) this.dp.attachTsi(vm.tsiIfindex);
  }

  localVms(): VmNode[] {
    return this.topo.vms.filter((v) => v.nve === this.nve.index);
  }

  /**
   * Write what the topology says into the tables (what an agent would learn from the NVA):
   * TSIs, VNIs, every VM of a served VN (local or at its NVE), ARP/ND/RARP answers, allowed
   * peers, next hops and flood lists. Entries for VMs no longer here are replaced, not kept.
   */
  syncTables(): void {
    const t = this.dp.tables;
    const local = this.localVms();
    const served = [...new Set(local.map((v) => v.vni))];
    const vms = this.topo.vms.filter((v) => served.includes(v.vni));
    const others = this.topo.nves.filter((n) => n.index !== this.nve.index);

    t.tsis.setMany(
      local.map((v): [number, TsiInfo] => [v.tsiIfindex, { vni: v.vni, strictSource: false }]),
    );
    t.vnis.setMany(served.map((vni): [number, VniInfo] => [vni, { floodUnknown: false }]));
    t.fdb.setMany(
      vms.map((v): [FdbKey, FdbEntry] => [
        { vni: v.vni, mac: v.mac },
        v.nve === this.nve.index
          ? { kind: 'local', ifindex: v.tsiIfindex, rarpIp4: v.ipv4 }
          : { kind: 'remote', nve: this.addr(this.topo.nve(v.nve)), rarpIp4: v.ipv4 },
      ]),
    );
    t.neigh.setMany(
      vms.flatMap((v): [NeighKey, string][] => [
        [{ vni: v.vni, ip: v.ipv4 }, v.mac],
        [{ vni: v.vni, ip: v.ipv6 }, v.mac],
      ]),
    );
    t.nexthops.setMany(others.map((n): [string, string] => [this.addr(n), n.underlayMac]));
    const peers: [PeerKey, true][] = [];
    const floods: [number, FloodList][] = [];
    for (const vni of served) {
      const remote = this.topo
        .nvesServing(vni)
        .filter((n) => n.index !== this.nve.index)
        .map((n) => this.addr(n));
      for (const nve of remote) peers.push([{ vni, nve }, true]);
      floods.push([
        vni,
        { local: local.filter((v) => v.vni === vni).map((v) => v.tsiIfindex), remote },
      ]);
    }
    t.peers.setMany(peers);
    t.flood.setMany(floods);
  }

  /**
   * A VM that lived here moved to another NVE: its entry becomes "moved to that NVE" for
   * holdMs, so frames still reaching us are re-tunnelled there (draft-ietf-nvo3-vmm).
   */
  markMoved(vm: VmNode, toNve: number, holdMs: number): void {
    const untilNs = process.hrtime.bigint() + BigInt(holdMs) * 1_000_000n;
    this.dp.tables.fdb.setMany([
      [
        { vni: vm.vni, mac: vm.mac },
        { kind: 'moved', nve: this.addr(this.topo.nve(toNve)), untilNs },
      ],
    ]);
  }

  /** The instance name (its pins are under <pin base>/<instance>). */
  get instance(): string {
    return this.dp.layout.root.slice(this.dp.layout.root.lastIndexOf('/') + 1);
  }

  /** Let go of every fd and adopt the pinned instance again (what a restarted agent does). */
  readopt(pinBase?: string): void {
    this.dp.close();
    this.dp = Dataplane.adopt({ instance: this.instance, netns: this.nve.ns.name, pinBase });
  }

  /** Packets counted for one verdict in one VNI. */
  count(vni: number, verdict: VerdictName): bigint {
    return this.dp.stats.packets(vni, verdictSlot(verdict));
  }

  /** Remove roam from the NVE completely (links, pins, maps). Idempotent. */
  remove(): void {
    if (!live.delete(this)) return;
    this.dp.detach();
  }
}

// Instances this process installed: removed on exit too, so a crashed test leaves no pins.
const live = new Set<RoamNve>();
process.once('exit', () => {
  for (const r of [...live]) {
    try {
      r.remove();
    } catch {
      // best effort at exit
    }
  }
});

/** Load roam on one NVE of a topology, attach it and fill its tables. */
export function installRoamNve(
  topo: Topology,
  nveIndex: number,
  opts: RoamNveOptions = {},
): RoamNve {
  const nve = topo.nve(nveIndex);
  const dp = Dataplane.load({
    instance: opts.instance ?? `${runPrefix()}nve${nveIndex}-${randomBytes(3).toString('hex')}`,
    pinBase: opts.pinBase,
    netns: nve.ns.name,
    maxEntries: opts.maxEntries,
  });
  const roam = new RoamNve(topo, nve, dp, opts.family ?? 'ipv4');
  live.add(roam);
  try {
    roam.install();
  } catch (err) {
    roam.remove();
    throw err;
  }
  return roam;
}

/**
 * Remove every roam instance whose name starts with prefix (the test run's global teardown:
 * a fork killed mid-test never ran its exit handler). Returns the names removed.
 */
export function sweepRoamInstances(prefix: string, pinBase = DEFAULT_PIN_BASE): string[] {
  if (!existsSync(pinBase)) return [];
  const names = readdirSync(pinBase).filter((n) => n.startsWith(prefix));
  for (const instance of names) {
    try {
      Dataplane.adopt({ instance, pinBase }).detach();
    } catch {
      // half-loaded or already gone: drop whatever pins are left
      rmSync(join(pinBase, instance), { recursive: true, force: true });
    }
  }
  return names;
}
