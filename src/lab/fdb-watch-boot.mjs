// Worker entry of mobility-convergence.ts: a worker thread starts without the tsx loader that
// runs the lab's TypeScript, so it registers it before loading the watcher.
import { register } from 'tsx/esm/api';

register();
await import('./fdb-watch-worker.ts');
