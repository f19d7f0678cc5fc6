// The one interface the control loop uses to read and write a dataplane table. A BPF map
// implements it (bpf-table.ts); so does MemoryTable (memory-table.ts), its in-memory twin, which
// the reconciler's unit tests run against. Writes are batched: the agent never writes one entry
// at a time when it has many.

/** A keyed table: a BPF map, or its in-memory twin. */
export interface Table<K, V> {
  readonly name: string;
  /** The value stored for key, or undefined. */
  get(key: K): V | undefined;
  /** Insert or replace many entries in one batched operation. */
  setMany(entries: ReadonlyArray<readonly [K, V]>): void;
  /** Delete many keys in one batched operation; keys that are absent are ignored. */
  deleteMany(keys: readonly K[]): void;
  /** Every entry, in no particular order. */
  entries(): IterableIterator<[K, V]>;
  /** How many entries the table holds. */
  size(): number;
}
