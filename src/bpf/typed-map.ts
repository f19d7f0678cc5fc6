// A BpfMap seen through codecs: JS keys and values in, batched writes and reads underneath.
// Its shape matches the dataplane's Table<K,V> (get/setMany/deleteMany/entries/size), so the
// dataplane can hand it to the reconciler as is.
import { BpfError } from './errors.ts';
import type { BpfMap } from './map.ts';
import type { Codec } from './codec.ts';

const EINVAL = 22;

export class TypedMap<K, V> {
  readonly name: string;
  private readonly keyBuf: Buffer;
  private readonly valueBuf: Buffer;

  constructor(
    readonly map: BpfMap,
    private readonly key: Codec<K>,
    private readonly value: Codec<V>,
  ) {
    this.name = map.name;
    if (key.size !== map.keySize || value.size !== map.valueSize) {
      throw new BpfError(
        'typed view',
        `map ${map.name}`,
        EINVAL,
        `codec sizes key ${key.size}/value ${value.size} do not match the map's ${map.keySize}/${map.valueSize}`,
      );
    }
    if (map.perCpu)
      throw new BpfError('typed view', `map ${map.name}`, EINVAL, 'per-CPU maps need lookupPerCpu');
    this.keyBuf = Buffer.alloc(map.keySize);
    this.valueBuf = Buffer.alloc(map.valueBytes);
  }

  /** The value for key, or undefined. */
  get(k: K): V | undefined {
    this.key.encode(k, this.keyBuf, 0);
    return this.map.lookupInto(this.keyBuf, this.valueBuf)
      ? this.value.decode(this.valueBuf, 0)
      : undefined;
  }

  /** Insert or replace one entry. */
  set(k: K, v: V, flags?: number): void {
    this.key.encode(k, this.keyBuf, 0);
    this.value.encode(v, this.valueBuf, 0);
    this.map.update(this.keyBuf, this.valueBuf, flags);
  }

  /** Delete one key; false when absent. */
  delete(k: K): boolean {
    this.key.encode(k, this.keyBuf, 0);
    return this.map.delete(this.keyBuf);
  }

  /** Insert or replace many entries with one batch update. */
  setMany(entries: ReadonlyArray<readonly [K, V]>): void {
    const n = entries.length;
    if (n === 0) return;
    const keys = Buffer.allocUnsafe(n * this.key.size);
    const values = Buffer.allocUnsafe(n * this.value.size);
    entries.forEach(([k, v], i) => {
      this.key.encode(k, keys, i * this.key.size);
      this.value.encode(v, values, i * this.value.size);
    });
    this.map.updateBatch(keys, values, n);
  }

  /** Delete many keys with one batch delete; absent keys are ignored. */
  deleteMany(keys: readonly K[]): void {
    if (keys.length === 0) return;
    const buf = Buffer.allocUnsafe(keys.length * this.key.size);
    keys.forEach((k, i) => this.key.encode(k, buf, i * this.key.size));
    this.map.deleteBatch(buf, keys.length);
  }

  /** Every entry (read with batch lookups where the map type has them). */
  *entries(): IterableIterator<[K, V]> {
    const d = this.map.lookupAll();
    for (let i = 0; i < d.count; i++) {
      yield [
        this.key.decode(d.keys, i * this.key.size),
        this.value.decode(d.values, i * this.value.size),
      ];
    }
  }

  /** Number of entries (counts keys; O(n)). */
  size(): number {
    let n = 0;
    for (const _k of this.map.keys()) n++;
    return n;
  }
}
