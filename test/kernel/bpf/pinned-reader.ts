// Child process of pin.test.ts: opens a pinned map by path, prints the u64 under u32 key 0 as
// JSON, then writes key 1 = 4242 so the parent sees a second process's write.
import { BpfMap } from '../../../src/bpf/index.ts';

const path = process.argv[2];
if (!path) throw new Error('usage: pinned-reader.ts <pinned map path>');
const m = BpfMap.fromPinned(path);
const k0 = Buffer.alloc(4);
const v = m.lookup(k0);
const k1 = Buffer.alloc(4);
k1.writeUInt32LE(1, 0);
const w = Buffer.alloc(8);
w.writeBigUInt64LE(4242n, 0);
m.update(k1, w);
console.log(
  JSON.stringify({
    name: m.name,
    keySize: m.keySize,
    value: v?.readBigUInt64LE(0).toString() ?? null,
  }),
);
m.close();
