// Keeps one dataplane table equal to a desired set of entries, with batched writes. It remembers
// what it installed (a shadow copy) so an incremental update costs only the keys that changed,
// and a resync re-reads the real table so drift made behind the agent's back is repaired too.
//
// A table over a BPF map (one with a `raw` view, raw-table.ts) takes the byte path instead
// (byte-sync.ts): same semantics, no object per entry, which is what makes a resync of a million
// entries affordable.
import { hasFd } from './batch-writer.ts';
import { ByteSync, type Offload, type PackedRows, type RowHandOver } from './byte-sync.ts';
import type { AgentTable, BatchMap } from './raw-table.ts';

/** What one sync pass wrote. */
export interface SyncCounts {
  set: number;
  deleted: number;
  unchanged: number;
}

/** One installed entry; `mark` is the resync pass that last found it desired. */
interface Row<K, V> {
  k: K;
  v: V;
  mark: number;
}

export class TableSync<K, V> {
  /** What this agent believes is installed, by key identity. */
  private shadow = new Map<string, Row<K, V>>();
  private pass = 0;
  /** The byte path, for a table with a raw view when the key of an id can be rebuilt. */
  private readonly bytes: ByteSync<K, V> | undefined;

  constructor(
    readonly table: AgentTable<K, V>,
    private readonly keyId: (k: K) => string,
    private readonly equal: (a: V, b: V) => boolean,
    keyOf?: (id: string) => K | undefined,
  ) {
    this.bytes = table.raw && keyOf ? new ByteSync(table.raw, keyOf) : undefined;
  }

  /** Bring the keys `ids` to their desired value (`desired(id)`; undefined = absent). */
  update(ids: Iterable<string>, desired: (id: string) => readonly [K, V] | undefined): SyncCounts {
    if (this.bytes) return this.bytes.update(ids, desired);
    const sets: Array<readonly [K, V]> = [];
    const dels: K[] = [];
    let unchanged = 0;
    for (const id of ids) {
      const want = desired(id);
      const have = this.shadow.get(id);
      if (want === undefined) {
        if (have !== undefined) dels.push(have.k);
      } else if (have === undefined || !this.equal(have.v, want[1])) {
        sets.push(want);
      } else {
        unchanged++;
      }
    }
    // Sets first: a key that changes kind is never absent in between.
    if (sets.length > 0) {
      this.table.setMany(sets);
      for (const [k, v] of sets) this.shadow.set(this.keyId(k), { k, v, mark: this.pass });
    }
    if (dels.length > 0) {
      this.table.deleteMany(dels);
      for (const k of dels) this.shadow.delete(this.keyId(k));
    }
    return { set: sets.length, deleted: dels.length, unchanged };
  }

  /**
   * Mark and sweep against the real table: every desired entry that differs is written, every
   * installed entry that is not desired is deleted, the rest is left alone (never a flush).
   * Desired rows may carry their key id as a third element (saves recomputing it); `sizeHint`:
   * about how many rows there are.
   */
  resync(desired: Iterable<readonly [K, V, string?]>, sizeHint = 0, readBack = true): SyncCounts {
    if (this.bytes) return this.bytes.resync(desired, sizeHint, readBack);
    const mark = ++this.pass;
    // Read back what is really installed (it becomes the shadow, corrected as we go), or trust
    // the shadow: what this agent adopted and wrote.
    let rows = this.shadow;
    if (readBack) {
      rows = new Map<string, Row<K, V>>();
      for (const [k, v] of this.table.entries()) rows.set(this.keyId(k), { k, v, mark: 0 });
    }
    // Rows may carry their id as a third element; tables read only the first two.
    const sets: Array<readonly [K, V, string?]> = [];
    let unchanged = 0;
    for (const want of desired) {
      const id = want[2] ?? this.keyId(want[0]);
      const have = rows.get(id);
      if (have === undefined) {
        rows.set(id, { k: want[0], v: want[1], mark });
        sets.push(want);
        continue;
      }
      // Mark: what is still desired survives the sweep.
      have.mark = mark;
      if (this.equal(have.v, want[1])) {
        unchanged++;
      } else {
        have.k = want[0];
        have.v = want[1];
        sets.push(want);
      }
    }
    // Sweep: installed, not desired.
    const dels: K[] = [];
    for (const [id, r] of rows) {
      if (r.mark !== mark) {
        dels.push(r.k);
        rows.delete(id);
      }
    }
    this.shadow = rows;
    if (sets.length > 0) this.table.setMany(sets as unknown as ReadonlyArray<readonly [K, V]>);
    if (dels.length > 0) this.table.deleteMany(dels);
    return { set: sets.length, deleted: dels.length, unchanged };
  }

  /**
   * A resync whose bulk rows are written straight into batch buffers in the map's layout by
   * `emit` (key bytes, value bytes: packed-desired.ts), followed by the `extra` rows; a table
   * without a byte view takes `all()`, the same rows as objects.
   */
  resyncPacked(
    emit: (rows: PackedRows, keySize: number, valueSize: number, emitted?: () => void) => void,
    extra: Iterable<readonly [K, V, string?]>,
    all: () => Iterable<readonly [K, V, string?]>,
    sizeHint = 0,
    readBack = true,
    offload?: Offload,
    /** The rows `emit` would make, made already and partly handed over (cold-stream.ts). */
    streamed?: { rows: PackedRows; hand: RowHandOver },
  ): SyncCounts {
    if (!this.bytes) return this.resync(all(), sizeHint, readBack);
    if (streamed) {
      this.bytes.encode(extra, streamed.rows);
      return this.bytes.resyncRows(streamed.rows, false, offload, streamed.hand);
    }
    // Into an empty map, the worker starts writing the first rows while the rest are encoded
    // (rows in shared memory when a worker may write them: that, or a map read back empty).
    const hand = this.bytes.coldHandOver(offload, readBack);
    const rows = this.bytes.rows(
      sizeHint,
      offload !== undefined && (hand !== undefined || readBack),
    );
    const map = this.table.raw!.map;
    emit(rows, map.keySize, map.valueBytes, hand && (() => hand.flush(rows)));
    this.bytes.encode(extra, rows);
    return this.bytes.resyncRows(rows, readBack, offload, hand);
  }

  /**
   * For a resync into this table while it is empty (a cold start) with a worker: rows in shared
   * memory (room for `sizeHint`) and their hand-over to the worker; else undefined.
   */
  coldRows(
    offload: Offload,
    sizeHint: number,
  ): { rows: PackedRows; hand: RowHandOver; map: BatchMap } | undefined {
    const hand = this.bytes?.coldHandOver(offload, false);
    if (!hand) return undefined;
    return { rows: this.bytes!.rows(sizeHint, true), hand, map: this.table.raw!.map };
  }

  /** A table over a real BPF map (one a worker thread can write by its fd). */
  get sharedMap(): boolean {
    const m = this.table.raw?.map;
    return m !== undefined && hasFd(m);
  }

  /** The byte codec's value encoder (a table over a BPF map), for rows made in bulk. */
  get valueEncoder(): ((v: V, b: Buffer, o: number) => void) | undefined {
    return this.table.raw?.codec.encodeValue;
  }

  /** Take the real table's content as the shadow copy, writing nothing. */
  adopt(): void {
    if (this.bytes) return this.bytes.adopt();
    this.shadow = new Map();
    for (const [k, v] of this.table.entries())
      this.shadow.set(this.keyId(k), { k, v, mark: this.pass });
  }

  /** Installed entries as the agent believes them (no syscall). */
  *installed(): IterableIterator<readonly [K, V]> {
    if (this.bytes) {
      yield* this.bytes.installed();
      return;
    }
    for (const r of this.shadow.values()) yield [r.k, r.v];
  }

  /**
   * Installed entries whose `tagOf(value)` is in `tags` (no syscall); over a BPF map only those
   * are decoded (e.g. the local FDB entries among a million remote ones).
   */
  *installedTagged(
    tags: ReadonlySet<string>,
    tagOf: (v: V) => string,
  ): IterableIterator<readonly [K, V]> {
    if (this.bytes) {
      yield* this.bytes.installedTagged(tags, tagOf);
      return;
    }
    for (const r of this.shadow.values()) if (tags.has(tagOf(r.v))) yield [r.k, r.v];
  }

  /**
   * Re-read one key from the table into the shadow copy: for an entry the kernel may have
   * written itself (XDP installs an announcing VM as local), so the next update compares with
   * what is really there.
   */
  refresh(k: K): void {
    if (this.bytes) return this.bytes.refresh(k);
    const id = this.keyId(k);
    const v = this.table.get(k);
    if (v === undefined) this.shadow.delete(id);
    else this.shadow.set(id, { k, v, mark: this.pass });
  }

  /** The installed value of one key, from the shadow copy. */
  installedValue(id: string): V | undefined {
    if (this.bytes) return this.bytes.installedValue(id);
    return this.shadow.get(id)?.v;
  }

  get installedCount(): number {
    return this.bytes ? this.bytes.installedCount : this.shadow.size;
  }

  /** The VNIs of the installed entries (`vniOf` for the object path). */
  installedVnis(vniOf: (k: K) => number): Set<number> {
    if (this.bytes) return this.bytes.installedVnis();
    const out = new Set<number>();
    for (const r of this.shadow.values()) out.add(vniOf(r.k));
    return out;
  }
}
