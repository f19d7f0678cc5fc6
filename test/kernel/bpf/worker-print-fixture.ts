// Child process of log.test.ts: a worker thread imports the binding (as the agent's batch writer
// does) and then blocks; the main thread then makes libbpf print. Before the print hook was kept
// to the main thread, the worker's import re-registered it on the worker, and this print waited
// forever for the blocked worker's event loop. Prints "printed" and exits when it does not hang.
import { Worker } from 'node:worker_threads';
import { BpfObject } from '../../../src/bpf/index.ts';

const boot = `
  import { register } from ${JSON.stringify(import.meta.resolve('tsx/esm/api'))};
  import { parentPort } from 'node:worker_threads';
  register();
  await import(${JSON.stringify(new URL('../../../src/bpf/map.ts', import.meta.url).href)});
  parentPort.postMessage('loaded');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); // blocked for good
`;
const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(boot)}`));
worker.unref();
await new Promise<void>((resolve) => worker.once('message', () => resolve()));
try {
  BpfObject.open('build/bpf/test/no-such.bpf.o'); // libbpf warns "failed to open ..."
} catch {
  // expected: the file does not exist; what matters is that the call returned
}
process.stdout.write('printed\n');
process.exit(0);
