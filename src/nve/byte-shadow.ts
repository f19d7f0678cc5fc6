// What the agent believes a BPF map holds, kept as the map's own bytes: one packed key buffer, one
// packed value buffer, and an open-addressing index over the keys. A million entries are three
// typed arrays instead of a million objects (no garbage-collector churn), a whole map read back
// with one batch lookup is adopted with one copy, and a slot range can be handed to
// bpf_map_update_batch as it is. Deleted slots keep their key (a re-insert revives them) until a
// compaction drops them.

/** A free index cell. */
const EMPTY = -1;
/** The index has at least this many cells per slot (load factor <= 1/2). */
const INDEX_PER_SLOT = 2;
const MIN_SLOTS = 64;
/** Compact when dead slots exceed this share of all slots (and MIN_SLOTS). */
const DEAD_SHARE_MAX = 0.25;

export class ByteShadow {
  readonly keyWords: number;
  /** Packed keys (slot i at i * keySize) and the same memory as 32-bit words. */
  keys: Buffer;
  private kw: Int32Array;
  /** Packed values (slot i at i * valueSize). */
  values: Buffer;
  private live: Uint8Array;
  private index: Int32Array;
  private mask: number;
  /** The index is built on first use (a shadow taken whole from rows just written). */
  private indexed = true;
  /** Slots in use (alive or dead), and of those alive. */
  slots = 0;
  count = 0;

  constructor(
    readonly keySize: number,
    readonly valueSize: number,
    capacity = MIN_SLOTS,
    noIndex = false,
  ) {
    if (keySize % 4 !== 0) throw new RangeError(`key size ${keySize} is not a multiple of 4`);
    this.keyWords = keySize / 4;
    const cap = Math.max(MIN_SLOTS, capacity);
    const kw = new Int32Array(cap * this.keyWords);
    this.kw = kw;
    this.keys = Buffer.from(kw.buffer);
    this.values = Buffer.alloc(cap * valueSize);
    this.live = new Uint8Array(cap);
    this.index = new Int32Array(0);
    this.mask = 0;
    if (!noIndex) this.rehash(cap);
  }

  /**
   * A shadow holding `count` packed entries (e.g. a whole map read back). `lazyIndex`: its key
   * index is built when first needed (each key must then be unique, as a map's keys are).
   */
  static from(
    keySize: number,
    valueSize: number,
    keys: Buffer,
    values: Buffer,
    count: number,
    extra = 0,
    lazyIndex = false,
  ): ByteShadow {
    const s = new ByteShadow(keySize, valueSize, count + extra, true);
    s.keys.set(keys.subarray(0, count * keySize));
    s.values.set(values.subarray(0, count * valueSize));
    s.live.fill(1, 0, count);
    s.slots = count;
    s.count = count;
    if (lazyIndex) s.indexed = false;
    else s.rehash(s.live.length);
    return s;
  }

  /**
   * A shadow that takes packed rows as its own storage, without copying (rows just written
   * whole into an empty map: nobody else uses them). `kw` and `values` must hold the same
   * number of rows; the key index is built when first needed.
   */
  static own(
    keySize: number,
    valueSize: number,
    kw: Int32Array,
    values: Buffer,
    count: number,
  ): ByteShadow {
    const s = new ByteShadow(keySize, valueSize, MIN_SLOTS, true);
    const cap = Math.min((kw.length * 4) / keySize, values.length / valueSize);
    if (cap < Math.max(count, MIN_SLOTS))
      return ByteShadow.from(
        keySize,
        valueSize,
        Buffer.from(kw.buffer, kw.byteOffset, count * keySize),
        values,
        count,
        0,
        true,
      );
    s.kw = kw;
    s.keys = Buffer.from(kw.buffer, kw.byteOffset, cap * keySize);
    s.values = values.subarray(0, cap * valueSize);
    s.live = new Uint8Array(cap);
    s.live.fill(1, 0, count);
    s.slots = count;
    s.count = count;
    s.indexed = false;
    return s;
  }

  get capacity(): number {
    return this.live.length;
  }

  isLive(slot: number): boolean {
    return this.live[slot] === 1;
  }

  /** Whether slot `slot` holds the key at kbw[wordOff..] (no index lookup). */
  sameKey(slot: number, kbw: Int32Array, wordOff: number): boolean {
    const n = this.keyWords;
    const base = slot * n;
    for (let w = 0; w < n; w++) if (this.kw[base + w] !== kbw[wordOff + w]) return false;
    return true;
  }

  /** The slot holding the key at kb[ko..] (32-bit aligned words kbw), live or dead; or -1. */
  find(kbw: Int32Array, wordOff: number): number {
    if (!this.indexed) this.rehash(this.capacity);
    const kw = this.kw;
    const n = this.keyWords;
    let i = hashWords(kbw, wordOff, n) & this.mask;
    for (;;) {
      const slot = this.index[i]!;
      if (slot === EMPTY) return -1;
      const base = slot * n;
      let same = true;
      for (let w = 0; w < n; w++) {
        if (kw[base + w] !== kbw[wordOff + w]) {
          same = false;
          break;
        }
      }
      if (same) return slot;
      i = (i + 1) & this.mask;
    }
  }

  /**
   * The slot of a key, made live with the given value: found (live or dead) it is overwritten in
   * place, else appended. Returns the slot.
   */
  put(kbw: Int32Array, wordOff: number, vb: Uint8Array, vOff: number): number {
    let slot = this.find(kbw, wordOff);
    if (slot < 0) {
      if (this.slots === this.capacity) this.grow();
      slot = this.slots++;
      const kw = this.kw;
      const base = slot * this.keyWords;
      for (let w = 0; w < this.keyWords; w++) kw[base + w] = kbw[wordOff + w]!;
      this.insertIndex(slot);
    }
    this.setValue(slot, vb, vOff);
    if (this.live[slot] !== 1) {
      this.live[slot] = 1;
      this.count++;
    }
    return slot;
  }

  setValue(slot: number, vb: Uint8Array, vOff: number): void {
    const vs = this.valueSize;
    const base = slot * vs;
    const values = this.values;
    for (let b = 0; b < vs; b++) values[base + b] = vb[vOff + b]!;
  }

  /** Mark a slot dead (its key stays findable, so a re-insert revives it). */
  kill(slot: number): void {
    if (this.live[slot] === 1) {
      this.live[slot] = 0;
      this.count--;
    }
  }

  /** Drop dead slots when they take too much room (slot numbers change). */
  compactIfSparse(): void {
    const dead = this.slots - this.count;
    if (dead <= MIN_SLOTS || dead <= this.slots * DEAD_SHARE_MAX) return;
    const ks = this.keySize;
    const vs = this.valueSize;
    let to = 0;
    for (let from = 0; from < this.slots; from++) {
      if (this.live[from] !== 1) continue;
      if (to !== from) {
        this.keys.copy(this.keys, to * ks, from * ks, (from + 1) * ks);
        this.values.copy(this.values, to * vs, from * vs, (from + 1) * vs);
      }
      to++;
    }
    this.live.fill(1, 0, to);
    this.live.fill(0, to, this.slots);
    this.slots = to;
    this.rehash(this.capacity);
  }

  private grow(): void {
    if (!this.indexed) this.rehash(this.capacity);
    const cap = this.capacity * 2;
    const kw = new Int32Array(cap * this.keyWords);
    kw.set(this.kw);
    this.kw = kw;
    this.keys = Buffer.from(kw.buffer);
    const values = Buffer.alloc(cap * this.valueSize);
    values.set(this.values);
    this.values = values;
    const live = new Uint8Array(cap);
    live.set(this.live);
    this.live = live;
    this.rehash(cap);
  }

  /** Rebuild the index for `cap` slots from the slots in use. */
  private rehash(cap: number): void {
    this.indexed = true;
    let cells = 1;
    while (cells < cap * INDEX_PER_SLOT) cells *= 2;
    this.index = new Int32Array(cells).fill(EMPTY);
    this.mask = cells - 1;
    for (let s = 0; s < this.slots; s++) this.insertIndex(s);
  }

  private insertIndex(slot: number): void {
    let i = hashWords(this.kw, slot * this.keyWords, this.keyWords) & this.mask;
    while (this.index[i] !== EMPTY) i = (i + 1) & this.mask;
    this.index[i] = slot;
  }
}

/** A 32-bit mix of n words (murmur3's finaliser per word). */
function hashWords(w: Int32Array, off: number, n: number): number {
  let h = 0x9747b28c;
  for (let i = 0; i < n; i++) {
    let k = Math.imul(w[off + i]!, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}
