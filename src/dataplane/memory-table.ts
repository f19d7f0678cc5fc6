// In-memory twin of a BPF-map table, for unit tests of the control loop (no root, no kernel).
// Keys are compared by a string identity, as a BPF hash map compares them by their bytes.
import type { Table } from './table.ts';

export class MemoryTable<K, V> implements Table<K, V> {
  private readonly rows = new Map<string, [K, V]>();
  /** Number of batched write calls, so tests can check the control loop batches. */
  writeCalls = 0;

  constructor(
    readonly name: string,
    private readonly keyId: (key: K) => string,
    private readonly capacity = Number.POSITIVE_INFINITY,
  ) {}

  get(key: K): V | undefined {
    return this.rows.get(this.keyId(key))?.[1];
  }

  setMany(entries: ReadonlyArray<readonly [K, V]>): void {
    this.writeCalls++;
    for (const [k, v] of entries) {
      const id = this.keyId(k);
      if (!this.rows.has(id) && this.rows.size >= this.capacity) {
        throw new Error(`table ${this.name}: update: E2BIG (table full at ${this.capacity})`);
      }
      this.rows.set(id, [k, v]);
    }
  }

  deleteMany(keys: readonly K[]): void {
    this.writeCalls++;
    for (const k of keys) this.rows.delete(this.keyId(k));
  }

  *entries(): IterableIterator<[K, V]> {
    for (const [k, v] of this.rows.values()) yield [k, v];
  }

  size(): number {
    return this.rows.size;
  }
}
