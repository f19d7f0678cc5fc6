// The worker side of batch-writer.ts: writes the batches it is handed into their maps (by fd,
// shared with the agent's thread) and counts each one done in the shared status words; a batch
// the agent's thread has claimed (it writes it itself) is skipped, not counted.
import { parentPort, workerData } from 'node:worker_threads';
import { BpfError } from '../bpf/errors.ts';
import { BpfMap } from '../bpf/map.ts';
import type { BatchJob } from './batch-writer.ts';

// loaded: the agent's thread may hand batches over from now on
Atomics.store(new Int32Array(workerData as SharedArrayBuffer), 2, 1);

parentPort!.on('message', (job: BatchJob) => {
  const status = new Int32Array(job.status);
  if (Atomics.compareExchange(new Int32Array(job.claim), 0, 0, 1) !== 0) return;
  try {
    const map = new BpfMap(
      job.fd,
      {
        name: job.name,
        type: job.type,
        keySize: job.keySize,
        valueSize: job.valueSize,
        maxEntries: 0,
      },
      false,
    );
    map.updateBatch(
      Buffer.from(job.keys, job.keyOffset, job.count * job.keySize),
      Buffer.from(job.values, job.valueOffset, job.count * job.valueSize),
      job.count,
    );
  } catch (err) {
    // the first failure is what the agent's thread reports
    Atomics.compareExchange(status, 1, 0, err instanceof BpfError ? err.errno || 5 : 5);
  }
  Atomics.add(status, 0, 1);
  Atomics.notify(status, 0);
});
