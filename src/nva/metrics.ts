// Prometheus metrics of one NVA process (prom-client, one registry per server so tests can run
// several servers in one process). Names follow Prometheus conventions: roam_nva_* with units.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface NvaMetrics {
  registry: Registry;
  /** Registrations/withdrawals by outcome (new, moved, unchanged, ... or a reject code). */
  registrations: Counter<'kind' | 'outcome'>;
  /** Messages refused before reaching the directory (malformed, oversized, unauthenticated). */
  refused: Counter<'reason'>;
  /** Snapshots sent, by why (hello, too_old, slow_peer, digest_mismatch). */
  snapshots: Counter<'reason'>;
  changesSent: Counter;
  connectedNves: Gauge;
  revision: Gauge;
  duplicates: Counter;
  convergence: Histogram;
  convergenceExpired: Gauge;
}

/** Buckets (seconds) for convergence time: 0.5 ms .. 10 s. */
const CONVERGENCE_BUCKETS_S = [
  0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10,
];

export function createMetrics(opts: { defaultMetrics?: boolean } = {}): NvaMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics) collectDefaultMetrics({ register: registry });
  const r = [registry];
  return {
    registry,
    registrations: new Counter({
      name: 'roam_nva_registrations_total',
      help: 'NVE registrations and withdrawals, by kind and outcome or reject code',
      labelNames: ['kind', 'outcome'],
      registers: r,
    }),
    refused: new Counter({
      name: 'roam_nva_refused_messages_total',
      help: 'NVE messages refused before reaching the directory, by reason',
      labelNames: ['reason'],
      registers: r,
    }),
    snapshots: new Counter({
      name: 'roam_nva_snapshots_sent_total',
      help: 'Snapshots sent to NVEs, by cause',
      labelNames: ['reason'],
      registers: r,
    }),
    changesSent: new Counter({
      name: 'roam_nva_change_messages_sent_total',
      help: 'Change messages sent to NVEs',
      registers: r,
    }),
    connectedNves: new Gauge({
      name: 'roam_nva_connected_nves',
      help: 'NVEs with an open stream to this NVA',
      registers: r,
    }),
    revision: new Gauge({
      name: 'roam_nva_revision',
      help: 'Latest directory revision seen by this NVA',
      registers: r,
    }),
    duplicates: new Counter({
      name: 'roam_nva_duplicates_detected_total',
      help: 'MACs frozen as duplicate (moved too often)',
      registers: r,
    }),
    convergence: new Histogram({
      name: 'roam_nva_convergence_seconds',
      help: 'Registration at the NVA to the last NVE of the VN acknowledging it',
      buckets: CONVERGENCE_BUCKETS_S,
      registers: r,
    }),
    convergenceExpired: new Gauge({
      name: 'roam_nva_convergence_expired',
      help: 'Changes that some NVE never acknowledged in time',
      registers: r,
    }),
  };
}
