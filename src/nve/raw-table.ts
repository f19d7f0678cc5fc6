// The byte-level view of a table that the resync's fast path uses (table-sync.ts): the BPF map's
// batch operations, and a codec between the agent's keys/values and the map's bytes. A table
// that offers it (`raw`, set by dataplane-adapter.ts on BPF-backed tables) is compared and
// written as bytes; the in-memory twins do not, and take the object path.
import type { MapDump } from '../bpf/map.ts';
import type { Table } from '../dataplane/table.ts';

/** The batch operations of a BPF map (BpfMap has them). */
export interface BatchMap {
  readonly name: string;
  readonly keySize: number;
  /** Bytes of one value as the syscalls read and write it. */
  readonly valueBytes: number;
  lookupAll(): MapDump;
  /** One key's value into out; false when absent. */
  lookupInto(key: Buffer, out: Buffer): boolean;
  updateBatch(keys: Buffer, values: Buffer, count: number): void;
  deleteBatch(keys: Buffer, count: number): number;
}

/** Agent keys and values to and from the map's bytes. */
export interface ByteCodec<K, V> {
  encodeKey(k: K, b: Buffer, o: number): void;
  encodeValue(v: V, b: Buffer, o: number): void;
  decodeKey(b: Buffer, o: number): K;
  decodeValue(b: Buffer, o: number): V;
  /** Same value for the agent (as its equality says: moved deadlines within the slack). */
  sameValue(a: Uint8Array, ao: number, b: Uint8Array, bo: number): boolean;
  /** The VNI a key belongs to (every keyed table here starts with it). */
  vniOfKey(b: Uint8Array, o: number): number;
  /**
   * A cheap discriminator read from a value's bytes, the same string the caller's `tagOf` gives
   * for the decoded value (FDB: its kind; neighbour: its MAC): filters before decoding.
   */
  tag?(value: Uint8Array, o: number): string;
}

export interface RawTable<K, V> {
  readonly map: BatchMap;
  readonly codec: ByteCodec<K, V>;
}

/** A table, and its byte-level view when it has one. */
export type AgentTable<K, V> = Table<K, V> & { readonly raw?: RawTable<K, V> };

/** Equal bytes in a[ao..ao+n) and b[bo..bo+n). */
export function sameBytes(
  a: Uint8Array,
  ao: number,
  b: Uint8Array,
  bo: number,
  n: number,
): boolean {
  for (let i = 0; i < n; i++) if (a[ao + i] !== b[bo + i]) return false;
  return true;
}

/** The little-endian u32 at b[o]. */
export function readU32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}
