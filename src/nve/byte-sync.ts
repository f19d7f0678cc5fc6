// TableSync's fast path for tables over BPF maps (raw-table.ts): what is installed is kept as the
// map's bytes (byte-shadow.ts), desired rows are encoded once into a scratch key and value and
// compared with the installed bytes, and what differs is written from packed buffers with batch
// calls. A full resync reads the map back with batch lookups into one buffer, marks what is still
// desired, writes what differs (new entries are appended to the shadow, so they go to the kernel
// as one contiguous range) and deletes the rest: mark and sweep on bytes, no object per entry.
import type { BatchWriter } from './batch-writer.ts';
import { ByteShadow } from './byte-shadow.ts';
import type { BatchMap, ByteCodec, RawTable } from './raw-table.ts';
import type { SyncCounts } from './table-sync.ts';

/** A worker that writes the batches of an empty map, helped by this thread (batch-writer.ts). */
export interface Offload {
  writer: BatchWriter;
}

/**
 * Rows per batch handed to the worker: the kernel starts on the first ones while the rest are
 * encoded, and the two threads share the last batches finely enough to end close together
 * (16,384 rows: ~7 ms of the kernel's inserts; a thread descheduled in its batch keeps the other
 * waiting that long at most).
 */
export const HAND_OVER_ROWS = 16_384;

/** Hands the rows of a resync into an empty map to the batch writer as they are encoded. */
export class RowHandOver {
  private handed = 0;

  constructor(
    private readonly writer: BatchWriter,
    private readonly map: BatchMap,
  ) {}

  /** Rows handed over so far (the first ones of the rows given to flush). */
  get handedRows(): number {
    return this.handed;
  }

  /** Hand over the whole batches encoded so far (`all`: every row, the last batch partial). */
  flush(rows: PackedRows, all = false): void {
    const ks = this.map.keySize;
    const vs = this.map.valueBytes;
    while (rows.n - this.handed >= HAND_OVER_ROWS || (all && rows.n > this.handed)) {
      const from = this.handed;
      const n = Math.min(HAND_OVER_ROWS, rows.n - from);
      const keys = rows.keys.subarray(from * ks, (from + n) * ks);
      const values = rows.values.subarray(from * vs, (from + n) * vs);
      // (a worker not loaded yet: this thread writes them now)
      if (!this.writer.write(this.map, keys, values, n)) this.map.updateBatch(keys, values, n);
      this.handed += n;
    }
  }
}

/** Packed rows to hand to a batch call; keys stay 32-bit aligned for the shadow's lookups. */
export class PackedRows {
  keys: Buffer;
  kw: Int32Array;
  values: Buffer;
  n = 0;

  constructor(
    private readonly ks: number,
    private readonly vs: number,
    cap = 16,
    /** In shared memory: a worker thread can write them into a map (batch-writer.ts). */
    private readonly shared = false,
  ) {
    this.kw = new Int32Array(this.alloc(cap * ks));
    this.keys = Buffer.from(this.kw.buffer);
    this.values = Buffer.from(this.alloc(cap * vs));
  }

  private alloc(bytes: number): ArrayBuffer | SharedArrayBuffer {
    return this.shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
  }

  /** Room for one more row; returns its index. */
  add(): number {
    if ((this.n + 1) * this.ks > this.keys.length) this.reserve(this.n + 1);
    return this.n++;
  }

  /** Room for `rows` rows in all. */
  reserve(rows: number): void {
    if (rows * this.ks <= this.keys.length) return;
    {
      let cap = Math.max(16, this.keys.length / this.ks);
      while (cap < rows) cap *= 2;
      const kw = new Int32Array(this.alloc(cap * this.ks));
      kw.set(this.kw);
      this.kw = kw;
      this.keys = Buffer.from(kw.buffer);
      const values = Buffer.from(this.alloc(cap * this.vs));
      values.set(this.values);
      this.values = values;
    }
  }
}

export class ByteSync<K, V> {
  private shadow: ByteShadow;
  private readonly ks: number;
  private readonly vs: number;
  private readonly codec: ByteCodec<K, V>;
  /** One key (32-bit aligned) and one value, encoded before each comparison. */
  private readonly kw: Int32Array;
  private readonly k: Buffer;
  private readonly v: Buffer;

  constructor(
    private readonly raw: RawTable<K, V>,
    private readonly keyOf: (id: string) => K | undefined,
  ) {
    this.ks = raw.map.keySize;
    this.vs = raw.map.valueBytes;
    this.codec = raw.codec;
    this.shadow = new ByteShadow(this.ks, this.vs);
    this.kw = new Int32Array(Math.ceil(this.ks / 4));
    this.k = Buffer.from(this.kw.buffer);
    this.v = Buffer.alloc(this.vs);
  }

  /** Bring the keys `ids` to their desired value (undefined = absent), from the shadow. */
  update(ids: Iterable<string>, desired: (id: string) => readonly [K, V] | undefined): SyncCounts {
    const { ks, vs, codec, k, kw, v } = this;
    const sets = new PackedRows(ks, vs);
    const dels = new PackedRows(ks, 0);
    let unchanged = 0;
    for (const id of ids) {
      const want = desired(id);
      if (want === undefined) {
        const key = this.keyOf(id);
        if (key === undefined) continue;
        codec.encodeKey(key, k, 0);
        const slot = this.shadow.find(kw, 0);
        if (slot >= 0 && this.shadow.isLive(slot)) {
          const i = dels.add(); // (before reading dels.keys: add() may grow it)
          k.copy(dels.keys, i * ks, 0, ks);
        }
        continue;
      }
      codec.encodeKey(want[0], k, 0);
      codec.encodeValue(want[1], v, 0);
      const slot = this.shadow.find(kw, 0);
      if (
        slot >= 0 &&
        this.shadow.isLive(slot) &&
        codec.sameValue(this.shadow.values, slot * vs, v, 0)
      ) {
        unchanged++;
        continue;
      }
      const i = sets.add();
      k.copy(sets.keys, i * ks, 0, ks);
      v.copy(sets.values, i * vs, 0, vs);
    }
    // Sets first: a key that changes kind is never absent in between.
    if (sets.n > 0) {
      this.raw.map.updateBatch(sets.keys, sets.values, sets.n);
      for (let i = 0; i < sets.n; i++) this.shadow.put(sets.kw, (i * ks) / 4, sets.values, i * vs);
    }
    if (dels.n > 0) {
      this.raw.map.deleteBatch(dels.keys, dels.n);
      for (let i = 0; i < dels.n; i++) this.shadow.kill(this.shadow.find(dels.kw, (i * ks) / 4));
      this.shadow.compactIfSparse();
    }
    return { set: sets.n, deleted: dels.n, unchanged };
  }

  /**
   * Mark and sweep against the map as it is: read back whole, desired rows compared as bytes,
   * what differs written, what is not desired deleted (never a flush). `sizeHint`: about how
   * many rows `desired` yields (sizes the shadow once).
   */
  resync(desired: Iterable<readonly [K, V, string?]>, sizeHint = 0, readBack = true): SyncCounts {
    const rows = this.rows(sizeHint);
    this.encode(desired, rows);
    return this.resyncRows(rows, readBack);
  }

  /**
   * For a resync against the shadow with a worker: when nothing is installed (a cold start), a
   * hand-over that gives the worker the rows as they are encoded; else undefined.
   */
  coldHandOver(offload: Offload | undefined, readBack: boolean): RowHandOver | undefined {
    if (!offload || readBack || this.shadow.count !== 0) return undefined;
    return new RowHandOver(offload.writer, this.raw.map);
  }

  /** Empty packed rows in this table's layout, room for about `sizeHint` (`shared`: memory). */
  rows(sizeHint = 0, shared = false): PackedRows {
    return new PackedRows(this.ks, this.vs, Math.max(16, sizeHint), shared);
  }

  /** Desired rows in object form, encoded and appended to `rows`. */
  encode(desired: Iterable<readonly [K, V, string?]>, rows: PackedRows): void {
    const { ks, vs, codec } = this;
    for (const want of desired) {
      const i = rows.add();
      codec.encodeKey(want[0], rows.keys, i * ks);
      codec.encodeValue(want[1], rows.values, i * vs);
    }
  }

  /**
   * Mark and sweep of packed desired rows (each key once) against what is installed: with
   * `readBack` the map as it is (read whole: repairs drift behind the agent), else this agent's
   * shadow of it (taken from the map at adoption, kept equal by every write since). Rows are
   * compared as bytes, what differs is written, what is not desired deleted (never a flush).
   * Over an empty map the rows go to the kernel as they are, in one batch.
   */
  resyncRows(
    rows: PackedRows,
    readBack = true,
    offload?: Offload,
    handOver?: RowHandOver,
  ): SyncCounts {
    const { ks, vs, codec } = this;
    let sh: ByteShadow;
    if (readBack) {
      const dump = this.raw.map.lookupAll();
      sh =
        dump.count === 0
          ? new ByteShadow(ks, vs)
          : ByteShadow.from(ks, vs, dump.keys, dump.values, dump.count, rows.n);
    } else sh = this.shadow;
    if (sh.count === 0) {
      // Handed to the batch writer (the caller waits for it before the maps count as equal),
      // what `handOver` has not handed yet; without one, written here.
      const hand = handOver ?? (offload && new RowHandOver(offload.writer, this.raw.map));
      if (hand) hand.flush(rows, true);
      else this.raw.map.updateBatch(rows.keys, rows.values, rows.n);
      // (the rows become the shadow; its index is built when first needed: the next change)
      this.shadow = ByteShadow.own(ks, vs, rows.kw, rows.values, rows.n);
      return { set: rows.n, deleted: 0, unchanged: 0 };
    }
    const base = sh.slots;
    // Installed slots still desired (mark), and those whose value changed.
    const marks = new Uint8Array(base);
    const changed = new PackedRows(ks, vs);
    let unchanged = 0;
    const kw = rows.kw;
    const kwords = ks / 4;
    // Rows in the order they were installed last time need no index lookup: slot = row + shift,
    // the shift changing where rows were added or deleted before (one lookup each time).
    let shift = 0;
    for (let r = 0; r < rows.n; r++) {
      const at = r + shift;
      const slot =
        at >= 0 && at < base && sh.sameKey(at, kw, r * kwords) ? at : sh.find(kw, r * kwords);
      if (slot >= 0 && slot < base && slot !== at) shift = slot - r;
      const vo = r * vs;
      if (slot < 0) {
        sh.put(kw, r * kwords, rows.values, vo); // new: appended after the installed slots
      } else if (slot >= base) {
        sh.setValue(slot, rows.values, vo); // desired twice: the last one wins
      } else {
        const again = marks[slot] === 1;
        marks[slot] = 1;
        if (!again && sh.isLive(slot) && codec.sameValue(sh.values, slot * vs, rows.values, vo)) {
          unchanged++;
        } else {
          sh.put(kw, r * kwords, rows.values, vo); // (revives a dead slot in place)
          const i = changed.add();
          rows.keys.copy(changed.keys, i * ks, r * ks, (r + 1) * ks);
          rows.values.copy(changed.values, i * vs, vo, vo + vs);
        }
      }
    }
    // Sweep: installed, not desired.
    const dels = new PackedRows(ks, 0);
    for (let s = 0; s < base; s++) {
      if (marks[s] === 1 || !sh.isLive(s)) continue;
      const i = dels.add(); // (before reading dels.keys: add() may grow it)
      sh.keys.copy(dels.keys, i * ks, s * ks, (s + 1) * ks);
      sh.kill(s);
    }
    const added = sh.slots - base;
    // Sets first (changed, then the new ones as one range), then deletes.
    if (changed.n > 0) this.raw.map.updateBatch(changed.keys, changed.values, changed.n);
    if (added > 0) {
      this.raw.map.updateBatch(
        sh.keys.subarray(base * ks, sh.slots * ks),
        sh.values.subarray(base * vs, sh.slots * vs),
        added,
      );
    }
    if (dels.n > 0) this.raw.map.deleteBatch(dels.keys, dels.n);
    sh.compactIfSparse();
    this.shadow = sh;
    return { set: changed.n + added, deleted: dels.n, unchanged };
  }

  /** Take the map's content as the shadow, writing nothing. */
  adopt(): void {
    const d = this.raw.map.lookupAll();
    this.shadow = ByteShadow.from(this.ks, this.vs, d.keys, d.values, d.count);
  }

  /** Installed entries, decoded (O(entries)). */
  *installed(): IterableIterator<readonly [K, V]> {
    const sh = this.shadow;
    for (let s = 0; s < sh.slots; s++) {
      if (!sh.isLive(s)) continue;
      yield [
        this.codec.decodeKey(sh.keys, s * this.ks),
        this.codec.decodeValue(sh.values, s * this.vs),
      ];
    }
  }

  /** Installed entries whose value's tag is in `tags`, decoded (only those are decoded). */
  *installedTagged(
    tags: ReadonlySet<string>,
    tagOf: (v: V) => string,
  ): IterableIterator<readonly [K, V]> {
    const sh = this.shadow;
    const tag = this.codec.tag;
    for (let s = 0; s < sh.slots; s++) {
      if (!sh.isLive(s)) continue;
      if (tag && !tags.has(tag(sh.values, s * this.vs))) continue;
      const v = this.codec.decodeValue(sh.values, s * this.vs);
      if (tags.has(tagOf(v))) yield [this.codec.decodeKey(sh.keys, s * this.ks), v];
    }
  }

  /**
   * Re-read one key from the map into the shadow: for an entry the kernel may have written
   * itself (XDP installs an announcing VM as local), so the next update compares with the truth.
   */
  refresh(key: K): void {
    this.codec.encodeKey(key, this.k, 0);
    const slot = this.shadow.find(this.kw, 0);
    const live = slot >= 0 && this.shadow.isLive(slot);
    if (this.raw.map.lookupInto(this.k, this.v)) {
      if (live) this.shadow.setValue(slot, this.v, 0);
      else this.shadow.put(this.kw, 0, this.v, 0);
    } else if (live) {
      this.shadow.kill(slot);
    }
  }

  installedValue(id: string): V | undefined {
    const key = this.keyOf(id);
    if (key === undefined) return undefined;
    this.codec.encodeKey(key, this.k, 0);
    const slot = this.shadow.find(this.kw, 0);
    return slot >= 0 && this.shadow.isLive(slot)
      ? this.codec.decodeValue(this.shadow.values, slot * this.vs)
      : undefined;
  }

  /** The VNIs of the installed keys, read from the bytes. */
  installedVnis(): Set<number> {
    const out = new Set<number>();
    const sh = this.shadow;
    // (keys come in runs of one VNI: the set is asked only when the VNI changes)
    let last = -1;
    for (let s = 0; s < sh.slots; s++) {
      if (!sh.isLive(s)) continue;
      const vni = this.codec.vniOfKey(sh.keys, s * this.ks);
      if (vni !== last) out.add((last = vni));
    }
    return out;
  }

  get installedCount(): number {
    return this.shadow.count;
  }
}
