// A cold start's FDB rows written while the snapshot is still being decoded (issue 5: a million
// entries resynced in a second). Into empty maps the resync's FDB rows are the directory's
// entries forwarded elsewhere, each a function of the entry alone; so as the decoder finishes
// each chunk of entries (a PackedEntriesSink), their rows are made and handed to the batch
// writer, and the kernel starts inserting ~0.2 s earlier than it would after the whole decode.
// The resync then takes these rows as its FDB rows, if the directory turned out as assumed
// (every entry decoded by the fast decoder, no key twice, none overridden by local or moved VMs
// or hints); else it waits for the rows handed over and resyncs the FDB against the map read
// back, which mark and sweep corrects.
import type { FdbEntry } from './tables.ts';
import type { L3State } from './l3-state.ts';
import type { NveState } from './nve-state.ts';
import {
  STATE_WITHDRAWN,
  type PackedEntriesBuilder,
  type PackedEntriesSink,
} from '../protocol/packed-snapshot.ts';
import type { BatchWriter } from './batch-writer.ts';
import { HAND_OVER_ROWS, type PackedRows, type RowHandOver } from './byte-sync.ts';
import type { BatchMap } from './raw-table.ts';
import { l2Filter, remoteValue, RemoteRowWriter } from './packed-desired.ts';

export class ColdFdbStream implements PackedEntriesSink {
  /** Entries seen so far, and the key column they were read from (the decoder's). */
  private seen = 0;
  private keysSeen: Int32Array | undefined;
  private readonly out: RemoteRowWriter;
  /** Per NVE index of the decoder: its encoded value, or null for this NVE. */
  private readonly values: Array<Int32Array | null> = [];
  private readonly l2: (vni: number) => boolean;
  private readonly nveId: string;

  constructor(
    /** Shared memory, room for every entry (the resync's FDB rows from now on). */
    readonly rows: PackedRows,
    readonly hand: RowHandOver,
    private readonly writer: BatchWriter,
    private readonly map: BatchMap,
    private readonly encodeRemote: (v: FdbEntry, b: Buffer, o: number) => void,
    state: NveState,
    /** The snapshot's L3 overlay (not loaded into `state` yet): which VNIs get L2 rows. */
    l3: L3State,
  ) {
    this.out = new RemoteRowWriter(rows, map.valueBytes);
    this.l2 = l2Filter(state, l3);
    this.nveId = state.nveId;
  }

  decoded(b: PackedEntriesBuilder, from: number, to: number): void {
    this.keysSeen = b.keys;
    this.seen = to;
    const values = this.values;
    while (values.length < b.nves.length) {
      const n = b.nves[values.length]!;
      values.push(
        n.id === this.nveId ? null : remoteValue(this.encodeRemote, n.addr, this.map.valueBytes),
      );
    }
    const rows = this.rows;
    rows.reserve(rows.n + (to - from));
    const any6 = b.ip6.size > 0;
    const keys = b.keys;
    const state = b.state;
    const nve = b.nve;
    const l2 = this.l2;
    // (an entry forwarded elsewhere as directory-base.ts says: live, at another NVE)
    for (let i = from; i < to; i++) {
      const v = values[nve[i]!]!;
      if (v === null || state[i] === STATE_WITHDRAWN || !l2(keys[i * 3]!)) continue;
      this.out.put(b, any6, i, v);
    }
    if (rows.n - this.hand.handedRows >= HAND_OVER_ROWS) this.hand.flush(rows);
  }

  /**
   * Whether the rows are the resync's FDB rows of the directory as loaded: every entry seen
   * from the decoder's columns that became the directory, no key twice, no entry touched (its
   * row would come from the overlay: local, moved, hinted, lingering).
   */
  matches(s: NveState): boolean {
    const b = s.directory.base;
    if (!b || b.duplicates > 0 || s.touchedSlots.length > 0 || s.directory.overlay.size > 0)
      return false;
    return this.seen === 0 ? b.count === 0 : b.count === this.seen && b.p.keys === this.keysSeen;
  }

  /** Undo: wait for the rows handed over, then delete them (the map was empty before). */
  abandon(): void {
    try {
      this.writer.wait();
    } finally {
      this.map.deleteBatch(this.rows.keys, this.hand.handedRows);
    }
  }
}
