// Notices TSIs that appear and vanish (VM plugged in, VM gone, hot-plug) and matches them against
// the config's names and patterns. Link events come from a child `ip -o monitor link` read line by
// line (one rtnetlink listener, no FFI needed), after an initial `ip -j link show`. The monitor is
// started before the listing so that no event falls between the two; duplicates are harmless.
import { spawn, execFile } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import type { Logger } from '../log.ts';
import { findTsi, type TsiConfig } from './config.ts';
import type { TsiInfo } from './learner.ts';

const execFileP = promisify(execFile);

/** One link event: the link exists now (added or changed), or was deleted. */
export interface LinkEvent {
  type: 'present' | 'deleted';
  ifindex: number;
  name: string;
}

// "3: tap-x1@tap-p1: <...> ..." or "Deleted 3: tap-y1@NONE: <...> ...".
const MONITOR_RE = /^(Deleted )?(\d+): ([^:@\s]+)(?:@[^:\s]*)?:/;

/** Parse one line of `ip -o monitor link`; null for lines that are not link events. */
export function parseMonitorLine(line: string): LinkEvent | null {
  const m = MONITOR_RE.exec(line.trim());
  if (!m) return null;
  return { type: m[1] ? 'deleted' : 'present', ifindex: Number(m[2]), name: m[3]! };
}

/** Parse `ip -j link show` output into (ifindex, name) pairs. */
export function parseLinkList(json: string): Array<{ ifindex: number; name: string }> {
  const rows: unknown = JSON.parse(json);
  if (!Array.isArray(rows)) return [];
  return rows.flatMap((r: { ifindex?: unknown; ifname?: unknown }) =>
    typeof r.ifindex === 'number' && typeof r.ifname === 'string'
      ? [{ ifindex: r.ifindex, name: r.ifname }]
      : [],
  );
}

/** Where the watcher reads links from (the real `ip` by default; tests pass fakes). */
export interface LinkSource {
  /** Start the event stream: one line per event. */
  monitor(): { lines: Readable; stop(): void };
  /** The current links, as `ip -j link show` prints them. */
  list(): Promise<string>;
}

/** Links of this network namespace, or of the named one (`ip -n NAME`). */
export function ipLinkSource(netns?: string): LinkSource {
  const ns = netns ? ['-n', netns] : [];
  return {
    monitor() {
      // setpriv --pdeathsig: the monitor dies with the agent, even on kill -9 (an orphaned
      // `ip monitor -n NS` would also keep a deleted namespace alive).
      const child = spawn(
        'setpriv',
        ['--pdeathsig', 'KILL', 'ip', ...ns, '-o', 'monitor', 'link'],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      return { lines: child.stdout, stop: () => child.kill() };
    },
    async list() {
      return (await execFileP('ip', [...ns, '-j', 'link', 'show'])).stdout;
    },
  };
}

export interface TsiWatcherOptions {
  tsis: ReadonlyArray<TsiConfig>;
  up: (t: TsiInfo) => void;
  down: (ifindex: number, name: string) => void;
  log: Logger;
  source?: LinkSource;
}

export class TsiWatcher {
  private readonly known = new Map<number, TsiInfo>();
  private stopMonitor?: () => void;

  constructor(private readonly o: TsiWatcherOptions) {}

  /** Start watching; resolves once the TSIs present now have been reported. */
  async start(): Promise<void> {
    const src = this.o.source ?? ipLinkSource();
    const mon = src.monitor();
    this.stopMonitor = mon.stop;
    const rl = createInterface({ input: mon.lines });
    rl.on('line', (line) => {
      const ev = parseMonitorLine(line);
      if (ev) this.handle(ev);
    });
    for (const l of parseLinkList(await src.list())) this.handle({ type: 'present', ...l });
  }

  stop(): void {
    this.stopMonitor?.();
    this.stopMonitor = undefined;
  }

  /** The TSIs present now. */
  present(): TsiInfo[] {
    return [...this.known.values()];
  }

  /** Apply one link event (exported for tests through the LinkSource). */
  handle(ev: LinkEvent): void {
    const known = this.known.get(ev.ifindex);
    if (ev.type === 'deleted') {
      if (known) this.gone(known);
      return;
    }
    if (known && known.name === ev.name) return;
    // A rename is the old TSI leaving and, if the new name matches, a new one arriving.
    if (known) this.gone(known);
    const config = findTsi(this.o.tsis, ev.name);
    if (!config) return;
    const t: TsiInfo = { name: ev.name, ifindex: ev.ifindex, config };
    this.known.set(ev.ifindex, t);
    this.o.log.debug({ tsi: ev.name, ifindex: ev.ifindex, vni: config.vni }, 'TSI present');
    this.o.up(t);
  }

  private gone(t: TsiInfo): void {
    this.known.delete(t.ifindex);
    this.o.down(t.ifindex, t.name);
  }
}
