// The agent's dataplane on a real host: roam's BPF programs through the Dataplane class
// (src/dataplane/dataplane.ts). In one fixed order: load the objects or adopt the pinned instance
// (a restarted agent: traffic never stops), write the underlay configuration and attach the
// underlay programs, declare the VNIs this NVE serves; per TSI: its VNI in `tsis`, then the TSI
// programs; the ring buffer last. close() releases this process's handles and leaves every pin.
import { execFileSync } from 'node:child_process';
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
    this.tables = agentTablesOver(dp.tables);
  }

  /** Load or adopt roam's instance for this NVE and attach it to the underlay. */
  static open(c: NveConfig, log: Logger): BpfDataplane {
    if (process.getuid?.() !== 0)
      throw new UserError('roam nve run needs root (CAP_BPF, CAP_NET_ADMIN); run `roam check`');
    // 1. Load the objects, or adopt the pinned instance a previous agent left.
    let dp: Dataplane;
    try {
      dp = Dataplane.loadOrAdopt({
        instance: c.pin.instance,
        pinBase: c.pin.root,
        objectsDir: OBJECTS_DIR,
      });
    } catch (err) {
      throw new UserError(`cannot open roam's BPF dataplane: ${(err as Error).message}`);
    }
    // 2. The underlay: configuration, then its programs (fib: next hops from the kernel's tables).
    const v6 = isIP(c.underlay.address) === 6;
    dp.setUnderlay({
      ifindex: ifindexOf(c.underlay.interface),
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

  attachTsi(t: TsiInfo): void {
    // Its VNI first: the program reads it on the first frame.
    this.dp.tables.tsis.setMany([[t.ifindex, { vni: t.config.vni, strictSource: false }]]);
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

function ifindexOf(name: string): number {
  try {
    const [link] = JSON.parse(
      execFileSync('ip', ['-j', 'link', 'show', 'dev', name], { encoding: 'utf8' }),
    ) as Array<{
      ifindex: number;
    }>;
    if (link) return link.ifindex;
  } catch {
    // reported below
  }
  throw new UserError(`underlay interface ${name} not found`);
}
