// A snapshot's directory entries in columns instead of one object per entry (issue 5: a resync of
// a million entries in a second). Keys are 12 bytes in the layout of roam's fdb map key (vni as a
// little-endian u32, the 6 MAC bytes, 2 zero bytes), so an NVE copies them into map batches as
// they are; the NVEs of the entries are interned (there are few); IPv4 addresses are numbers.
// The rare parts (a TSI name, anchors, IPv6 addresses) sit in sparse maps. `entry(i)` gives back
// the object the schema's validation gives (WireEntry), for the paths that want one.
import { canonicalIp } from './ip-text.ts';
import type { SnapshotMsg, WireEntry, WireMember, WireRoutedVn } from './schema.ts';

/** Bytes and 32-bit words of one key. */
export const PACKED_KEY_BYTES = 12;
export const PACKED_KEY_WORDS = 3;

/** EntryState by number (nva.proto); 0 is never stored (the schema refuses it). */
export const PACKED_STATES: readonly WireEntry['state'][] = [
  'active', // placeholder for 0, never used
  'active',
  'moving',
  'duplicate',
  'withdrawn',
];
export const STATE_WITHDRAWN = 4;
const STATE_NUMBER: Record<WireEntry['state'], number> = {
  active: 1,
  moving: 2,
  duplicate: 3,
  withdrawn: 4,
};

/** An entry in object form: the schema's, or one with its optional parts left out. */
export type EntryLike = Omit<WireEntry, 'tsi' | 'anchors' | 'changedAtMs' | 'ips'> & {
  ips: ReadonlyArray<{ ip: string; seq: number }>;
  tsi?: string | undefined;
  changedAtMs?: number | undefined;
  anchors?: ReadonlyArray<Omit<WireEntry['anchors'][number], 'sinceMs'>> | undefined;
};

/** An NVE named by entries: its id and underlay address (canonical text). */
export interface PackedNve {
  id: string;
  addr: string;
}

/** What is rare in an entry. */
export interface PackedExtras {
  tsi: string;
  anchors: WireEntry['anchors'];
}

const HEX2 = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** The directory entries of a snapshot, packed. Built by PackedEntriesBuilder. */
export class PackedEntries {
  constructor(
    readonly count: number,
    /** PACKED_KEY_WORDS words per entry (the same memory as keyBytes). */
    readonly keys: Int32Array,
    readonly keyBytes: Uint8Array,
    /** Index into `nves`. */
    readonly nve: Int32Array,
    readonly seq: Float64Array,
    readonly changedAtMs: Float64Array,
    /** 1 active, 2 moving, 3 duplicate, 4 withdrawn. */
    readonly state: Uint8Array,
    /** Entry i's IPs are ipStart[i] .. ipStart[i+1]-1. */
    readonly ipStart: Int32Array,
    /** IPv4 as a 32-bit number (a.b.c.d = a<<24|...), when the IP is not in ip6. */
    readonly ip4: Int32Array,
    readonly ipSeq: Float64Array,
    /** IP index -> canonical IPv6 text. */
    readonly ip6: ReadonlyMap<number, string>,
    readonly extras: ReadonlyMap<number, PackedExtras>,
    readonly nves: readonly PackedNve[],
  ) {}

  vni(i: number): number {
    return this.keys[i * PACKED_KEY_WORDS]! >>> 0;
  }

  /** The MAC of entry i in canonical text. */
  mac(i: number): string {
    const b = this.keyBytes;
    const o = i * PACKED_KEY_BYTES + 4;
    return `${HEX2[b[o]!]}:${HEX2[b[o + 1]!]}:${HEX2[b[o + 2]!]}:${HEX2[b[o + 3]!]}:${HEX2[b[o + 4]!]}:${HEX2[b[o + 5]!]}`;
  }

  /** IP j (an index into the IP columns) in canonical text. */
  ip(j: number): string {
    const six = this.ip6.get(j);
    if (six !== undefined) return six;
    const v = this.ip4[j]!;
    return `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
  }

  /** Entry i as the schema's validation gives it. */
  entry(i: number): WireEntry {
    const ips: WireEntry['ips'] = [];
    for (let j = this.ipStart[i]!; j < this.ipStart[i + 1]!; j++)
      ips.push({ ip: this.ip(j), seq: this.ipSeq[j]! });
    const nve = this.nves[this.nve[i]!]!;
    const x = this.extras.get(i);
    return {
      vni: this.vni(i),
      mac: this.mac(i),
      ips,
      nveId: nve.id,
      nveAddr: nve.addr,
      seq: this.seq[i]!,
      state: PACKED_STATES[this.state[i]!]!,
      changedAtMs: this.changedAtMs[i]!,
      tsi: x?.tsi ?? '',
      anchors: x?.anchors ?? [],
    };
  }

  /** Every entry as objects (O(entries): for small snapshots and tests). */
  entries(): WireEntry[] {
    const out: WireEntry[] = [];
    for (let i = 0; i < this.count; i++) out.push(this.entry(i));
    return out;
  }
}

/** A snapshot whose entries are packed (what an NVE's fast path gets); already validated. */
export interface PackedSnapshotMsg {
  revision: number;
  vnis: number[];
  packed: PackedEntries;
  members: WireMember[];
  routedVns: WireRoutedVn[];
}

export function isPackedSnapshot(s: object): s is PackedSnapshotMsg {
  return (
    s instanceof DeferredSnapshot || (s as { packed?: unknown }).packed instanceof PackedEntries
  );
}

/**
 * Told of a snapshot's entries while they are decoded, in order, a chunk at a time: a cold
 * resync hands the first rows to the kernel while the rest are still being decoded.
 */
export interface PackedEntriesSink {
  /** Entries [from, to) of `b` are decoded and final (the columns are `b`'s at this call). */
  decoded(b: PackedEntriesBuilder, from: number, to: number): void;
}

/**
 * A snapshot message whose small parts (revision, VNIs, members, routed VNs) are decoded and
 * validated, and whose entries are decoded when first asked for (snapshot-decoder.ts): by
 * `packed`, or by `decodeEntries` with a sink that sees them as they come. Entries the fast
 * decoder does not accept go to the fallback decoder (proto-loader and the schema), which
 * accepts them or throws why not.
 */
export abstract class DeferredSnapshot implements PackedSnapshotMsg {
  private entries: PackedEntries | undefined;

  constructor(
    readonly revision: number,
    readonly vnis: number[],
    readonly members: WireMember[],
    readonly routedVns: WireRoutedVn[],
    /** Entries the message holds (counted, not decoded). */
    readonly entryCount: number,
  ) {}

  /** The entries (decoded on first use; throws when the snapshot's entries are refused). */
  get packed(): PackedEntries {
    return (this.entries ??= this.decode(undefined));
  }

  /** Whether the entries are decoded already (a sink would see none of them). */
  get decoded(): boolean {
    return this.entries !== undefined;
  }

  /**
   * Decode the entries, telling `sink` of each chunk as it is decoded (when the fast decoder
   * reads them all: after a fallback the sink has seen only a first part, or none).
   */
  decodeEntries(sink?: PackedEntriesSink): PackedEntries {
    return (this.entries ??= this.decode(sink));
  }

  protected abstract decode(sink: PackedEntriesSink | undefined): PackedEntries;
}

/** Fills the columns of PackedEntries one entry at a time (capacity grows as needed). */
export class PackedEntriesBuilder {
  n = 0;
  private nIps = 0;
  keys: Int32Array;
  keyBytes: Uint8Array;
  nve: Int32Array;
  seq: Float64Array;
  changedAtMs: Float64Array;
  state: Uint8Array;
  ipStart: Int32Array;
  ip4: Int32Array;
  ipSeq: Float64Array;
  readonly ip6 = new Map<number, string>();
  readonly extras = new Map<number, PackedExtras>();
  readonly nves: PackedNve[] = [];
  private readonly nveIndex = new Map<string, number>();

  constructor(capacity = 16, ipCapacity = capacity) {
    const cap = Math.max(1, capacity);
    this.keys = new Int32Array(cap * PACKED_KEY_WORDS);
    this.keyBytes = new Uint8Array(this.keys.buffer);
    this.nve = new Int32Array(cap);
    this.seq = new Float64Array(cap);
    this.changedAtMs = new Float64Array(cap);
    this.state = new Uint8Array(cap);
    this.ipStart = new Int32Array(cap + 1);
    const ipCap = Math.max(1, ipCapacity);
    this.ip4 = new Int32Array(ipCap);
    this.ipSeq = new Float64Array(ipCap);
  }

  /** The index of an NVE (id, canonical address), interned. */
  nveOf(id: string, addr: string): number {
    const k = `${id}\n${addr}`;
    let i = this.nveIndex.get(k);
    if (i === undefined) {
      i = this.nves.length;
      this.nves.push({ id, addr });
      this.nveIndex.set(k, i);
    }
    return i;
  }

  /** Start entry n: room for it; returns its index. Its IPs follow with addIp4/addIp6. */
  begin(): number {
    if (this.n === this.state.length) this.growEntries();
    this.ipStart[this.n] = this.nIps;
    return this.n;
  }

  /** Close the entry begun last. */
  end(): void {
    this.n++;
    this.ipStart[this.n] = this.nIps;
  }

  addIp4(v: number, seq: number): void {
    if (this.nIps === this.ip4.length) this.growIps();
    this.ip4[this.nIps] = v | 0;
    this.ipSeq[this.nIps++] = seq;
  }

  /** IPs added since IP index `start` (the entry being built: since its ipStart). */
  ipsSince(start: number): number {
    return this.nIps - start;
  }

  addIp6(text: string, seq: number): void {
    if (this.nIps === this.ip4.length) this.growIps();
    this.ip6.set(this.nIps, text);
    this.ip4[this.nIps] = 0;
    this.ipSeq[this.nIps++] = seq;
  }

  /**
   * One whole entry from its validated object form (or the agent's DirEntry, whose optional
   * fields default as the schema's do).
   */
  add(e: EntryLike): void {
    const i = this.begin();
    const b = this.keyBytes;
    const o = i * PACKED_KEY_BYTES;
    b[o] = e.vni & 0xff;
    b[o + 1] = (e.vni >>> 8) & 0xff;
    b[o + 2] = (e.vni >>> 16) & 0xff;
    b[o + 3] = (e.vni >>> 24) & 0xff;
    for (let k = 0; k < 6; k++) b[o + 4 + k] = parseInt(e.mac.slice(k * 3, k * 3 + 2), 16);
    b[o + 10] = 0;
    b[o + 11] = 0;
    this.nve[i] = this.nveOf(e.nveId, e.nveAddr);
    this.seq[i] = e.seq;
    this.changedAtMs[i] = e.changedAtMs ?? 0;
    this.state[i] = STATE_NUMBER[e.state];
    for (const b2 of e.ips) {
      const v4 = ipv4Number(b2.ip);
      if (v4 === null) this.addIp6(canonicalIp(b2.ip), b2.seq);
      else this.addIp4(v4, b2.seq);
    }
    const anchors = (e.anchors ?? []) as WireEntry['anchors'];
    if (e.tsi || anchors.length > 0) this.extras.set(i, { tsi: e.tsi ?? '', anchors });
    this.end();
  }

  build(): PackedEntries {
    const n = this.n;
    return new PackedEntries(
      n,
      this.keys,
      this.keyBytes,
      this.nve,
      this.seq,
      this.changedAtMs,
      this.state,
      this.ipStart,
      this.ip4,
      this.ipSeq,
      this.ip6,
      this.extras,
      this.nves,
    );
  }

  private growEntries(): void {
    const cap = this.state.length * 2;
    const keys = new Int32Array(cap * PACKED_KEY_WORDS);
    keys.set(this.keys);
    this.keys = keys;
    this.keyBytes = new Uint8Array(keys.buffer);
    this.nve = grown(this.nve, cap, Int32Array);
    this.seq = grown(this.seq, cap, Float64Array);
    this.changedAtMs = grown(this.changedAtMs, cap, Float64Array);
    this.state = grown(this.state, cap, Uint8Array);
    this.ipStart = grown(this.ipStart, cap + 1, Int32Array);
  }

  private growIps(): void {
    const cap = this.ip4.length * 2;
    this.ip4 = grown(this.ip4, cap, Int32Array);
    this.ipSeq = grown(this.ipSeq, cap, Float64Array);
  }
}

function grown<T extends Int32Array | Float64Array | Uint8Array>(
  a: T,
  cap: number,
  C: new (n: number) => T,
): T {
  const out = new C(cap);
  out.set(a);
  return out;
}

/** a.b.c.d (canonical IPv4 text) as a number, or null for anything else. */
export function ipv4Number(ip: string): number | null {
  const n = ip.length;
  if (n < 7 || n > 15) return null;
  let v = 0;
  let part = 0;
  let val = 0;
  let digits = 0;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? ip.charCodeAt(i) : 46;
    if (c === 46) {
      if (digits === 0 || part > 3) return null;
      v = v * 256 + val;
      part++;
      val = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && val === 0) return null;
      val = val * 10 + (c - 48);
      if (val > 255) return null;
      digits++;
    } else return null;
  }
  return part === 4 ? v | 0 : null;
}

/** Entries in object form, packed. */
export function packEntries(entries: readonly EntryLike[]): PackedEntries {
  const b = new PackedEntriesBuilder(entries.length);
  for (const e of entries) b.add(e);
  return b.build();
}

/** A validated snapshot in object form, packed (fallback decoding, tests). */
export function packSnapshot(s: SnapshotMsg): PackedSnapshotMsg {
  return {
    revision: s.revision,
    vnis: s.vnis,
    packed: packEntries(s.entries),
    members: s.members,
    routedVns: s.routedVns,
  };
}
