// Judges anchored addresses idle (docs/l3.md, issue 6 item 4). The VM's NVE installs the local
// host route of each anchored (old) address with F_ROUTE_ANCHOR; every lookup of it, from the
// old subnet's traffic re-tunnelled by the anchor NVE or from a VM here, sets F_ROUTE_USED. Each
// check reads the bit and clears it; an address not used for the whole idle time is reported to
// the NVA, which releases the anchor (and every NVE drops the route).
import type { RouteEntry, RouteKey } from '../dataplane/l3-codecs.ts';
import type { Table } from '../dataplane/table.ts';
import { routeId } from './l3-state.ts';

/** Default idle time of an anchored address. */
export const DEFAULT_ANCHOR_IDLE_MS = 300_000;

export interface AnchorIdleOptions {
  /** The host routes as installed (the agent's view: which are anchors here). */
  installed: () => Iterable<readonly [RouteKey, RouteEntry]>;
  /** The kernel's table, read for the used bit and written to clear it. */
  table: Table<RouteKey, RouteEntry>;
  idleMs: number;
  now?: () => number;
  /** Ask the NVA to release (vni, mac)'s anchor of `ip`; resolves true when it did. */
  release: (k: { vni: number; mac: string; ip: string }) => Promise<boolean>;
}

export class AnchorIdleMonitor {
  /** Route id -> last time the address was seen in use (or first seen here). */
  private readonly lastUsed = new Map<string, number>();
  private readonly releasing = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly o: AnchorIdleOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Check every idleMs / 4 (at most every 10 s). */
  start(): void {
    const every = Math.max(50, Math.min(10_000, Math.floor(this.o.idleMs / 4)));
    this.timer = setInterval(() => this.check(), every);
    this.timer.unref?.();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One pass: refresh the use of every anchored route here; report those idle too long. */
  check(): void {
    const now = this.now();
    const seen = new Set<string>();
    const clear: Array<readonly [RouteKey, RouteEntry]> = [];
    for (const [k, v] of this.o.installed()) {
      if (v.kind !== 'local' || !v.anchor) continue;
      const id = routeId(k);
      seen.add(id);
      const live = this.o.table.get(k);
      if (live?.kind === 'local' && live.used) {
        this.lastUsed.set(id, now);
        const { used: _seen, ...cleared } = live;
        clear.push([k, cleared]);
        continue;
      }
      const last = this.lastUsed.get(id);
      if (last === undefined) this.lastUsed.set(id, now);
      else if (now - last >= this.o.idleMs && !this.releasing.has(id)) {
        this.releasing.add(id);
        void this.o
          .release({ vni: v.vni, mac: v.mac, ip: k.ip })
          .catch(() => false)
          .finally(() => this.releasing.delete(id));
      }
    }
    if (clear.length > 0) this.o.table.setMany(clear);
    for (const id of this.lastUsed.keys()) if (!seen.has(id)) this.lastUsed.delete(id);
  }
}
