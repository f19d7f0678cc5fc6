// A bench's own garbage collection on demand (src/lab/instrument-gc.ts): collectGarbage() does
// nothing until controlInstrumentGc() exposes V8's gc(), then collects (an unreachable object's
// WeakRef is cleared).
import { describe, expect, it } from 'vitest';
import { collectGarbage, controlInstrumentGc } from '../../../src/lab/instrument-gc.ts';

/** A WeakRef to an object nothing else holds (made in its own function: no local keeps it). */
function orphan(): WeakRef<object> {
  return new WeakRef({ payload: new Array<number>(1000).fill(1) });
}

/** WeakRef targets stay alive until the current job ends. */
const nextJob = () => new Promise((r) => setTimeout(r, 0));

describe('instrument gc', () => {
  it('collects only once controlled', async () => {
    const before = orphan();
    await nextJob();
    collectGarbage(); // not exposed yet in this worker: a no-op, no throw
    controlInstrumentGc();
    await nextJob();
    collectGarbage();
    expect(before.deref()).toBeUndefined();
  });
});
