// Writes big batches into BPF maps from a worker thread while the agent's thread goes on (issue 5:
// a cold resync writes a million FDB and neighbour entries; the kernel's hash inserts are
// most of that time and maps can be written from two threads at once). The agent's thread hands
// over batches whose buffers live in shared memory (in chunks, as it encodes them), keeps working,
// and `wait()` then writes itself the batches the worker has not started yet, last first, while
// the worker goes on from the first: both threads end within a chunk of each other whatever else
// the machine runs, and the resync stays synchronous. Each batch is claimed by one thread.
import { Worker } from 'node:worker_threads';
import { BpfError } from '../bpf/errors.ts';
import type { BatchMap } from './raw-table.ts';

/** What the worker is asked to write (buffers in shared memory). */
export interface BatchJob {
  fd: number;
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  keys: SharedArrayBuffer;
  keyOffset: number;
  values: SharedArrayBuffer;
  valueOffset: number;
  count: number;
  /** Int32 words: batches done, first errno, worker ready. */
  status: SharedArrayBuffer;
  /** One Int32 word: 0 until a thread takes the batch (compare-and-exchange to 1). */
  claim: SharedArrayBuffer;
}

/** A batch handed over, as the agent's thread would write it itself. */
interface Handed {
  map: BatchMap;
  keys: Buffer;
  values: Buffer;
  count: number;
  claim: Int32Array;
}

/** A map a worker can write: a real BPF map (its fd is valid in every thread of the process). */
export type SharedFdMap = BatchMap & { readonly fd: number; readonly type: number };

export function hasFd(m: BatchMap): m is SharedFdMap {
  return typeof (m as { fd?: unknown }).fd === 'number';
}

/** A handed-over batch not done this long means the worker is gone: the resync fails loudly. */
export const BATCH_WAIT_MAX_MS = 60_000;

/** A view of `b` when its memory is shared (SharedArrayBuffer), else undefined. */
function shared(b: Buffer): SharedArrayBuffer | undefined {
  return b.buffer instanceof SharedArrayBuffer ? b.buffer : undefined;
}

export class BatchWriter {
  private readonly worker: Worker;
  private readonly statusBuf = new SharedArrayBuffer(12);
  private readonly status = new Int32Array(this.statusBuf);
  /** Batches handed over, and of those the ones this thread wrote itself (since the start). */
  private posted = 0;
  private selfWritten = 0;
  private handed: Handed[] = [];

  constructor() {
    this.worker = new Worker(new URL('./batch-worker-boot.mjs', import.meta.url), {
      workerData: this.statusBuf,
    });
    // never what keeps the agent alive
    this.worker.unref();
  }

  /** The worker has loaded: batches handed over from now on are its to write. */
  get ready(): boolean {
    return Atomics.load(this.status, 2) === 1;
  }

  /**
   * Write `count` rows into `map` from the worker, if their buffers are shared; returns false
   * (nothing done) when they are not: then the caller writes them itself.
   */
  write(map: BatchMap, keys: Buffer, values: Buffer, count: number): boolean {
    const k = shared(keys);
    const v = shared(values);
    // (not before the worker has loaded: its thread starts without the agent waiting for it)
    if (!k || !v || !hasFd(map) || count === 0 || !this.ready) return false;
    const claim = new SharedArrayBuffer(4);
    const job: BatchJob = {
      fd: map.fd,
      name: map.name,
      type: map.type,
      keySize: map.keySize,
      valueSize: map.valueBytes,
      keys: k,
      keyOffset: keys.byteOffset,
      values: v,
      valueOffset: values.byteOffset,
      count,
      status: this.statusBuf,
      claim,
    };
    this.handed.push({ map, keys, values, count, claim: new Int32Array(claim) });
    this.worker.postMessage(job);
    this.posted++;
    return true;
  }

  /**
   * Write the handed-over batches the worker has not taken yet, last first, then block until
   * the worker's are written too; throws the first failure.
   */
  wait(): void {
    let failure: unknown;
    for (let i = this.handed.length - 1; i >= 0; i--) {
      const h = this.handed[i]!;
      if (Atomics.compareExchange(h.claim, 0, 0, 1) !== 0) continue;
      this.selfWritten++;
      try {
        h.map.updateBatch(h.keys, h.values, h.count);
      } catch (err) {
        failure ??= err;
      }
    }
    this.handed = [];
    const deadline = Date.now() + BATCH_WAIT_MAX_MS;
    for (;;) {
      const done = Atomics.load(this.status, 0);
      if (done >= this.posted - this.selfWritten) break;
      if (Date.now() > deadline)
        throw new BpfError(
          'update batch',
          'a map (worker)',
          62,
          'the batch writer stopped answering',
        );
      Atomics.wait(this.status, 0, done, 1000);
    }
    const errno = Atomics.exchange(this.status, 1, 0);
    if (failure !== undefined) throw failure;
    if (errno !== 0) throw new BpfError('update batch', 'a map (worker)', errno);
  }

  close(): void {
    void this.worker.terminate();
  }
}
