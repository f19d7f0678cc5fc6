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

export class TableSync<K, V> {
  /** What this agent believes is installed, by key identity. */
  private shadow = new Map<string, readonly [K, V]>();

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
        if (have !== undefined) dels.push(have[0]);
      } else if (have === undefined || !this.equal(have[1], want[1])) {
        sets.push(want);
      } else {
        unchanged++;
      }
    }
    this.write(sets, dels);
    return { set: sets.length, deleted: dels.length, unchanged };
  }

  /**
   * Mark and sweep against the real table: every desired entry that differs is written, every
   * installed entry that is not desired is deleted, the rest is left alone (never a flush).
   * Desired rows may carry their key id as a third element (saves recomputing it).
   */
  resync(desired: Iterable<readonly [K, V, string?]>): SyncCounts {
    const installed = new Map<string, readonly [K, V]>();
    for (const kv of this.table.entries()) installed.set(this.keyId(kv[0]), kv);
    const next = new Map<string, readonly [K, V]>();
    const sets: Array<readonly [K, V]> = [];
    let unchanged = 0;
    for (const want of desired) {
      const id = want[2] ?? this.keyId(want[0]);
      const have = installed.get(id);
      if (have !== undefined) {
        // Mark: what is still desired survives the sweep.
        installed.delete(id);
        if (this.equal(have[1], want[1])) {
          next.set(id, have);
          unchanged++;
          continue;
        }
      }
      const row = [want[0], want[1]] as const;
      sets.push(row);
      next.set(id, row);
    }
    const dels: K[] = [];
    for (const [k] of installed.values()) dels.push(k);
    this.shadow = next;
    if (sets.length > 0) this.table.setMany(sets);
    if (dels.length > 0) this.table.deleteMany(dels);
    return { set: sets.length, deleted: dels.length, unchanged };
  }

  /** Take the real table's content as the shadow copy, writing nothing. */
  adopt(): void {
    this.shadow.clear();
    for (const [k, v] of this.table.entries()) this.shadow.set(this.keyId(k), [k, v]);
  }

  /** Installed entries as the agent believes them (no syscall). */
  installed(): IterableIterator<readonly [K, V]> {
    return this.shadow.values();
  }

  /** The installed value of one key, from the shadow copy. */
  installedValue(id: string): V | undefined {
    return this.shadow.get(id)?.[1];
  }

  get installedCount(): number {
    return this.shadow.size;
  }

  private write(sets: Array<readonly [K, V]>, dels: K[]): void {
    // Sets first: a key that moves from one kind to another is never absent in between.
    if (sets.length > 0) {
      this.table.setMany(sets);
      for (const kv of sets) this.shadow.set(this.keyId(kv[0]), kv);
    }
    if (dels.length > 0) {
      this.table.deleteMany(dels);
      for (const k of dels) this.shadow.delete(this.keyId(k));
    }
  }
}
