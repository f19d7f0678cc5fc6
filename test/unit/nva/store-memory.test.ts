import { MemoryStore } from '../../../src/nva/store-memory.ts';
import { storeContract } from './store-contract.ts';

storeContract('memory', async (opts) => new MemoryStore(opts));
