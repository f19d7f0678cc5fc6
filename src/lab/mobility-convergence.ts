// When did each NVE's dataplane follow a move? Polls every NVE's pinned FDB (about every ms)
// from before the move starts, and notes the wall-clock instant each one first holds what it
// should: the destination "local" on the VM's new TSI, the source "moved to D" (or already the
// plain remote entry for D after its hold time), every other NVE "remote D". Reading the maps
// themselves measures what forwards frames, not what an agent says it did.
import type { FdbEntry } from '../dataplane/codecs.ts';
import type { MobilityLab } from './mobility-lab.ts';
import type { VmNode } from './topology.ts';

/** Give up watching after this long (ms): a missing NVE is then reported as not converged. */
export const CONVERGENCE_WATCH_TIMEOUT_MS = 15_000;

/** Does NVE `i`'s entry for the VM say what it should once the VM lives at NVE `to`? */
export function fdbFollows(
  lab: MobilityLab,
  i: number,
  vm: VmNode,
  to: number,
  e: FdbEntry | undefined,
): boolean {
  if (e === undefined) return false;
  if (i === to) return e.kind === 'local' && e.ifindex === vm.tsiIfindex;
  const d = lab.nveAddr(to);
  return (e.kind === 'remote' || e.kind === 'moved') && e.nve === d;
}

export interface ConvergenceWatch {
  /** Resolves with the instant (wall-clock ms) each watched NVE converged, by NVE index. */
  done: Promise<Map<number, number>>;
  stop(): void;
}

/**
 * Start watching before the move; `to` is the destination NVE, `nves` the NVEs to watch (default
 * every NVE whose agent runs). The VM's tsiIfindex is read at each poll, so the watch may start
 * before the TSI exists at the destination.
 */
export function watchConvergence(
  lab: MobilityLab,
  vm: VmNode,
  to: number,
  nves: number[] = lab.topo.nves.map((n) => n.index).filter((i) => lab.agents[i]?.running),
): ConvergenceWatch {
  const at = new Map<number, number>();
  let stopped = false;
  const deadline = Date.now() + CONVERGENCE_WATCH_TIMEOUT_MS;
  const done = (async () => {
    while (!stopped && at.size < nves.length && Date.now() < deadline) {
      const now = performance.timeOrigin + performance.now();
      for (const i of nves) {
        // Before the VM reached `to`, the destination's check would compare a stale ifindex.
        if (at.has(i) || (i === to && vm.nve !== to)) continue;
        if (fdbFollows(lab, i, vm, to, lab.fdb(i, vm))) at.set(i, now);
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    return at;
  })();
  return {
    done,
    stop: () => {
      stopped = true;
    },
  };
}
