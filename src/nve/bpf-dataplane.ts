// The agent's dataplane on a real host: roam's BPF programs through the Dataplane class
// (src/dataplane/dataplane.ts). In one fixed order: load the objects or adopt the pinned instance
// (a restarted agent: traffic never stops), write the underlay configuration and attach the
// underlay programs, declare the VNIs this NVE serves; per TSI: its VNI in `tsis`, then the TSI
// programs; the ring buffer last. close() releases this process's handles and leaves every pin.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { fileURLToPath } from 'node:url';
import { RingBuffer } from '../bpf/ringbuf.ts';
import { parseRoamEvent } from '../dataplane/codecs.ts';
import { Dataplane } from '../dataplane/dataplane.ts';
import type { Logger } from '../log.ts';
import { UserError } from '../cli/user-error.ts';
import type { AgentDataplane } from './agent.ts';
import type { NveConfig } from './config.ts';
import { agentTablesOver, learnEventOf } from './dataplane-adapter.ts';
import type { LearnEvent, TsiInfo } from './learner.ts';

/** The built objects, wherever the agent is started from. */
const OBJECTS_DIR = fileURLToPath(new URL('../../build/bpf', import.meta.url));

export class BpfDataplane implements AgentDataplane {
  readonly tables;
  private rb?: RingBuffer;

  private constructor(
    private readonly dp: Dataplane,
    private readonly log: Logger,
  ) {
    this.tables = {
      ...agentTablesOver(dp.tables),
      l3: {
        routedVnis: dp.l3.routedVnis,
        hostRoutes: dp.l3.hostRoutes,
        prefixRoutes: dp.l3.prefixRoutes,
      },
    };
  }

  /**
   * Load or adopt roam's instance for this NVE and attach it to the underlay; `netns`: the
   * namespace whose interfaces these are (the agent itself stays where bpffs is mounted).
   */
  static open(c: NveConfig, log: Logger, netns?: string): BpfDataplane {
    if (process.getuid?.() !== 0)
      throw new UserError('roam nve run needs root (CAP_BPF, CAP_NET_ADMIN); run `roam check`');
    // 1. Load the objects, or adopt the pinned instance a previous agent left.
    checkBpffs(c.pin.root);
    let dp: Dataplane;
    try {
      dp = Dataplane.loadOrAdopt({
        instance: c.pin.instance,
        pinBase: c.pin.root,
        objectsDir: OBJECTS_DIR,
        netns,
      });
    } catch (err) {
      throw new UserError(`cannot open roam's BPF dataplane: ${(err as Error).message}`);
    }
    // 2. The underlay: configuration, then its programs (fib: next hops from the kernel's tables).
    const v6 = isIP(c.underlay.address) === 6;
    dp.setUnderlay({
      ifindex: ifindexOf(c.underlay.interface, netns),
      ...(v6 ? { localIp6: c.underlay.address } : { localIp4: c.underlay.address }),
      fib: true,
    });
    // 3. The VNIs served here (decap refuses the others).
    const vnis = [...new Set(c.tsis.map((t) => t.vni))];
    dp.tables.vnis.setMany(vnis.map((vni) => [vni, { floodUnknown: false }] as const));
    // Links of TSIs that vanished while no agent ran: their pins go.
    for (const l of dp.pruneStaleLinks())
      log.info({ ifindex: l.ifindex, hook: l.hook }, 'stale TSI link removed');
    return new BpfDataplane(dp, log);
  }

  /** Remove this NVE's instance from the kernel (links, programs, maps, pins); false if none. */
  static detach(c: NveConfig, netns?: string): boolean {
    const opts = { instance: c.pin.instance, pinBase: c.pin.root, netns };
    if (!Dataplane.isLoaded(opts)) return false;
    Dataplane.adopt(opts).detach();
    return true;
  }

  attachTsi(t: TsiInfo): void {
    // Its VNI first: the program reads it on the first frame.
    // A TSI configured for one MAC: XDP installs no other announcing MAC here by itself.
    this.dp.tables.tsis.setMany([
      [t.ifindex, { vni: t.config.vni, strictSource: false, mac: t.config.mac }],
    ]);
    this.dp.attachTsi(t.ifindex);
  }

  detachTsi(ifindex: number): void {
    try {
      this.dp.detachTsi(ifindex);
    } finally {
      this.dp.tables.tsis.deleteMany([ifindex]);
    }
  }

  startEvents(handler: (ev: LearnEvent) => void): void {
    this.rb = new RingBuffer(this.dp.map('events'), (data) => {
      const ev = parseRoamEvent(data);
      if (ev) handler(learnEventOf(ev));
      else this.log.warn({ bytes: data.length }, 'malformed ring-buffer event dropped');
    });
    this.rb.start();
  }

  retunneled(): number {
    let n = 0n;
    for (const row of this.dp.stats.read()) if (row.verdict === 'retunnel') n += row.packets;
    return Number(n);
  }

  async close(): Promise<void> {
    await this.rb?.close();
    this.dp.close();
  }
}

function ifindexOf(name: string, netns?: string): number {
  const ns = netns ? ['-n', netns] : [];
  try {
    const out = execFileSync('ip', [...ns, '-j', 'link', 'show', 'dev', name], {
      encoding: 'utf8',
    });
    const [link] = JSON.parse(out) as Array<{ ifindex: number }>;
    if (link) return link.ifindex;
  } catch {
    // reported below
  }
  throw new UserError(`underlay interface ${name} not found${netns ? ` in netns ${netns}` : ''}`);
}

/**
 * Pins need bpffs. `ip netns exec` remounts /sys without it, and a bpffs mounted there would be a
 * new, empty instance that a restarted agent could not find: run the agent with --netns instead.
 */
function checkBpffs(pinRoot: string): void {
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[2] === 'bpf')
    .map((f) => f[1]!);
  if (!mounts.some((m) => pinRoot === m || pinRoot.startsWith(`${m}/`))) {
    throw new UserError(
      `no bpffs mounted over ${pinRoot} here (ip netns exec remounts /sys without it): run the agent in the host's mount namespace with --netns NAME, or mount bpffs (scripts/setup.sh)`,
    );
  }
}
