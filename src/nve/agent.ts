// The NVE agent: wires the control loop to the host. In one fixed order: metrics endpoint, TSI
// watcher (the TSIs present now are attached first, so re-adoption sees them), control loop
// (adopts the installed tables, then connects to the NVA), ring-buffer events. Stopping leaves
// the dataplane as it is: maps and links stay pinned, traffic keeps flowing, and the next agent
// re-adopts them.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { Logger } from '../log.ts';
import { UserError } from '../cli/user-error.ts';
import type { NveConfig } from './config.ts';
import { ControlLoop } from './control-loop.ts';
import type { LearnEvent, TsiInfo } from './learner.ts';
import { NveMetrics } from './metrics.ts';
import { NvaClientPort } from './nva-adapter.ts';
import type { NvaPort } from './nva-port.ts';
import { memoryTables, type AgentTables } from './tables.ts';
import { ipLinkSource, TsiWatcher, type LinkSource } from './tsi-watcher.ts';

/** What the agent needs from the dataplane (the BPF one, or in-memory tables for a dry run). */
export interface AgentDataplane {
  tables: AgentTables;
  /** Attach roam's TSI program to an interface of a VN (idempotent). */
  attachTsi(t: TsiInfo): void | Promise<void>;
  /** The interface is gone (or no longer a TSI): forget it. */
  detachTsi(ifindex: number): void | Promise<void>;
  /** Deliver ring-buffer announcements to `handler` until close(). */
  startEvents(handler: (ev: LearnEvent) => void): void;
  /** Packets re-tunnelled to where a VM moved (dataplane counter), if available. */
  retunneled?(): number;
  /** Stop reading events; pinned maps and links stay. */
  close(): Promise<void>;
}

/** In-memory tables and no events: `roam nve run --dry-run`, and tests. */
export function memoryDataplane(): AgentDataplane & { emit?: (ev: LearnEvent) => void } {
  const dp: AgentDataplane & { emit?: (ev: LearnEvent) => void } = {
    tables: memoryTables(),
    attachTsi: () => undefined,
    detachTsi: () => undefined,
    startEvents: (h) => {
      dp.emit = h;
    },
    close: () => Promise.resolve(),
  };
  return dp;
}

export interface AgentOptions {
  config: NveConfig;
  dataplane: AgentDataplane;
  log: Logger;
  /** The NVA connection; by default the real client to config.nva with the token file's token. */
  nva?: NvaPort;
  /** Where link events come from (default: `ip monitor` in `netns`, or here). */
  linkSource?: LinkSource;
  /** The network namespace whose interfaces are the TSIs and the underlay (default: ours). */
  netns?: string;
}

export class NveAgent {
  readonly loop: ControlLoop;
  readonly metrics: NveMetrics;
  private readonly watcher: TsiWatcher;
  private http?: Server;

  constructor(private readonly o: AgentOptions) {
    const c = o.config;
    const dp = o.dataplane;
    this.metrics = new NveMetrics(c.id, {
      tableSizes: () => {
        const r = this.loop.reconciler;
        return {
          fdb: r.fdb.installedCount,
          neigh: r.neigh.installedCount,
          flood: r.flood.installedCount,
          peers: r.peers.installedCount,
          // the L3 overlay (docs/l3.md)
          routed_vnis: r.routedVnis?.installedCount ?? 0,
          host_routes: r.hostRoutes?.installedCount ?? 0,
          prefix_routes: r.prefixRoutes?.installedCount ?? 0,
          moved: this.loop.state.moved.size,
          local: this.loop.state.locals.size,
        };
      },
      retunneled: dp.retunneled ? () => dp.retunneled!() : undefined,
    });
    this.loop = new ControlLoop({
      nveId: c.id,
      underlayAddr: c.underlay.address,
      holdTimeMs: c.holdTimeMs,
      tables: dp.tables,
      nva: o.nva ?? defaultNvaPort(c),
      log: o.log,
      observer: this.metrics.observer(),
      servedVnis: servedVnis(c),
      anchorIdleMs: c.anchorIdleMs,
      warmUp: true,
    });
    this.watcher = new TsiWatcher({
      tsis: c.tsis,
      log: o.log,
      source: o.linkSource ?? ipLinkSource(o.netns),
      up: (t) => void this.tsiUp(t),
      down: (ifindex) => void this.tsiDown(ifindex),
    });
  }

  /** Start everything, in the fixed order of the header comment. */
  async start(): Promise<void> {
    // 1. Metrics first, so a scrape sees the agent come up.
    if (this.o.config.metrics)
      this.http = await serveMetrics(this.metrics, this.o.config.metrics.listen);
    // 2. TSIs present now: attached and known before the loop adopts the installed tables.
    await this.watcher.start();
    // 3. Adopt what is installed (nothing written), then connect to the NVA.
    this.loop.start();
    // 4. Announcements from the dataplane.
    this.o.dataplane.startEvents((ev) => this.loop.event(ev));
    this.o.log.info(
      {
        nve: this.o.config.id,
        tsis: this.loop.tsiList().length,
        underlay: this.o.config.underlay.address,
      },
      'NVE agent running',
    );
  }

  /** Stop; the dataplane keeps forwarding on what is installed. */
  async stop(): Promise<void> {
    this.watcher.stop();
    this.loop.stop();
    await this.o.dataplane.close();
    await new Promise<void>((r) => (this.http ? this.http.close(() => r()) : r()));
  }

  /** Where metrics are served (host:port actually bound), if they are. */
  metricsAddress(): string | undefined {
    const a = this.http?.address();
    return a && typeof a === 'object'
      ? `${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`
      : undefined;
  }

  private async tsiUp(t: TsiInfo): Promise<void> {
    try {
      await this.o.dataplane.attachTsi(t);
      this.loop.tsiUp(t);
    } catch (err) {
      this.o.log.error({ err, tsi: t.name }, 'cannot attach to TSI');
    }
  }

  private async tsiDown(ifindex: number): Promise<void> {
    this.loop.tsiDown(ifindex);
    try {
      await this.o.dataplane.detachTsi(ifindex);
    } catch (err) {
      this.o.log.warn({ err, ifindex }, 'cannot detach from TSI');
    }
  }
}

/** The token file holds one line: this NVE's bearer token. */
export function readToken(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UserError(
      `cannot read the NVA token file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  const token = text.trim();
  if (!token) throw new UserError(`the NVA token file ${path} is empty`);
  return token;
}

function defaultNvaPort(c: NveConfig): NvaPort {
  return new NvaClientPort({
    address: c.nva.endpoint,
    nveId: c.id,
    underlayAddr: c.underlay.address,
    vnis: servedVnis(c),
    token: readToken(c.nva.tokenFile),
    tlsCa: c.nva.caFile ? readFileSync(c.nva.caFile) : undefined,
  });
}

/** /metrics (Prometheus text) and /healthz on host:port. */
async function serveMetrics(m: NveMetrics, listen: string): Promise<Server> {
  const colon = listen.lastIndexOf(':');
  const host = listen.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = Number(listen.slice(colon + 1));
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      m.text().then(
        (body) => {
          res.writeHead(200, { 'content-type': m.registry.contentType });
          res.end(body);
        },
        (err: unknown) => {
          res.writeHead(500);
          res.end(String(err));
        },
      );
    } else if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new UserError(`cannot serve metrics on ${listen}: ${err.code ?? err.message}`)),
    );
    server.listen(port, host, () => resolve());
  });
  return server;
}

/** The VNIs of this NVE's TSIs: what it serves (and says in its Hello). */
function servedVnis(c: NveConfig): number[] {
  return [...new Set(c.tsis.map((t) => t.vni))].sort((a, b) => a - b);
}
