// Worker entry of batch-writer.ts: the agent runs its TypeScript through tsx (bin/roam.js), and a
// worker thread starts without the loader, so it registers it before loading the worker.
import { register } from 'tsx/esm/api';

register();
await import('./batch-worker.ts');
