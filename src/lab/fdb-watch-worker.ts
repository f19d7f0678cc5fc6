// The worker side of mobility-convergence.ts: polls one FDB key in several NVEs' pinned maps and
// posts every change it sees with the instant it saw it. It runs on its own thread so that
// whatever blocks the lab's thread (execFileSync of `ip`/`nft`, a child's spawn, gRPC) cannot
// delay the instant recorded: the lab's thread only reads the records later. One worker serves
// the watches of a process one after another: started once (tsx takes ~0.3 s to load it), it
// sleeps on the control word between watches.
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { setPriority } from 'node:os';
import { fdbEntry } from '../dataplane/codecs.ts';
// libbpf's syscall wrappers only: a lookup per poll needs nothing else of the binding (and
// libbpf's print hook stays the lab thread's: src/bpf/log.ts installs it on the main thread only).
import { bpf_map_lookup_elem, bpf_obj_get, c_close, libc } from '../bpf/libbpf.ts';
import {
  CONTROL_ID,
  CONTROL_STATE,
  WATCH_IDLE,
  WATCH_RUN,
  type FdbWatchJob,
  type FdbWatchMessage,
} from './fdb-watch-protocol.ts';
import { collectGarbage } from './instrument-gc.ts';

/** How long the idle worker sleeps between looks at the control word (bounds its exit). */
const IDLE_WAIT_MS = 100;

/**
 * The watcher is the instrument: its thread runs real-time (SCHED_FIFO, lowest priority; root
 * only), so that the CPU queue delays what it measures rather than its reading. At nice -10 (what
 * it had before) traces of bench:move still showed its wake-ups inside the moves 0.9 ms late at
 * p90 and 3.1 ms at p99 (up to 3.7 ms) behind the agents and the stream on 2 cores, and a map
 * written meanwhile was recorded that much later. It polls no more than before (a lookup of a
 * few NVEs every 0.5 ms); the kernel's real-time throttling bounds it anyway.
 */
const SCHED_FIFO = 1;
const WATCHER_RT_PRIORITY = 1;
/** If real-time is refused: at least ahead of normal processes. */
const WATCHER_NICE = -10;

const gettid = libc.func('int gettid(void)') as () => number;
const schedSetscheduler = libc.func(
  'int sched_setscheduler(int pid, int policy, const int *param)',
) as (pid: number, policy: number, param: Int32Array) => number;
if (schedSetscheduler(gettid(), SCHED_FIFO, Int32Array.of(WATCHER_RT_PRIORITY)) !== 0) {
  try {
    // setpriority() of a thread id sets that thread's nice level only (Linux)
    setPriority(gettid(), WATCHER_NICE);
  } catch {
    // not allowed: normal priority
  }
}

const port = parentPort!;
const control = new Int32Array(workerData as SharedArrayBuffer);
const now = () => performance.timeOrigin + performance.now();
const post = (m: FdbWatchMessage) => port.postMessage(m);

function run(job: FdbWatchJob): void {
  const key = Buffer.from(job.key);
  const watched: Array<{ nve: number; fd: number; buf: Buffer; last?: Buffer | null }> = [];
  try {
    for (const { nve, path } of job.maps) {
      const fd = bpf_obj_get(path);
      if (fd < 0) throw new Error(`cannot open the map pinned at ${path} (${-fd})`);
      watched.push({ nve, fd, buf: Buffer.alloc(fdbEntry.size) });
    }
    // before the move starts: a collection of this thread's heap then is not one during it
    collectGarbage();
    let first = true;
    while (Atomics.load(control, CONTROL_STATE) === WATCH_RUN) {
      for (const w of watched) {
        const at = now();
        const value = bpf_map_lookup_elem(w.fd, key, w.buf) === 0 ? w.buf : null;
        const same = value === null ? w.last === null : !!w.last && value.equals(w.last);
        if (same) continue;
        w.last = value === null ? null : Buffer.from(value);
        post({ type: 'record', id: job.id, record: { nve: w.nve, atMs: at, value: w.last } });
      }
      if (first) post({ type: 'started', id: job.id });
      first = false;
      Atomics.wait(control, CONTROL_STATE, WATCH_RUN, job.intervalMs);
    }
    post({ type: 'ended', id: job.id });
  } catch (err) {
    post({ type: 'ended', id: job.id, error: String(err) });
  } finally {
    for (const w of watched) c_close(w.fd);
  }
}

post({ type: 'ready' });
for (;;) {
  Atomics.wait(control, CONTROL_STATE, WATCH_IDLE, IDLE_WAIT_MS);
  if (Atomics.load(control, CONTROL_STATE) !== WATCH_RUN) continue;
  // the job posted for this id (one ended before it was read is skipped)
  const id = Atomics.load(control, CONTROL_ID);
  for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
    const job = m.message as FdbWatchJob;
    if (job.id === id) {
      run(job);
      break;
    }
  }
}
