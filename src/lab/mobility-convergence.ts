// When did each NVE's dataplane follow a move? A worker thread (fdb-watch-worker.ts) polls every
// NVE's pinned FDB entry for the VM (every 0.5 ms) from before the move starts and records each
// change with the instant it saw it; the instant an NVE converged is the first record where it
// holds what it should: the destination "local" on the VM's new TSI, the source "moved to D" (or
// already the plain remote entry for D after its hold time), every other NVE "remote D". Reading
// the maps themselves measures what forwards frames, not what an agent says it did; reading them
// off the lab's thread keeps the lab's own blocking calls (execFileSync of `ip` and `nft` during a
// move: 5-25 ms on a loaded machine) out of the figure.
import { Worker } from 'node:worker_threads';
import { fdbEntry, fdbKey, type FdbEntry } from '../dataplane/codecs.ts';
import {
  CONTROL_ID,
  CONTROL_STATE,
  WATCH_IDLE,
  WATCH_RUN,
  type FdbWatchJob,
  type FdbWatchMessage,
  type FdbWatchRecord,
} from './fdb-watch-protocol.ts';
import type { MobilityLab } from './mobility-lab.ts';
import type { VmNode } from './topology.ts';

/** Give up watching after this long (ms): a missing NVE is then reported as not converged. */
export const CONVERGENCE_WATCH_TIMEOUT_MS = 15_000;
/** How often the watcher reads each NVE's entry (ms). */
export const CONVERGENCE_POLL_MS = 0.5;
/** How often the lab's thread looks at what the watcher recorded (ms). */
const EVALUATE_MS = 5;

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
 * The first instant each NVE's records show it following the move. Evaluated against the VM as it
 * is now: the destination's new TSI (its ifindex is new, so an older record cannot match it).
 */
export function convergedAt(
  lab: MobilityLab,
  vm: VmNode,
  to: number,
  records: readonly FdbWatchRecord[],
): Map<number, number> {
  const at = new Map<number, number>();
  for (const r of records) {
    if (at.has(r.nve) || (r.nve === to && vm.nve !== to)) continue;
    const e = r.value === null ? undefined : fdbEntry.decode(Buffer.from(r.value), 0);
    if (fdbFollows(lab, r.nve, vm, to, e)) at.set(r.nve, r.atMs);
  }
  return at;
}

/** The process's watcher thread (one watch at a time), started on first use. */
class Watcher {
  private readonly control = new Int32Array(new SharedArrayBuffer(8));
  private readonly worker: Worker;
  private readonly ready: Promise<void>;
  private nextId = 1;
  private active: { id: number; onMessage: (m: FdbWatchMessage) => void } | undefined;

  constructor() {
    this.worker = new Worker(new URL('./fdb-watch-boot.mjs', import.meta.url), {
      workerData: this.control.buffer,
      // the worker closes the map fds it opened through the bpf syscalls, not through fs
      trackUnmanagedFds: false,
    });
    this.ready = new Promise((resolve, reject) => {
      this.worker.on('message', (m: FdbWatchMessage) => {
        if (m.type === 'ready') {
          this.worker.unref();
          resolve();
        } else if (this.active && 'id' in m && m.id === this.active.id) this.active.onMessage(m);
      });
      const gone = (why: string) => {
        reject(new Error(why));
        // a watch under way ends (with no more records); the next watch starts a new thread
        if (watcher === this) watcher = undefined;
        const a = this.active;
        if (a) a.onMessage({ type: 'ended', id: a.id, error: why });
      };
      this.worker.once('error', (err) => gone(`watcher thread failed: ${String(err)}`));
      this.worker.once('exit', (code) => gone(`watcher thread exited (${code})`));
    });
    // Referenced (a 'message' listener refs it) only while it loads or watches: an idle watcher
    // never keeps a bench or a test alive.
    this.worker.ref();
  }

  /** Start polling; resolves once the first round of reads is done. */
  async start(
    job: Omit<FdbWatchJob, 'id'>,
    onRecord: (r: FdbWatchRecord) => void,
  ): Promise<{ ended: Promise<void>; stop: () => void }> {
    await this.ready;
    if (this.active) throw new Error('one convergence watch at a time');
    const id = this.nextId++;
    let started!: () => void;
    let ended!: () => void;
    let failed!: (err: Error) => void;
    const startedP = new Promise<void>((resolve, reject) => {
      started = resolve;
      failed = reject;
    });
    const endedP = new Promise<void>((resolve) => (ended = resolve));
    this.active = {
      id,
      onMessage: (m) => {
        if (m.type === 'record') onRecord(m.record);
        else if (m.type === 'started') started();
        else if (m.type === 'ended') {
          this.active = undefined;
          ended();
          failed(new Error(`convergence watch failed: ${m.error ?? 'ended before it started'}`));
        }
      },
    };
    this.worker.ref();
    void endedP.then(() => this.worker.unref());
    this.worker.postMessage({ ...job, id } satisfies FdbWatchJob);
    Atomics.store(this.control, CONTROL_ID, id);
    Atomics.store(this.control, CONTROL_STATE, WATCH_RUN);
    Atomics.notify(this.control, CONTROL_STATE);
    const stop = () => {
      if (Atomics.load(this.control, CONTROL_ID) !== id) return;
      Atomics.store(this.control, CONTROL_STATE, WATCH_IDLE);
      Atomics.notify(this.control, CONTROL_STATE);
    };
    try {
      await startedP;
    } catch (err) {
      stop();
      throw err;
    }
    return { ended: endedP, stop };
  }
}

let watcher: Watcher | undefined;

/**
 * Start watching before the move (resolves once the watcher reads the maps); `to` is the
 * destination NVE, `nves` the NVEs to watch (default every NVE whose agent runs). The watch may
 * start before the TSI exists at the destination. One watch at a time per process.
 */
export async function watchConvergence(
  lab: MobilityLab,
  vm: VmNode,
  to: number,
  nves: number[] = lab.topo.nves.map((n) => n.index).filter((i) => lab.agents[i]?.running),
): Promise<ConvergenceWatch> {
  const key = Buffer.alloc(fdbKey.size);
  fdbKey.encode({ vni: vm.vni, mac: vm.mac }, key, 0);
  const records: FdbWatchRecord[] = [];
  watcher ??= new Watcher();
  const w = await watcher.start(
    {
      maps: nves.map((nve) => ({ nve, path: lab.layout(nve).map('fdb') })),
      key,
      intervalMs: CONVERGENCE_POLL_MS,
    },
    (r) => records.push(r),
  );
  let stopped = false;
  const deadline = Date.now() + CONVERGENCE_WATCH_TIMEOUT_MS;
  const done = (async () => {
    try {
      for (;;) {
        const at = convergedAt(lab, vm, to, records);
        if (stopped || at.size >= nves.length || Date.now() >= deadline) return at;
        await new Promise((r) => setTimeout(r, EVALUATE_MS));
      }
    } finally {
      w.stop();
      await w.ended;
    }
  })();
  return {
    done,
    stop: () => {
      stopped = true;
    },
  };
}
