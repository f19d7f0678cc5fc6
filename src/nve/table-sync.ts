// Keeps one dataplane table equal to a desired set of entries, with batched writes. It remembers
// what it installed (a shadow copy) so an incremental update costs only the keys that changed,
// and a resync re-reads the real table so drift made behind the agent's back is repaired too.
import type { Table } from '../dataplane/table.ts';

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

  constructor(
    readonly table: Table<K, V>,
    private readonly keyId: (k: K) => string,
    private readonly equal: (a: V, b: V) => boolean,
  ) {}

  /** Bring the keys `ids` to their desired value (`desired(id)`; undefined = absent). */
  update(ids: Iterable<string>, desired: (id: string) => readonly [K, V] | undefined): SyncCounts {
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
   * Desired rows may carry their key id as a third element (saves recomputing it).
   */
  resync(desired: Iterable<readonly [K, V, string?]>): SyncCounts {
    const mark = ++this.pass;
    // Read back what is really installed: it becomes the shadow, corrected as we go.
    const rows = new Map<string, Row<K, V>>();
    for (const [k, v] of this.table.entries()) rows.set(this.keyId(k), { k, v, mark: 0 });
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

  /** Take the real table's content as the shadow copy, writing nothing. */
  adopt(): void {
    this.shadow = new Map();
    for (const [k, v] of this.table.entries())
      this.shadow.set(this.keyId(k), { k, v, mark: this.pass });
  }

  /** Installed entries as the agent believes them (no syscall). */
  *installed(): IterableIterator<readonly [K, V]> {
    for (const r of this.shadow.values()) yield [r.k, r.v];
  }

  /** The installed value of one key, from the shadow copy. */
  installedValue(id: string): V | undefined {
    return this.shadow.get(id)?.v;
  }

  get installedCount(): number {
    return this.shadow.size;
  }
}
