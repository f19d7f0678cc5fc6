// Prometheus metrics of the NVE agent (prom-client), on their own registry so tests and several
// agents in one process never share counters. Gauges of table sizes are read at scrape time from
// what the agent installed (no map walk); dataplane counters (retunnelled packets) come from a
// reader the agent passes in.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { LoopObserver } from './control-loop.ts';

/** Buckets of move convergence and resync times, in seconds (1 ms .. 10 s). */
const SECONDS_BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10];

export interface MetricSources {
  /** Installed entries per table name. */
  tableSizes: () => Record<string, number>;
  /** Packets the dataplane re-tunnelled to where a VM moved (all VNIs). */
  retunneled?: () => number;
}

export class NveMetrics {
  readonly registry = new Registry();
  readonly events: Counter<'outcome'>;
  readonly moves: Counter<'role' | 'cold'>;
  readonly moveConvergence: Histogram<'role'>;
  readonly reconciles: Counter<'mode'>;
  readonly reconcileSeconds: Histogram<'mode'>;
  readonly nvaConnected: Gauge;
  readonly registrations: Counter<'result'>;
  readonly digestMismatches: Counter;

  constructor(nveId: string, sources: MetricSources) {
    this.registry.setDefaultLabels({ nve: nveId });
    const registers = [this.registry];
    new Gauge({
      name: 'roam_nve_table_entries',
      help: 'Entries installed in each dataplane table',
      labelNames: ['table'],
      registers,
      collect() {
        for (const [table, n] of Object.entries(sources.tableSizes())) this.set({ table }, n);
      },
    });
    const retunneled = sources.retunneled;
    new Gauge({
      name: 'roam_nve_retunneled_packets',
      help: 'Packets re-tunnelled by this NVE to the NVE a VM moved to (dataplane counter)',
      registers,
      collect() {
        if (retunneled) this.set(retunneled());
      },
    });
    this.events = new Counter({
      name: 'roam_nve_announcements_total',
      help: 'Ring-buffer announcements (GARP, NA, RARP, new MAC) by what the agent did with them',
      labelNames: ['outcome'],
      registers,
    });
    this.moves = new Counter({
      name: 'roam_nve_moves_total',
      help: 'VM moves seen by this NVE, by its role in them',
      labelNames: ['role', 'cold'],
      registers,
    });
    this.moveConvergence = new Histogram({
      name: 'roam_nve_move_convergence_seconds',
      help: 'From the NVA recording a move to this NVE installing it',
      labelNames: ['role'],
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.reconciles = new Counter({
      name: 'roam_nve_reconciles_total',
      help: 'Reconciler passes that wrote to the tables (apply) or compared them all (resync)',
      labelNames: ['mode'],
      registers,
    });
    this.reconcileSeconds = new Histogram({
      name: 'roam_nve_reconcile_seconds',
      help: 'Time of a reconciler pass (resync: full mark and sweep)',
      labelNames: ['mode'],
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.nvaConnected = new Gauge({
      name: 'roam_nve_nva_connected',
      help: '1 while the stream to the NVA is up and synced, 0 while headless',
      registers,
    });
    this.registrations = new Counter({
      name: 'roam_nve_registrations_total',
      help: 'Registrations answered by the NVA, by result (accepted or the refusal code)',
      labelNames: ['result'],
      registers,
    });
    this.digestMismatches = new Counter({
      name: 'roam_nve_digest_mismatches_total',
      help: 'Times the NVA found this NVE tables differ from the directory',
      registers,
    });
    this.nvaConnected.set(0);
  }

  /** The control loop's hooks, feeding these metrics. */
  observer(): LoopObserver {
    return {
      reconciled: (r) => {
        this.reconciles.inc({ mode: r.mode });
        this.reconcileSeconds.observe({ mode: r.mode }, r.ms / 1000);
      },
      move: (m) => {
        this.moves.inc({ role: m.role, cold: String(m.cold) });
        if (m.convergenceMs !== undefined)
          this.moveConvergence.observe({ role: m.role }, m.convergenceMs / 1000);
      },
      learned: (outcome) => this.events.inc({ outcome }),
      connection: (up) => this.nvaConnected.set(up ? 1 : 0),
      registration: (res) => this.registrations.inc({ result: res.ok ? 'accepted' : res.code }),
      digestMismatch: () => this.digestMismatches.inc(),
    };
  }

  /** Text exposition for /metrics. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
