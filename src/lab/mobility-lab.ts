// The mobility lab: an NVA (embedded SQLite, its own process) and N NVE agents (real `roam nve
// run` processes, one per NVE namespace, each with a generated YAML config and token) on one
// underlay, VMs as namespaces provisioned through the NVA's Admin API. What the e2e tests, `roam
// demo` and bench:move drive. The NVA listens on a Unix socket in the lab's directory: agents in
// their namespaces reach it through the filesystem, and no packet touches the host's interfaces.
// destroy() kills every process, removes every pin and deletes every namespace; it also runs on
// process exit (and the demo calls it on SIGINT/SIGTERM).
import { orphanSafe } from './orphan-safe.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { stringify as toYaml } from 'yaml';
import { BpfMap } from '../bpf/map.ts';
import { Dataplane } from '../dataplane/dataplane.ts';
import { PinLayout } from '../dataplane/pin-layout.ts';
import { pinnedL3Tables, type L3Tables, type PinnedL3Tables } from '../dataplane/routes.ts';
import {
  openTables,
  StatsReader,
  type DataplaneTables,
  type MapName,
} from '../dataplane/tables.ts';
import { verdictSlot, type FdbEntry, type VerdictName } from '../dataplane/codecs.ts';
import { newToken } from '../nva/auth.ts';
import { canonicalIp } from '../nve/config.ts';
import { AdminClient, type WireEntryDetail } from '../protocol/admin-client.ts';
import { announce, type AnnounceKind } from './announce.ts';
import { Announcer } from './announcer.ts';
import { runPrefix } from './netns.ts';
import { buildTopology, type Topology, type VmNode, type VmSpec } from './topology.ts';

/** The repository root (bin/roam.js lives there). */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ROAM_BIN = join(ROOT, 'bin/roam.js');
/** Default VN of the lab. */
export const LAB_VNI = 100;
/** Pins of lab agents live under this bpffs directory, one instance per NVE and lab. */
const LAB_PIN_ROOT = '/sys/fs/bpf/roam';
/** How long a process may take to come up (node + tsx start in ~1.5 s on this machine). */
const START_TIMEOUT_MS = 20_000;
/** Poll interval while waiting for a condition (ms). */
const POLL_MS = 2;
const DEFAULT_WAIT_MS = 15_000;
const KILL_TIMEOUT_MS = 5_000;

export interface MobilityLabOptions {
  /** NVE namespaces (default 3). */
  nves?: number;
  /** Underlay family the NVEs tunnel over (default ipv4). */
  family?: 'ipv4' | 'ipv6';
  /** VMs; vni defaults to LAB_VNI. Each is provisioned and announced at start unless noted. */
  vms: Array<Omit<VmSpec, 'vni'> & { vni?: number; provisioned?: boolean }>;
  /** The NVEs' hold time for moved entries (default "30s"). */
  holdTime?: string;
  /** Write agents' and the NVA's logs here (default: the lab's temporary directory). */
  logDir?: string;
  /**
   * The L3 overlay (docs/l3.md): VRFs with their L3 VNI, and which VNs are routed in which VRF
   * with which anycast gateway ("10.1.0.1/24", "fd01::1/64"). Their VMs get default routes via
   * the gateway addresses.
   */
  l3?: LabL3;
  /** More TSIs in every agent's config (e.g. the TSI a VM will have in another subnet). */
  extraTsis?: Array<{ interface: string; vni: number; mac: string; ips: string[] }>;
  /** The agents' anchorIdleTime (default: the agent's, 5 minutes). */
  anchorIdleTime?: string;
  /** NVE index -> the only VNIs its agent serves (default: every VN of the lab on every NVE). */
  serveOnly?: Record<number, number[]>;
}

export interface LabL3 {
  vrfs: Array<{ vrf: number; l3Vni: number }>;
  gateways: Record<number, { vrf: number; ip4: string; ip6: string }>;
  /** Anycast gateway (and router) MAC of every VRF (default: the NVA's). */
  gatewayMac?: string;
}

/** One running process of the lab (the NVA or an agent), logging to a file. */
class LabProcess {
  readonly exited: Promise<void>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly logFile: string,
  ) {
    this.exited = new Promise((r) => child.once('exit', () => r()));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /**
   * Signal and wait for the exit (SIGKILL after a while). `group`: the whole process group, i.e.
   * also what the process started (an agent's `ip monitor`), as when its host dies.
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM', group = false): Promise<void> {
    if (!this.running) {
      if (group) this.signalGroup('SIGKILL');
      return;
    }
    if (group) this.signalGroup(signal);
    else this.child.kill(signal);
    const t = setTimeout(() => this.signalGroup('SIGKILL'), KILL_TIMEOUT_MS);
    await this.exited;
    clearTimeout(t);
    if (group) this.signalGroup('SIGKILL');
  }

  /** Signal the process group (each lab process leads its own). */
  signalGroup(signal: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // the group is gone
    }
  }
}

/** What one move did, for reports and assertions. */
export interface MoveResult {
  vm: string;
  from: number;
  to: number;
  /** Wall-clock ms (sub-ms) each announce frame left the VM; [] for an unannounced move. */
  announcedAtMs: number[];
  /** When the TSI was removed at the source. */
  detachedAtMs: number;
  seqBefore: number;
}

const QUIET_TABLE = 'roamquiet';

/** Drop (on) or let through again (off) everything the VM's own kernel sends. */
function quiet(vm: VmNode, on: boolean): void {
  if (on) {
    vm.ns.run('nft', ['add', 'table', 'inet', QUIET_TABLE]);
    vm.ns.run('nft', [
      'add',
      'chain',
      'inet',
      QUIET_TABLE,
      'out',
      '{ type filter hook output priority 0; policy drop; }',
    ]);
  } else {
    vm.ns.run('nft', ['delete', 'table', 'inet', QUIET_TABLE]);
  }
}

const labs = new Set<MobilityLab>();
process.once('exit', () => {
  for (const l of labs) l.destroySync();
});

export class MobilityLab {
  readonly admin: AdminClient;
  nva?: LabProcess;
  readonly agents: Array<LabProcess | undefined> = [];
  private readonly instances: string[] = [];
  private readonly tableCache = new Map<
    number,
    { tables: DataplaneTables; stats: StatsReader; maps: BpfMap[] }
  >();
  private readonly l3Cache = new Map<number, PinnedL3Tables>();
  /** The lab's L3 overlay, if it has one. */
  l3?: LabL3;
  private extraTsis: NonNullable<MobilityLabOptions['extraTsis']> = [];
  private anchorIdleTime: string | undefined;
  private serveOnly: Record<number, number[]> | undefined;
  private destroyed = false;
  /** VMs whose own output a move left dropped (holdQuiet), until release(). */
  private readonly quieted = new Set<string>();
  /** Each VM's long-lived announce sender (started at its first announce). */
  private readonly announcers = new Map<string, Announcer>();
  /** VMs never provisioned at the NVA (and not named in the agents' configs). */
  readonly unprovisioned = new Set<string>();

  private constructor(
    readonly topo: Topology,
    readonly dir: string,
    readonly family: 'ipv4' | 'ipv6',
    readonly holdTime: string,
    private readonly adminToken: string,
    private readonly nveTokens: Map<string, string>,
  ) {
    this.admin = new AdminClient({ address: this.nvaAddress, token: adminToken });
    labs.add(this);
  }

  /** The NVA's gRPC address (a Unix socket in the lab's directory). */
  get nvaAddress(): string {
    return `unix:${join(this.dir, 'nva.sock')}`;
  }

  /** The id of NVE i (1-based for humans: nve1, nve2, ...). */
  nveId(i: number): string {
    return `nve${i + 1}`;
  }

  /** NVE i's tunnel address in the lab's underlay family. */
  nveAddr(i: number): string {
    const n = this.topo.nve(i);
    return this.family === 'ipv6' ? n.ipv6 : n.ipv4;
  }

  /** Build everything: namespaces, NVA, agents, provisioning; every VM registered and converged. */
  static async start(o: MobilityLabOptions): Promise<MobilityLab> {
    const nves = o.nves ?? 3;
    const dir = mkdtempSync(join(tmpdir(), 'roam-lab-'));
    const topo = buildTopology({
      nves,
      vms: o.vms.map((v) => ({ ...v, vni: v.vni ?? LAB_VNI })),
    });
    const adminToken = newToken();
    const nveTokens = new Map<string, string>();
    for (let i = 0; i < nves; i++) nveTokens.set(`nve${i + 1}`, newToken());
    const lab = new MobilityLab(
      topo,
      dir,
      o.family ?? 'ipv4',
      o.holdTime ?? '30s',
      adminToken,
      nveTokens,
    );
    for (const v of o.vms) if (v.provisioned === false) lab.unprovisioned.add(v.name);
    lab.l3 = o.l3;
    lab.extraTsis = o.extraTsis ?? [];
    lab.anchorIdleTime = o.anchorIdleTime;
    lab.serveOnly = o.serveOnly;
    try {
      writeFileSync(join(dir, 'admin.token'), `${adminToken}\n`, { mode: 0o600 });
      writeFileSync(join(dir, 'nve-tokens.yaml'), toYaml(Object.fromEntries(nveTokens)), {
        mode: 0o600,
      });
      lab.staticUnderlayNeighbours();
      await lab.startNva();
      for (const v of o.l3?.vrfs ?? [])
        await lab.admin.configureVrf({ ...v, routerMac: o.l3?.gatewayMac ?? '' });
      for (const vni of topo.vnis()) {
        const gw = o.l3?.gateways[vni];
        await lab.admin.configureVn({
          vni,
          learning: 'provisioned',
          ...(gw
            ? { routed: true, vrf: gw.vrf, gatewayIp4: gw.ip4, gatewayIp6: gw.ip6 }
            : { routed: false }),
        });
      }
      if (o.l3) for (const vm of topo.vms) lab.useGateway(vm);
      for (const v of o.vms) {
        if (v.provisioned === false) continue;
        const vm = topo.vm(v.name);
        // Canonical text: the NVA compares provisioned IPs with announced ones as strings.
        await lab.admin.provision({
          vni: vm.vni,
          mac: vm.mac,
          ips: [vm.ipv4, canonicalIp(vm.ipv6)],
        });
      }
      for (let i = 0; i < nves; i++) await lab.startAgent(i);
      // Each provisioned VM says where it is, as a booting guest does.
      for (const v of o.vms) {
        if (v.provisioned === false) continue;
        const vm = topo.vm(v.name);
        await lab.waitTsiAttached(vm);
        await announce(vm, 'garp', lab.announcerOf(vm));
        await lab.waitFor(
          `${vm.name} registered`,
          async () => (await lab.entry(vm))?.nveId === lab.nveId(vm.nve),
        );
      }
      await lab.waitConverged();
      return lab;
    } catch (err) {
      await lab.destroy();
      throw err;
    }
  }

  /**
   * Permanent neighbour entries between NVEs: the agents resolve next hops through the kernel's
   * FIB (which needs forwarding on), and an unresolved neighbour must never be what a test measures.
   */
  private staticUnderlayNeighbours(): void {
    for (const a of this.topo.nves) {
      // bpf_fib_lookup answers "forwarding disabled" on an interface that does not forward.
      a.ns.sysctl('net.ipv4.conf.all.forwarding', '1');
      a.ns.sysctl('net.ipv6.conf.all.forwarding', '1');
      for (const b of this.topo.nves) {
        if (a === b) continue;
        a.ns.ip(
          'neigh',
          'replace',
          b.ipv4,
          'lladdr',
          b.underlayMac,
          'dev',
          a.underlayIf,
          'nud',
          'permanent',
        );
        a.ns.ip(
          '-6',
          'neigh',
          'replace',
          b.ipv6,
          'lladdr',
          b.underlayMac,
          'dev',
          a.underlayIf,
          'nud',
          'permanent',
        );
      }
    }
  }

  private spawnRoam(name: string, netns: string | undefined, args: string[]): LabProcess {
    const logFile = join(this.dir, `${name}.log`);
    const fd = openSync(logFile, 'a');
    const cmd = netns ? 'nsenter' : process.execPath;
    const argv = netns
      ? [`--net=/run/netns/${netns}`, process.execPath, ROAM_BIN, ...args]
      : [ROAM_BIN, ...args];
    // Its own process group: destroy() and a dying host take its children too; and it gets
    // SIGTERM if this process dies without destroy() (orphan-safe.ts).
    const child = spawn(...orphanSafe(cmd, argv), {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, ROAM_LOG_LEVEL: process.env.ROAM_LOG_LEVEL ?? 'info' },
    });
    closeSync(fd);
    return new LabProcess(name, child, logFile);
  }

  /** Start (or restart) the NVA on the lab's database; resolves once it answers. */
  async startNva(): Promise<void> {
    if (this.nva?.running) throw new Error('the NVA is running already');
    // A killed NVA leaves its socket file behind, and gRPC will not bind over it.
    rmSync(join(this.dir, 'nva.sock'), { force: true });
    this.nva = this.spawnRoam('nva', undefined, [
      'nva',
      'serve',
      '--listen',
      this.nvaAddress,
      '--metrics-listen',
      '',
      '--state-dir',
      this.dir,
      '--admin-token-file',
      join(this.dir, 'admin.token'),
      '--nve-tokens',
      join(this.dir, 'nve-tokens.yaml'),
    ]);
    const nva = this.nva;
    await this.waitFor(
      'the NVA to answer',
      async () => {
        if (!nva.running) throw new Error(`the NVA exited at start:\n${nva.log().slice(-2000)}`);
        try {
          await this.admin.status();
          return true;
        } catch {
          return false;
        }
      },
      START_TIMEOUT_MS,
      50,
    );
  }

  /** Default routes of a VM of a routed VN via its VN's anycast gateway (IPv4 and IPv6). */
  useGateway(vm: VmNode): void {
    const gw = this.l3?.gateways[vm.vni];
    if (!gw) return;
    const addr = (p: string) => p.slice(0, p.indexOf('/'));
    vm.ns.ip('route', 'replace', 'default', 'via', addr(gw.ip4));
    vm.ns.ip('-6', 'route', 'replace', 'default', 'via', addr(gw.ip6));
  }

  /** NVE i's L3 tables (routed VNIs, host and prefix routes), read from its pinned maps. */
  l3Tables(i: number): L3Tables {
    let t = this.l3Cache.get(i);
    if (!t) {
      t = pinnedL3Tables(this.layout(i));
      this.l3Cache.set(i, t);
    }
    return t;
  }

  /** Stop the NVA (SIGTERM, or SIGKILL for a crash). */
  async stopNva(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.nva?.stop(signal);
  }

  /** The YAML config of NVE i's agent. */
  agentConfig(i: number): string {
    const id = this.nveId(i);
    if (this.instances[i] === undefined)
      // The run's prefix in the name: a run can tell its own pins from a parallel run's.
      this.instances[i] = `lab-${runPrefix()}${randomBytes(4).toString('hex')}-${id}`;
    const tokenFile = join(this.dir, `${id}.token`);
    writeFileSync(tokenFile, `${this.nveTokens.get(id)}\n`, { mode: 0o600 });
    const cfg = {
      id,
      underlay: { interface: this.topo.nve(i).underlayIf, address: this.nveAddr(i) },
      nva: { endpoint: this.nvaAddress, tokenFile },
      pin: { root: LAB_PIN_ROOT, instance: this.instances[i] },
      holdTime: this.holdTime,
      ...(this.anchorIdleTime ? { anchorIdleTime: this.anchorIdleTime } : {}),
      // Every provisioned VM's TSI by name with its MAC, on every NVE (any VM may move to any
      // NVE), as an orchestrator knows them: with a migration hint, the destination then
      // delivers to the VM's TSI as soon as it appears. Any other tsi-* is open to learning.
      tsis: [
        ...this.topo.vms
          .filter((v) => !this.unprovisioned.has(v.name))
          .map((v) => ({
            interface: v.tsi,
            vni: v.vni,
            mac: v.mac,
            // routed labs: the TSI's addresses too, so an announce naming one of them (a GARP:
            // the IPv4) registers all (host routes for both families)
            ...(this.l3 ? { ips: [v.ipv4, canonicalIp(v.ipv6)] } : {}),
          })),
        ...this.extraTsis.map((t) => ({ ...t, ips: t.ips.map(canonicalIp) })),
        // one pattern (a name matches one TSI entry): unprovisioned VMs learn in the first VN
        ...this.topo
          .vnis()
          .slice(0, 1)
          .map((vni) => ({ pattern: 'tsi-*', vni })),
      ].filter((t) => this.serveOnly?.[i]?.includes(t.vni) ?? true),
    };
    const file = join(this.dir, `${id}.yaml`);
    writeFileSync(file, toYaml(cfg));
    return file;
  }

  /** Start (or restart) NVE i's agent inside its namespace; resolves once it follows the NVA. */
  async startAgent(i: number): Promise<void> {
    if (this.agents[i]?.running) throw new Error(`agent ${this.nveId(i)} is running already`);
    const file = this.agentConfig(i);
    const p = this.spawnRoam(this.nveId(i), this.topo.nve(i).ns.name, [
      'nve',
      'run',
      '--config',
      file,
    ]);
    this.agents[i] = p;
    const id = this.nveId(i);
    await this.waitFor(
      `agent ${id} to connect`,
      async () => {
        if (!p.running) throw new Error(`agent ${id} exited at start:\n${p.log().slice(-3000)}`);
        const s = await this.admin.status().catch(() => undefined);
        const n = s?.nves.find((x) => x.nveId === id);
        return n !== undefined && n.connected && n.ackedRevision >= s!.revision;
      },
      START_TIMEOUT_MS,
      20,
    );
  }

  /**
   * Kill NVE i's agent (SIGKILL: a crash; its pinned dataplane keeps forwarding). `host`: its
   * whole process group dies, as when the host fails (the agent alone leaves its children).
   */
  async killAgent(i: number, signal: NodeJS.Signals = 'SIGKILL', host = false): Promise<void> {
    await this.agents[i]?.stop(signal, host);
  }

  /** The pin layout of NVE i's instance. */
  layout(i: number): PinLayout {
    const inst = this.instances[i];
    if (inst === undefined) throw new Error(`NVE ${i} has no agent instance yet`);
    return new PinLayout(inst, LAB_PIN_ROOT);
  }

  /** NVE i's tables and counters, read straight from its pinned maps. */
  tables(i: number): { tables: DataplaneTables; stats: StatsReader } {
    let t = this.tableCache.get(i);
    if (!t) {
      const layout = this.layout(i);
      const maps: BpfMap[] = [];
      const opened = new Map<MapName, BpfMap>();
      const mapOf = (n: MapName): BpfMap => {
        let m = opened.get(n);
        if (!m) {
          m = BpfMap.fromPinned(layout.map(n));
          opened.set(n, m);
          maps.push(m);
        }
        return m;
      };
      t = { tables: openTables(mapOf), stats: new StatsReader(mapOf('stats')), maps };
      this.tableCache.set(i, t);
    }
    return t;
  }

  /** NVE i's FDB entry for a VM, as the dataplane has it. */
  fdb(i: number, vm: VmNode): FdbEntry | undefined {
    return this.tables(i).tables.fdb.get({ vni: vm.vni, mac: vm.mac });
  }

  /** Packets NVE i counted for one verdict in the VM's VN. */
  count(i: number, verdict: VerdictName, vni = LAB_VNI): number {
    return Number(this.tables(i).stats.packets(vni, verdictSlot(verdict)));
  }

  /** The directory's entry for a VM (undefined if none). */
  async entry(vm: VmNode): Promise<WireEntryDetail['entry'] | undefined> {
    const r = await this.admin.listEntries(vm.vni, true);
    return r.entries.find((e) => e.entry.mac === vm.mac)?.entry;
  }

  /** The directory's entry with history and convergence records. */
  async detail(vm: VmNode): Promise<WireEntryDetail> {
    return (await this.admin.showEntry(vm.vni, vm.mac)).detail;
  }

  /** Poll `cond` until true; throws naming `what` after `timeoutMs`. */
  async waitFor(
    what: string,
    cond: () => boolean | Promise<boolean>,
    timeoutMs = DEFAULT_WAIT_MS,
    pollMs = POLL_MS,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await cond()) return;
      if (Date.now() > deadline)
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  /** Every live agent has acked the NVA's current revision. */
  async waitConverged(timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    await this.waitFor(
      'every NVE to ack the current revision',
      async () => {
        const s = await this.admin.status().catch(() => undefined);
        if (!s) return false;
        return this.agents.every((a, i) => {
          if (!a?.running) return true;
          const n = s.nves.find((x) => x.nveId === this.nveId(i));
          return n !== undefined && n.connected && n.ackedRevision >= s.revision;
        });
      },
      timeoutMs,
      5,
    );
  }

  /** The NVE's agent attached roam to the VM's TSI (its link is pinned). */
  tsiAttached(vm: VmNode): boolean {
    const layout = this.layout(vm.nve);
    return existsSync(layout.link({ role: 'tsi', ifindex: vm.tsiIfindex, hook: 'xdp' }));
  }

  async waitTsiAttached(vm: VmNode, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    await this.waitFor(
      `roam on ${vm.tsi} at ${this.nveId(vm.nve)}`,
      () => this.tsiAttached(vm),
      timeoutMs,
    );
  }

  /**
   * Move a VM to NVE `to` the way a migration looks from the network: optionally the
   * orchestrator's hint first (`roam vm move`), then its TSI goes away at the source and appears
   * at the destination (same MAC and IPs), and once roam is attached there the VM announces
   * itself (GARP, unsolicited NA or QEMU's RARP burst; 'none' for a silent VM). `holdQuiet`: the
   * VM's own output stays dropped after the announce until release(vm) (bench:move releases it
   * once every map followed: the `ip netns exec nft` that lets it out takes 10-35 ms of CPU, which
   * would compete with the move it times).
   */
  async move(
    name: string,
    to: number,
    o: { announce?: AnnounceKind | 'none'; hint?: boolean; holdQuiet?: boolean } = {},
  ): Promise<MoveResult> {
    const vm = this.topo.vm(name);
    const from = vm.nve;
    const seqBefore = (await this.entry(vm))?.seq ?? 0;
    if (o.hint) {
      await this.admin.move({
        vni: vm.vni,
        mac: vm.mac,
        toNve: this.nveId(to),
        fromNve: this.nveId(from),
      });
    }
    const kind = o.announce ?? 'garp';
    // A migrating VM is paused until it announces itself; a namespace is not: its kernel sends
    // MLD reports when the new interface comes up, which the destination would learn the VM
    // from before the announce under test. Its own output is dropped until then (nftables in
    // the VM's namespace; the announce leaves by a raw socket, which netfilter does not see).
    this.quieted.delete(vm.name);
    if (kind !== 'none') quiet(vm, true);
    const detachedAtMs = performance.timeOrigin + performance.now();
    let announcedAtMs: number[] = [];
    let hold = false;
    try {
      this.topo.moveVm(name, to);
      // its interface is new: the routes via the anycast gateway too
      this.useGateway(vm);
      await this.waitTsiAttached(vm);
      if (kind !== 'none') announcedAtMs = await announce(vm, kind, this.announcerOf(vm));
      hold = kind !== 'none' && o.holdQuiet === true;
    } finally {
      if (hold) this.quieted.add(vm.name);
      else if (kind !== 'none') quiet(vm, false);
    }
    return { vm: name, from, to, announcedAtMs, detachedAtMs, seqBefore };
  }

  /** Let the VM's own output out again after move(..., {holdQuiet: true}); no-op otherwise. */
  release(vm: VmNode): void {
    if (this.quieted.delete(vm.name)) quiet(vm, false);
  }

  /**
   * Move a VM into another routed VN at NVE `to` (topology.moveVmToSubnet: new TSI, new
   * addresses, the old ones kept on the VM), default routes via the new gateway, then a GARP.
   */
  async moveToSubnet(
    name: string,
    to: number,
    next: { tsi: string; vni: number; ipv4: string; ipv6: string },
  ): Promise<VmNode> {
    const vm = this.topo.moveVmToSubnet(name, to, next);
    this.useGateway(vm);
    await this.waitTsiAttached(vm);
    await announce(vm, 'garp', this.announcerOf(vm));
    return vm;
  }

  /**
   * The VM's announce sender: one long-lived python3 in its namespace, so that no interpreter
   * starts or exits on the CPUs at the moment of a move (announcer.ts).
   */
  announcerOf(vm: VmNode): Announcer {
    let a = this.announcers.get(vm.name);
    if (!a?.alive) {
      a = new Announcer(vm.ns);
      this.announcers.set(vm.name, a);
    }
    return a;
  }

  /** Wait until the directory has the VM at NVE `to` and every live NVE acked it. */
  async waitMoved(vm: VmNode, to: number, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    await this.waitFor(
      `${vm.name} at ${this.nveId(to)} in the directory`,
      async () => (await this.entry(vm))?.nveId === this.nveId(to),
      timeoutMs,
    );
    await this.waitConverged(timeoutMs);
  }

  /** Remove everything: processes, pins, namespaces, the lab directory. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    await Promise.all([...this.agents, this.nva].map((p) => p?.stop('SIGKILL', true)));
    this.destroySync();
  }

  /** The synchronous part of destroy() (also what runs at process exit). */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    labs.delete(this);
    for (const p of [...this.agents, this.nva]) p?.signalGroup('SIGKILL');
    // before the namespaces go: a process inside one keeps it (and the VM's links) alive
    for (const a of this.announcers.values()) a.close();
    this.announcers.clear();
    for (const t of this.tableCache.values()) for (const m of t.maps) m.close();
    this.tableCache.clear();
    for (const t of this.l3Cache.values()) t.close();
    this.l3Cache.clear();
    this.admin.close();
    for (const inst of this.instances) {
      if (inst === undefined) continue;
      try {
        if (Dataplane.isLoaded({ instance: inst, pinBase: LAB_PIN_ROOT }))
          Dataplane.adopt({ instance: inst, pinBase: LAB_PIN_ROOT }).detach();
      } catch {
        // fall through to removing the directory
      }
      rmSync(join(LAB_PIN_ROOT, inst), { recursive: true, force: true });
    }
    this.topo.destroy();
    // ROAM_LAB_KEEP_LOGS=1 keeps the directory (configs and every process's log) for a post-mortem.
    if (!process.env.ROAM_LAB_KEEP_LOGS) rmSync(this.dir, { recursive: true, force: true });
  }
}
