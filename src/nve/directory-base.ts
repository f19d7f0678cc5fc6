// The directory as the last full snapshot gave it, kept packed (issue 5: a million entries
// without an object each): the snapshot's columns (protocol/packed-snapshot.ts) plus two
// open-addressing indexes, (VNI, MAC) -> entry and (VNI, IPv4) -> the entries that claim it (the
// second built when first needed).
// Read-only once built: what changes afterwards is NveState's overlay (nve-state.ts), which
// shadows the entries it touches. Entry objects are made only on demand (`entry(slot)`).
import {
  PACKED_KEY_WORDS,
  STATE_WITHDRAWN,
  type PackedEntries,
} from '../protocol/packed-snapshot.ts';
import { ipv4Number } from '../protocol/packed-snapshot.ts';
import type { DirEntry } from './nva-port.ts';

const EMPTY = -1;

/** A 32-bit mix of up to three words (murmur3's finaliser). */
function mix(a: number, b: number, c: number): number {
  let h = Math.imul(a ^ 0x9747b28c, 0xcc9e2d51);
  h = Math.imul((h << 15) | (h >>> 17), 0x1b873593) ^ b;
  h = Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64;
  h ^= c;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function cellsFor(n: number): number {
  let cells = 16;
  while (cells < n * 2) cells *= 2;
  return cells;
}

/** Cells per region of an index that the inserts visit in turn (2^15 cells: 256 KB). */
const REGION_CELL_BITS = 15;

/**
 * Items (`item[k]`, or k itself when `item` is null) with their hashes, reordered by the region
 * of the index where their probing starts, in their own order within a region (a stable
 * counting sort), as two arrays read in order: a million inserts then stay within a cache-sized
 * region of the index at a time instead of missing the cache at random. A small index keeps the
 * items' order.
 */
function byRegion(
  hashes: Int32Array,
  item: Int32Array | null,
  n: number,
  cells: number,
): { hash: Int32Array; item: Int32Array } {
  const outHash = new Int32Array(n);
  const outItem = new Int32Array(n);
  const bits = Math.log2(cells) - REGION_CELL_BITS;
  if (bits <= 0) {
    for (let k = 0; k < n; k++) {
      outHash[k] = hashes[k]!;
      outItem[k] = item ? item[k]! : k;
    }
    return { hash: outHash, item: outItem };
  }
  const shift = REGION_CELL_BITS;
  const mask = cells - 1;
  const at = new Int32Array((1 << bits) + 1);
  for (let k = 0; k < n; k++) at[((hashes[k]! & mask) >>> shift) + 1]!++;
  for (let r = 1; r < at.length; r++) at[r]! += at[r - 1]!;
  for (let k = 0; k < n; k++) {
    const h = hashes[k]!;
    const o = at[(h & mask) >>> shift]!++;
    outHash[o] = h;
    outItem[o] = item ? item[k]! : k;
  }
  return { hash: outHash, item: outItem };
}

/** The key words of "vni/mac" (a MAC id), or null when it is not one in canonical form. */
export function macIdWords(id: string, out: Int32Array): boolean {
  const slash = id.indexOf('/');
  if (slash < 1 || id.length - slash - 1 !== 17) return false;
  const vni = Number(id.slice(0, slash));
  if (!Number.isInteger(vni) || vni < 0 || vni > 0xffffff) return false;
  const m: number[] = [];
  for (let k = 0; k < 6; k++) {
    const p = slash + 1 + k * 3;
    const v = parseInt(id.slice(p, p + 2), 16);
    if (Number.isNaN(v)) return false;
    m.push(v);
  }
  out[0] = vni;
  out[1] = m[0]! | (m[1]! << 8) | (m[2]! << 16) | (m[3]! << 24);
  out[2] = m[4]! | (m[5]! << 8);
  return true;
}

/** The bytes of a typed array's first `n` elements. */
function bytesOf(a: Int32Array | Uint8Array | Float64Array, n: number): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, n * a.BYTES_PER_ELEMENT);
}

/**
 * Same keys, NVEs, states and IPs in the same order (what the indexes are built from): the
 * NVA's same directory sent again. Rare parts (IPv6, extras) must be absent.
 */
function sameColumns(a: PackedEntries, b: PackedEntries): boolean {
  const n = a.count;
  if (b.count !== n || a.nves.length !== b.nves.length) return false;
  if (a.ip6.size + b.ip6.size + a.extras.size + b.extras.size > 0) return false;
  for (let i = 0; i < a.nves.length; i++)
    if (a.nves[i]!.id !== b.nves[i]!.id || a.nves[i]!.addr !== b.nves[i]!.addr) return false;
  const ips = a.ipStart[n]!;
  return (
    b.ipStart[n] === ips &&
    bytesOf(a.keys, n * PACKED_KEY_WORDS).equals(bytesOf(b.keys, n * PACKED_KEY_WORDS)) &&
    bytesOf(a.nve, n).equals(bytesOf(b.nve, n)) &&
    bytesOf(a.state, n).equals(bytesOf(b.state, n)) &&
    bytesOf(a.ipStart, n + 1).equals(bytesOf(b.ipStart, n + 1)) &&
    bytesOf(a.ip4, ips).equals(bytesOf(b.ip4, ips))
  );
}

/** The (VNI, IP) claims of a base's entries forwarded elsewhere. */
export interface IpClaims {
  /** For IP index j: its entry's slot; and whether other claiming entries share the IP. */
  slot: Int32Array;
  shared: Uint8Array;
  /** "vni/ip" of IPs claimed by more than one entry. */
  sharedIps: string[];
  /** Cells of two words, as the key index: the (vni, IPv4) hash and the IP's index. */
  index: Int32Array;
  mask: number;
  /** IPv6 claims: "vni/ip" -> IP indexes (few). */
  ip6Owners: Map<string, number[]>;
}

/** Index the IPs of the entries forwarded elsewhere (`elsewhere[s]`), finding shared ones. */
function buildIpClaims(p: PackedEntries, elsewhere: Uint8Array): IpClaims {
  const n = p.count;
  const keys = p.keys;
  const nIps = p.ipStart[n]!;
  const ipSlot = new Int32Array(nIps);
  const ipShared = new Uint8Array(nIps);
  const sharedIps: string[] = [];
  const ip6Owners = new Map<string, number[]>();
  const ipCells = cellsFor(nIps);
  const ipIndex = new Int32Array(ipCells * 2).fill(EMPTY);
  const ipMask = ipCells - 1;
  const ip4 = p.ip4;
  const ipStart = p.ipStart;
  const any6 = p.ip6.size > 0;
  // The IPv4 claims (IP index and hash), then indexed in region order (see regionOrder).
  const claim = new Int32Array(nIps);
  const hashes = new Int32Array(nIps);
  let m = 0;
  for (let s = 0; s < n; s++) {
    if (!elsewhere[s]) continue;
    const vni = keys[s * 3]!;
    for (let j = ipStart[s]!; j < ipStart[s + 1]!; j++) {
      ipSlot[j] = s;
      if (any6 && p.ip6.has(j)) {
        const id = `${vni >>> 0}/${p.ip6.get(j)!}`;
        const owners = ip6Owners.get(id);
        if (owners) {
          if (owners.length === 1) sharedIps.push(id);
          for (const o of owners) ipShared[o] = 1;
          ipShared[j] = 1;
          owners.push(j);
        } else ip6Owners.set(id, [j]);
        continue;
      }
      claim[m] = j;
      hashes[m++] = mix(vni, ip4[j]!, 0x5bd1e995) | 0;
    }
  }
  const sorted = byRegion(hashes, claim, m, ipCells);
  const sortedHash = sorted.hash;
  const sortedIp = sorted.item;
  for (let k = 0; k < m; k++) {
    const j = sortedIp[k]!;
    const h = sortedHash[k]!;
    let i = h & ipMask;
    for (;;) {
      const t = ipIndex[i * 2 + 1]!;
      if (t === EMPTY) {
        ipIndex[i * 2] = h;
        ipIndex[i * 2 + 1] = j;
        break;
      }
      // (the addresses are read only when the hashes match)
      if (
        ipIndex[i * 2] === h &&
        ip4[t] === ip4[j] &&
        keys[ipSlot[t]! * 3] === keys[ipSlot[j]! * 3] &&
        !(any6 && p.ip6.has(t))
      ) {
        const vni = keys[ipSlot[j]! * 3]!;
        // shared: chain the claims through the probe sequence (each j its own cell)
        if (!ipShared[t]) sharedIps.push(`${vni >>> 0}/${p.ip(t)}`);
        ipShared[t] = 1;
        ipShared[j] = 1;
      }
      i = (i + 1) & ipMask;
    }
  }
  return { slot: ipSlot, shared: ipShared, sharedIps, index: ipIndex, mask: ipMask, ip6Owners };
}

export class DirectoryBase {
  readonly count: number;
  /** Slot is an entry of the directory (not overridden by a later duplicate key). */
  present: Uint8Array;
  /** Entries overridden by a later one of the same key (not present). */
  duplicates = 0;
  /** Slot's entry claims its IPs and is forwarded to its NVE: live and at another NVE. */
  elsewhere: Uint8Array;
  /** Slots of live entries placed at this NVE. */
  here: number[] = [];
  /** Slots with anchors. */
  anchored: number[] = [];
  vnis = new Set<number>();
  /** NVE index -> this NVE. */
  nveIsMe: Uint8Array;
  private index: Int32Array;
  private mask: number;
  /** The IP claims, built when first needed (see `ips`). */
  private ipClaims: IpClaims | undefined;
  private readonly w = new Int32Array(PACKED_KEY_WORDS);

  constructor(
    readonly p: PackedEntries,
    readonly nveId: string,
    /** The previous base: its indexes are reused when `p` holds the same entries (a resync). */
    prev?: DirectoryBase,
  ) {
    const n = p.count;
    if (prev && prev.nveId === nveId && sameColumns(prev.p, p)) {
      this.count = n;
      this.present = prev.present;
      this.duplicates = prev.duplicates;
      this.elsewhere = prev.elsewhere;
      this.here = prev.here;
      this.anchored = prev.anchored;
      this.vnis = prev.vnis;
      this.nveIsMe = prev.nveIsMe;
      this.index = prev.index;
      this.mask = prev.mask;
      this.ipClaims = prev.ips;
      return;
    }
    this.count = n;
    this.present = new Uint8Array(n);
    this.elsewhere = new Uint8Array(n);
    this.nveIsMe = new Uint8Array(p.nves.length);
    p.nves.forEach((v, i) => (this.nveIsMe[i] = v.id === nveId ? 1 : 0));
    const cells = cellsFor(n);
    // cells of two words: the key's hash (compared first: most probes read no key) and its slot
    const index = new Int32Array(cells * 2).fill(EMPTY);
    const mask = cells - 1;
    this.index = index;
    this.mask = mask;
    const keys = p.keys;
    const present = this.present;
    const elsewhere = this.elsewhere;
    const state = p.state;
    const nve = p.nve;
    const isMe = this.nveIsMe;
    let lastVni = -1;
    const hashes = new Int32Array(n);
    for (let s = 0; s < n; s++) {
      const a = keys[s * 3]!;
      hashes[s] = mix(a, keys[s * 3 + 1]!, keys[s * 3 + 2]!) | 0;
      present[s] = 1;
      if (a !== lastVni) this.vnis.add((lastVni = a));
      if (state[s] === STATE_WITHDRAWN) continue;
      if (isMe[nve[s]!]) continue;
      elsewhere[s] = 1;
    }
    // (a repeated key's entries share a region, in entry order: the later one still wins)
    const sorted = byRegion(hashes, null, n, cells);
    const sortedHash = sorted.hash;
    const sortedSlot = sorted.item;
    for (let k = 0; k < n; k++) {
      const s = sortedSlot[k]!;
      const h = sortedHash[k]!;
      let i = h & mask;
      for (;;) {
        const t = index[i * 2 + 1]!;
        if (t === EMPTY) {
          index[i * 2] = h;
          index[i * 2 + 1] = s;
          break;
        }
        // (the key words are read only when the hashes match)
        if (
          index[i * 2] === h &&
          keys[t * 3] === keys[s * 3] &&
          keys[t * 3 + 1] === keys[s * 3 + 1] &&
          keys[t * 3 + 2] === keys[s * 3 + 2]
        ) {
          // the same key twice: the later one is the entry (as a Map would keep it)
          present[t] = 0;
          elsewhere[t] = 0;
          this.duplicates++;
          index[i * 2 + 1] = s;
          break;
        }
        i = (i + 1) & mask;
      }
    }
    const extras = p.extras.size > 0;
    for (let s = 0; s < n; s++) {
      if (!present[s]) continue;
      if (state[s] !== STATE_WITHDRAWN && isMe[nve[s]!]) this.here.push(s);
      if (extras && p.extras.get(s)?.anchors.length) this.anchored.push(s);
    }
  }

  /**
   * The IP claims of the entries forwarded elsewhere: built on first use, not with the base. A
   * cold resync hands the FDB rows (which need only the key index) to the batch writer first and
   * builds these while the kernel writes them (the neighbour rows are the first to need them).
   */
  get ips(): IpClaims {
    return (this.ipClaims ??= buildIpClaims(this.p, this.elsewhere));
  }

  /** For IP index j: its entry's slot (valid for the IPs of entries forwarded elsewhere). */
  get ipSlot(): Int32Array {
    return this.ips.slot;
  }

  /** For IP index j: other claiming entries share the IP. */
  get ipShared(): Uint8Array {
    return this.ips.shared;
  }

  /** "vni/ip" of IPs claimed by more than one entry (resolved by NveState's rule). */
  get sharedIps(): string[] {
    return this.ips.sharedIps;
  }

  /** The slot of (vni, mac) key words, or -1. */
  findWords(a: number, b: number, c: number): number {
    const keys = this.p.keys;
    const index = this.index;
    const h = mix(a, b, c) | 0;
    let i = h & this.mask;
    for (;;) {
      const t = index[i * 2 + 1]!;
      if (t === EMPTY) return -1;
      if (index[i * 2] === h && keys[t * 3] === a && keys[t * 3 + 1] === b && keys[t * 3 + 2] === c)
        return t;
      i = (i + 1) & this.mask;
    }
  }

  /** The slot of a MAC id ("vni/mac"), or -1. */
  findId(id: string): number {
    if (!macIdWords(id, this.w)) return -1;
    return this.findWords(this.w[0]!, this.w[1]!, this.w[2]!);
  }

  /** The MAC id of a slot. */
  id(s: number): string {
    return `${this.p.vni(s)}/${this.p.mac(s)}`;
  }

  entry(s: number): DirEntry {
    return this.p.entry(s);
  }

  /** The IP ids ("vni/ip") a slot's entry claims while untouched (none unless elsewhere). */
  claims(s: number): string[] {
    if (!this.elsewhere[s]) return [];
    const p = this.p;
    const vni = p.vni(s);
    const out: string[] = [];
    for (let j = p.ipStart[s]!; j < p.ipStart[s + 1]!; j++) out.push(`${vni}/${p.ip(j)}`);
    return out;
  }

  /** The IP indexes claiming an IP id ("vni/ip"), in slot order. */
  claimants(ipId: string): number[] {
    const slash = ipId.indexOf('/');
    const vni = Number(ipId.slice(0, slash));
    const ip = ipId.slice(slash + 1);
    const v4 = ipv4Number(ip);
    if (v4 === null) return this.ips.ip6Owners.get(ipId) ?? [];
    const c = this.ips;
    const p = this.p;
    const out: number[] = [];
    const h = mix(vni, v4, 0x5bd1e995) | 0;
    let i = h & c.mask;
    for (;;) {
      const t = c.index[i * 2 + 1]!;
      if (t === EMPTY) break;
      if (
        c.index[i * 2] === h &&
        p.ip4[t] === v4 &&
        p.keys[c.slot[t]! * 3] === vni &&
        !p.ip6.has(t)
      )
        out.push(t);
      i = (i + 1) & c.mask;
    }
    return out.sort((a, b) => a - b);
  }
}
