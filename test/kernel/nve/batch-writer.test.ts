// The batch writer (src/nve/batch-writer.ts) on a real hash map: rows handed over in batches as
// they are encoded (RowHandOver) are written by the worker thread and by the agent's thread
// (`wait()` takes the batches the worker has not started), each batch once, all of them in the
// map afterwards; a failed batch is reported by `wait()`, whichever thread wrote it.
import { afterAll, describe, expect, it } from 'vitest';
import { BPF_MAP_TYPE, BpfMap } from '../../../src/bpf/index.ts';
import { BatchWriter } from '../../../src/nve/batch-writer.ts';
import { HAND_OVER_ROWS, PackedRows, RowHandOver } from '../../../src/nve/byte-sync.ts';

const KS = 12;
const VS = 16;

/** Rows `from`..`to`-1 appended: key i -> a value derived from i. */
function addRows(rows: PackedRows, from: number, to: number): PackedRows {
  for (let i = from; i < to; i++) {
    const r = rows.add();
    rows.keys.writeUInt32LE(i, r * KS);
    rows.keys.writeUInt32LE(0xab, r * KS + 4);
    rows.values.writeUInt32LE(i * 3 + 1, r * VS);
    rows.values.writeUInt32LE(~i >>> 0, r * VS + 12);
  }
  return rows;
}

/** `n` rows in shared memory (what a worker can write). */
const sharedRows = (n: number) => addRows(new PackedRows(KS, VS, n, true), 0, n);

/** Wait until the writer's worker has loaded (it is handed nothing before). */
async function ready(w: BatchWriter, map: BpfMap): Promise<void> {
  const one = sharedRows(1);
  for (let i = 0; i < 200; i++) {
    if (w.write(map, one.keys, one.values, 1)) {
      w.wait();
      map.deleteBatch(one.keys, 1);
      return;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('batch worker did not start within 5 s');
}

describe('BatchWriter', () => {
  const writer = new BatchWriter();
  afterAll(() => writer.close());

  it('rows handed over in batches as they come are all written, shared by the worker and this thread', async () => {
    const n = HAND_OVER_ROWS * 5 + 123;
    const map = BpfMap.create(BPF_MAP_TYPE.HASH, 'bw_all', KS, VS, n + 16);
    try {
      await ready(writer, map);
      // as a resync hands them over: whole batches while encoding, then the rest
      const rows = new PackedRows(KS, VS, 16, true);
      const hand = new RowHandOver(writer, map);
      addRows(rows, 0, HAND_OVER_ROWS * 2 + 7);
      hand.flush(rows);
      addRows(rows, HAND_OVER_ROWS * 2 + 7, n); // (the buffers grow: handed batches keep theirs)
      hand.flush(rows, true);
      writer.wait();
      const dump = map.lookupAll();
      expect(dump.count).toBe(n);
      const got = new Map<number, [number, number]>();
      for (let i = 0; i < dump.count; i++)
        got.set(dump.keys.readUInt32LE(i * KS), [
          dump.values.readUInt32LE(i * VS),
          dump.values.readUInt32LE(i * VS + 12),
        ]);
      for (const i of [0, 1, HAND_OVER_ROWS - 1, HAND_OVER_ROWS, n - 1])
        expect(got.get(i)).toEqual([i * 3 + 1, ~i >>> 0]);
    } finally {
      map.close();
    }
  });

  it('a batch that does not fit is reported by wait()', async () => {
    const n = HAND_OVER_ROWS * 2;
    const map = BpfMap.create(BPF_MAP_TYPE.HASH, 'bw_small', KS, VS, HAND_OVER_ROWS);
    try {
      await ready(writer, map);
      new RowHandOver(writer, map).flush(sharedRows(n), true);
      expect(() => writer.wait()).toThrow(/update batch/);
      // the writer is usable afterwards
      const ok = BpfMap.create(BPF_MAP_TYPE.HASH, 'bw_after', KS, VS, 64);
      try {
        new RowHandOver(writer, ok).flush(sharedRows(10), true);
        writer.wait();
        expect(ok.lookupAll().count).toBe(10);
      } finally {
        ok.close();
      }
    } finally {
      map.close();
    }
  });
});
