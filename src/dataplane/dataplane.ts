// roam's programs on a host: load the three objects with one pin root, put the underlay
// program (XDP + TC flood) on the underlay interface and the TSI program (XDP + TC flood) on
// each TSI, and keep everything pinned under /sys/fs/bpf/roam/<instance> so it outlives the
// process: a restarted agent adopt()s the pins and traffic never notices. detach() removes it
// all. The tables themselves are the control plane's business (tables.ts); this class only
// owns the kernel objects.
import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { BpfError } from '../bpf/errors.ts';
import { BpfLink } from '../bpf/link.ts';
import { BpfMap } from '../bpf/map.ts';
import { inNetns } from '../bpf/netns.ts';
import { BpfObject } from '../bpf/object.ts';
import { BpfProgram } from '../bpf/program.ts';
import { logger } from '../log.ts';
import { VXLAN_DEFAULT_PORT } from './codecs.ts';
import {
  PinLayout,
  parseLinkPinName,
  type LinkHook,
  type LinkPin,
  type LinkRole,
} from './pin-layout.ts';
import { pinnedL3Tables, type PinnedL3Tables } from './routes.ts';
import {
  MAP_NAMES,
  StatsReader,
  openTables,
  type DataplaneTables,
  type MapName,
} from './tables.ts';

const log = logger('dataplane');

/** Default directory of the built objects (scripts/build.sh). */
export const DEFAULT_OBJECTS_DIR = 'build/bpf';
/** Object files, in load order: the first creates the shared maps, the others reuse them. */
const OBJECT_FILES = ['tsi.bpf.o', 'underlay.bpf.o', 'flood.bpf.o'] as const;
/** The four programs, by role. */
export const PROGRAMS = {
  tsi: 'roam_tsi',
  underlay: 'roam_underlay',
  floodTsi: 'roam_flood_tsi',
  floodUnderlay: 'roam_flood_underlay',
} as const;
export type ProgramRole = keyof typeof PROGRAMS;
/** Maps whose size may be chosen at load (the same in every object: they share pins). */
export type SizedMap =
  'fdb' | 'neigh' | 'peers' | 'stats' | 'event_limits' | 'nexthops' | 'tsis' | 'vnis' | 'flood';
const DEFAULT_TTL = 64;
const ENOENT = 2;

export interface DataplaneOptions {
  /** Instance name: the pins live in <pinBase>/<instance>. */
  instance: string;
  /** Default /sys/fs/bpf/roam. */
  pinBase?: string;
  /** Network namespace (a name under /run/netns) whose interfaces the programs attach to. */
  netns?: string;
  /** Where the built objects are (default build/bpf). */
  objectsDir?: string;
  /** XDP mode: native (default; veth and tap support it) or generic. */
  xdpMode?: 'native' | 'generic';
  /** Map sizes at load (default: the C's). Ignored by adopt(): pinned maps keep theirs. */
  maxEntries?: Partial<Record<SizedMap, number>>;
}

/** How this NVE sits on the underlay. */
export interface UnderlaySettings {
  ifindex: number;
  /** Our VTEP addresses; at least one. */
  localIp4?: string;
  localIp6?: string;
  /** Outer source MAC (default: the interface's). */
  mac?: string;
  /** Underlay MTU (default: the interface's). */
  mtu?: number;
  udpPort?: number;
  ttl?: number;
  /** Next hop for NVEs without a nexthops entry. */
  gatewayMac?: string;
  /** Resolve missing next hops with bpf_fib_lookup. */
  fib?: boolean;
  eventRefillNs?: bigint;
  eventBurst?: number;
}

/** A pinned link and whether its interface still exists. */
export interface LinkState extends LinkPin {
  attached: boolean;
}

export class Dataplane {
  readonly tables: DataplaneTables;
  /** The L3 overlay's tables (routed VNIs, host and prefix routes), pinned beside the others. */
  readonly l3: PinnedL3Tables;
  readonly stats: StatsReader;
  private readonly links = new Map<string, BpfLink>();
  private closed = false;

  private constructor(
    readonly layout: PinLayout,
    private readonly opts: DataplaneOptions,
    private readonly maps: Map<MapName, BpfMap>,
    private readonly progs: Map<ProgramRole, BpfProgram>,
  ) {
    this.tables = openTables((n) => this.map(n));
    this.l3 = pinnedL3Tables(layout);
    this.stats = new StatsReader(this.map('stats'), this.map('stats_spill'));
  }

  /** Is an instance loaded (its programs pinned)? */
  static isLoaded(opts: Pick<DataplaneOptions, 'instance' | 'pinBase'>): boolean {
    const layout = new PinLayout(opts.instance, opts.pinBase);
    return Object.values(PROGRAMS).every((p) => existsSync(layout.program(p)));
  }

  /**
   * Load roam's objects as a new instance: maps and programs pinned, nothing attached yet.
   * Fails when the instance exists (adopt it, or detach it first).
   */
  static load(opts: DataplaneOptions): Dataplane {
    // 1. Options: the pin layout, and no instance of that name already in place.
    const layout = new PinLayout(opts.instance, opts.pinBase);
    if (existsSync(layout.progsDir)) {
      throw new Error(
        `roam instance "${opts.instance}" is already loaded at ${layout.root}: adopt it, or detach it first`,
      );
    }
    const objectsDir = opts.objectsDir ?? DEFAULT_OBJECTS_DIR;
    const missing = OBJECT_FILES.filter((f) => !existsSync(join(objectsDir, f)));
    if (missing.length > 0) {
      throw new Error(
        `roam BPF objects missing in ${objectsDir}: ${missing.join(', ')} (run scripts/build.sh)`,
      );
    }
    // 2. The pin root: maps declared LIBBPF_PIN_BY_NAME are created (or found) here.
    mkdirSync(layout.progsDir, { recursive: true });
    mkdirSync(layout.linksDir, { recursive: true });
    const objects: BpfObject[] = [];
    try {
      // 3. Open, size and load each object; the first creates and pins the shared maps,
      //    the others reuse those pins, so all programs see one set of tables.
      for (const file of OBJECT_FILES) {
        const obj = BpfObject.open(join(objectsDir, file), { pinRoot: layout.root });
        objects.push(obj);
        for (const [map, n] of Object.entries(opts.maxEntries ?? {})) obj.setMaxEntries(map, n);
        obj.load();
      }
      // 4. Pin the programs: later attachments (and a restarted agent) take them from there.
      for (const name of Object.values(PROGRAMS)) {
        const obj = objects.find((o) => o.programNames().includes(name));
        if (!obj) throw new Error(`no object defines program ${name}`);
        obj.program(name).pin(layout.program(name));
      }
    } catch (err) {
      // One clean-up path: nothing half-loaded stays pinned.
      for (const o of objects) o.close();
      removePins(layout);
      throw err;
    } finally {
      // 5. The objects are done: from here on everything is used through its pin.
      for (const o of objects) o.close();
    }
    log.info({ instance: opts.instance, root: layout.root }, 'dataplane loaded');
    return Dataplane.fromPins(layout, opts);
  }

  /**
   * Re-open a loaded instance from its pins (after a restart): maps, programs and links are
   * taken as they are, so traffic keeps flowing untouched.
   */
  static adopt(opts: DataplaneOptions): Dataplane {
    const layout = new PinLayout(opts.instance, opts.pinBase);
    if (!Dataplane.isLoaded(opts)) {
      throw new Error(`no roam instance "${opts.instance}" to adopt at ${layout.root}`);
    }
    const dp = Dataplane.fromPins(layout, opts);
    // Re-open every pinned link so detach() can end it; they keep running meanwhile.
    for (const name of readdirSync(layout.linksDir)) {
      if (parseLinkPinName(name))
        dp.links.set(name, BpfLink.fromPinned(join(layout.linksDir, name)));
    }
    log.info({ instance: opts.instance, links: dp.links.size }, 'dataplane adopted');
    return dp;
  }

  /** Adopt the instance when it is loaded, else load it. */
  static loadOrAdopt(opts: DataplaneOptions): Dataplane {
    return Dataplane.isLoaded(opts) ? Dataplane.adopt(opts) : Dataplane.load(opts);
  }

  private static fromPins(layout: PinLayout, opts: DataplaneOptions): Dataplane {
    const maps = new Map<MapName, BpfMap>();
    const progs = new Map<ProgramRole, BpfProgram>();
    try {
      for (const m of MAP_NAMES) maps.set(m, BpfMap.fromPinned(layout.map(m)));
      for (const [role, name] of Object.entries(PROGRAMS) as [ProgramRole, string][]) {
        progs.set(role, BpfProgram.fromPinned(layout.program(name)));
      }
    } catch (err) {
      for (const m of maps.values()) m.close();
      for (const p of progs.values()) p.close();
      throw err;
    }
    return new Dataplane(layout, opts, maps, progs);
  }

  /** One of roam's maps (e.g. 'events' for a RingBuffer). */
  map(name: MapName): BpfMap {
    const m = this.maps.get(name);
    if (!m) throw new Error(`dataplane has no map ${name}`);
    return m;
  }

  /** One of roam's programs (e.g. for run-time statistics). */
  program(role: ProgramRole): BpfProgram {
    const p = this.progs.get(role);
    if (!p) throw new Error(`dataplane has no program ${role}`);
    return p;
  }

  /**
   * Write the underlay configuration and attach the underlay programs (XDP decap, TC flood)
   * to its interface. Called again with another interface, it moves them there.
   */
  setUnderlay(u: UnderlaySettings): void {
    if (u.localIp4 === undefined && u.localIp6 === undefined) {
      throw new Error('the underlay needs a local IPv4 or IPv6 address');
    }
    const info = this.interfaceInfo(u.ifindex);
    // Configuration first: the programs read it on their first packet.
    this.tables.config.set({
      underlayIfindex: u.ifindex,
      udpPort: u.udpPort ?? VXLAN_DEFAULT_PORT,
      mtu: u.mtu ?? info.mtu,
      ttl: u.ttl ?? DEFAULT_TTL,
      localMac: u.mac ?? info.mac,
      gatewayMac: u.gatewayMac,
      localIp4: u.localIp4,
      localIp6: u.localIp6,
      fib: u.fib ?? false,
      floodTc: true,
      trace: false,
      eventRefillNs: u.eventRefillNs ?? 0n,
      eventBurst: u.eventBurst ?? 0,
      // Kept across calls and restarts: a frame XDP just marked must still be TC's.
      floodSecret: this.tables.config.get()?.floodSecret || randomInt(1, 2 ** 32),
    });
    for (const l of this.linkStates()) {
      if (l.role === 'underlay' && l.ifindex !== u.ifindex) this.detachLink(l);
    }
    // TC before XDP: XDP hands broadcast to TC, which must be there to take it.
    this.attach({ role: 'underlay', ifindex: u.ifindex, hook: 'tc' }, 'floodUnderlay');
    this.attach({ role: 'underlay', ifindex: u.ifindex, hook: 'xdp' }, 'underlay');
  }

  /** Remove the underlay programs (XDP first, then TC); the configuration stays. */
  detachUnderlay(): void {
    const ul = this.linkStates().filter((l) => l.role === 'underlay');
    for (const hook of ['xdp', 'tc'] as const) {
      for (const l of ul.filter((x) => x.hook === hook)) this.detachLink(l);
    }
  }

  /** Attach the TSI programs (TC flood, then XDP) to a TSI. Its `tsis` entry is the caller's. */
  attachTsi(ifindex: number): void {
    const tc: LinkPin = { role: 'tsi', ifindex, hook: 'tc' };
    const hadTc = this.isAttached(tc);
    this.attach(tc, 'floodTsi');
    try {
      this.attach({ role: 'tsi', ifindex, hook: 'xdp' }, 'tsi');
    } catch (err) {
      // All or nothing: a TSI with our TC but no XDP would be half-roam.
      if (!hadTc) this.detachLink(tc);
      throw err;
    }
  }

  /** Remove the TSI programs from a TSI (XDP first, so nothing is handed to a missing TC). */
  detachTsi(ifindex: number): void {
    this.detachLink({ role: 'tsi', ifindex, hook: 'xdp' });
    this.detachLink({ role: 'tsi', ifindex, hook: 'tc' });
  }

  /** Every pinned link, and whether its interface still holds it. */
  linkStates(): LinkState[] {
    const out: LinkState[] = [];
    for (const name of existsSync(this.layout.linksDir) ? readdirSync(this.layout.linksDir) : []) {
      const pin = parseLinkPinName(name);
      if (!pin) continue;
      out.push({ ...pin, attached: this.isAttached(pin) });
    }
    return out;
  }

  /** TSIs with roam's XDP program attached. */
  attachedTsis(): number[] {
    return this.linkStates()
      .filter((l) => l.role === 'tsi' && l.hook === 'xdp' && l.attached)
      .map((l) => l.ifindex);
  }

  /** Drop the pins of links whose interface has gone (a VM's TSI deleted with it). */
  pruneStaleLinks(): LinkPin[] {
    const stale = this.linkStates().filter((l) => !l.attached);
    for (const l of stale) this.detachLink(l);
    return stale;
  }

  /** Release this process's handles; pins, links and traffic stay (an agent's exit). */
  close(): void {
    if (this.closed) return;
    for (const l of this.links.values()) l.close();
    for (const m of this.maps.values()) m.close();
    this.l3.close();
    for (const p of this.progs.values()) p.close();
    this.links.clear();
    this.closed = true;
  }

  /** Remove everything of this instance from the kernel: links, programs, maps, directories. */
  detach(): void {
    const states = this.linkStates();
    const order: [LinkRole, LinkHook][] = [
      ['tsi', 'xdp'],
      ['tsi', 'tc'],
      ['underlay', 'xdp'],
      ['underlay', 'tc'],
    ];
    // 1. Links, XDP before TC on each interface: traffic stops going through roam first on
    //    the TSIs, then on the underlay.
    for (const [role, hook] of order) {
      for (const l of states.filter((s) => s.role === role && s.hook === hook)) this.detachLink(l);
    }
    // 2. Our handles; then 3. the pins of programs and maps, and the directories.
    this.close();
    removePins(this.layout);
    log.info({ instance: this.opts.instance }, 'dataplane detached');
  }

  private attach(pin: LinkPin, role: ProgramRole): void {
    const path = this.layout.link(pin);
    if (this.isAttached(pin)) return; // already there (e.g. after adopt): leave traffic alone
    if (existsSync(path)) this.detachLink(pin); // a stale pin from a vanished interface
    const prog = this.program(role);
    const link = inNetns(this.opts.netns, () =>
      pin.hook === 'xdp'
        ? prog.attachXdp(pin.ifindex, { mode: this.opts.xdpMode ?? 'native' })
        : prog.attachTcx(pin.ifindex, 'ingress'),
    );
    try {
      link.pin(path);
    } catch (err) {
      link.close();
      throw err;
    }
    this.links.set(pathName(path), link);
  }

  private isAttached(pin: LinkPin): boolean {
    const link = this.openLink(pin);
    if (!link) return false;
    try {
      return link.info().ifindex !== 0;
    } catch {
      return false;
    }
  }

  private openLink(pin: LinkPin): BpfLink | undefined {
    const path = this.layout.link(pin);
    const name = pathName(path);
    const have = this.links.get(name);
    if (have) return have;
    if (!existsSync(path)) return undefined;
    const link = BpfLink.fromPinned(path);
    this.links.set(name, link);
    return link;
  }

  private detachLink(pin: LinkPin): void {
    const path = this.layout.link(pin);
    const link = this.openLink(pin);
    if (link) {
      try {
        link.detach();
      } catch (err) {
        // A link whose interface vanished is already detached (ENOLINK and friends).
        if (!(err instanceof BpfError)) throw err;
      }
      link.close();
      this.links.delete(pathName(path));
    }
    try {
      unlinkSync(path);
    } catch (err) {
      if (
        (err as { errno?: number }).errno !== -ENOENT &&
        (err as { code?: string }).code !== 'ENOENT'
      )
        throw err;
    }
  }

  private interfaceInfo(ifindex: number): { mac: string; mtu: number } {
    const args = [...(this.opts.netns ? ['-n', this.opts.netns] : []), '-j', 'link', 'show'];
    const all = JSON.parse(execFileSync('ip', args, { encoding: 'utf8' })) as {
      ifindex: number;
      address: string;
      mtu: number;
    }[];
    const found = all.find((l) => l.ifindex === ifindex);
    if (!found) {
      throw new Error(
        `no interface with ifindex ${ifindex}${this.opts.netns ? ` in netns ${this.opts.netns}` : ''}`,
      );
    }
    return { mac: found.address, mtu: found.mtu };
  }
}

function pathName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/**
 * Remove an instance's pins and its directory. The directory is the instance's alone, so
 * everything in it goes, maps the C added after this file was written included.
 */
function removePins(layout: PinLayout): void {
  rmSync(layout.root, { recursive: true, force: true });
}
