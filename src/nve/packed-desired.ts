// The desired FDB and neighbour rows of the directory's untouched packed entries
// (directory-base.ts), written straight into batch buffers in the maps' own layout: a resync of a
// million entries encodes each once, with no object per row. What is not the base's alone (local,
// moved, changed or touched since the snapshot, lingering, shared IPs) comes from NveState's
// overlay rows (overlayFdb/overlayNeigh) and is appended by the caller.
import { HAND_OVER_ROWS, type PackedRows } from './byte-sync.ts';
import { FDB_RARP_IP4_OFF } from '../dataplane/codecs.ts';
import { encodeIpKey, encodeIpv4KeyNum } from './fast-encode.ts';
import type { L3State } from './l3-state.ts';
import type { NveState } from './nve-state.ts';
import type { FdbEntry } from './tables.ts';

const KEY_BYTES = 12;
const KEY_WORDS = 3;
// (Rows are written into fresh, zero-filled buffers: padding is not written again, and bytes are
// copied by hand rather than through a view per row.)

/** Rows between calls of an `emitted` callback (the batch writer's hand-over size). */
const EMITTED_EVERY = HAND_OVER_ROWS;

/** Remote FDB rows: key from the base, value encoded once per NVE by `encodeRemote`, and the
 * entry's first IPv4 (what a RARP request for the MAC is answered with) written into it.
 * `emitted` is called every EMITTED_EVERY rows (a cold resync hands them over as they come). */
export function emitFdb(
  s: NveState,
  rows: PackedRows,
  encodeRemote: (v: FdbEntry, b: Buffer, o: number) => void,
  vs: number,
  emitted?: () => void,
): void {
  const d = s.directory;
  const b = d.base;
  if (!b) return;
  const p = b.p;
  const nves = p.nves.map((n) => remoteValue(encodeRemote, n.addr, vs));
  const l2 = l2Filter(s);
  rows.reserve(rows.n + b.count);
  const out = new RemoteRowWriter(rows, vs);
  const any6 = p.ip6.size > 0;
  const keys = p.keys;
  const elsewhere = b.elsewhere;
  const flags = d.flags;
  for (let i = 0; i < b.count; i++) {
    if (!elsewhere[i] || flags[i] !== 0 || !l2(keys[i * 3]!)) continue;
    // (rows before this one are complete: whole batches of them can go)
    if (emitted && rows.n % EMITTED_EVERY === 0) emitted();
    out.put(p, any6, i, nves[p.nve[i]!]!);
  }
}

/** The FDB value of a remote entry at the NVE at `addr` (no RARP address), as 32-bit words. */
export function remoteValue(
  encodeRemote: (v: FdbEntry, b: Buffer, o: number) => void,
  addr: string,
  vs: number,
): Int32Array {
  const v = Buffer.alloc(vs);
  encodeRemote({ kind: 'remote', vtep: addr }, v, 0);
  return words(v);
}

/** Columns of packed entries, as PackedEntries and its builder both have them. */
export interface EntryColumns {
  keys: Int32Array;
  ipStart: Int32Array;
  ip4: Int32Array;
  ip6: ReadonlyMap<number, string>;
}

/**
 * Appends remote FDB rows to packed rows (room reserved by the caller): an entry's key, its NVE's
 * encoded value (32-bit words), and the entry's first IPv4 as the RARP address. The one place
 * both a resync's rows (emitFdb) and a cold start's streamed rows (cold-stream.ts) are made.
 */
export class RemoteRowWriter {
  private rk: Int32Array;
  private rb: Buffer;
  private rv: Int32Array;
  private readonly vw: number;

  constructor(
    private readonly rows: PackedRows,
    private readonly vs: number,
  ) {
    this.vw = vs / 4;
    this.rk = rows.kw;
    this.rb = rows.values;
    this.rv = words(rows.values);
  }

  /** Entry i of `p` (valid IP columns) as the next row, with `value` as its value. */
  put(p: EntryColumns, any6: boolean, i: number, value: Int32Array): void {
    const rows = this.rows;
    if (rows.values !== this.rb) {
      // (grown by the caller since: new buffers)
      this.rk = rows.kw;
      this.rb = rows.values;
      this.rv = words(rows.values);
    }
    const keys = p.keys;
    const r = rows.n++;
    const ko = r * KEY_WORDS;
    const ki = i * KEY_WORDS;
    const rk = this.rk;
    rk[ko] = keys[ki]!;
    rk[ko + 1] = keys[ki + 1]!;
    rk[ko + 2] = keys[ki + 2]!;
    const vw = this.vw;
    const vo = r * vw;
    const rv = this.rv;
    for (let w = 0; w < vw; w++) rv[vo + w] = value[w]!;
    const ip4 = p.ip4;
    for (let j = p.ipStart[i]!; j < p.ipStart[i + 1]!; j++) {
      if (any6 && p.ip6.has(j)) continue;
      const a = ip4[j]!;
      const o = r * this.vs + FDB_RARP_IP4_OFF;
      const rb = this.rb;
      rb[o] = a >>> 24;
      rb[o + 1] = (a >>> 16) & 0xff;
      rb[o + 2] = (a >>> 8) & 0xff;
      rb[o + 3] = a & 0xff;
      break;
    }
  }
}

const words = (b: Buffer): Int32Array => new Int32Array(b.buffer, b.byteOffset, b.length >> 2);

/** Neighbour rows: each IP of an untouched entry that it alone claims -> its MAC (`emitted`: as
 * for emitFdb). */
export function emitNeigh(
  s: NveState,
  rows: PackedRows,
  ks: number,
  vs: number,
  emitted?: () => void,
): void {
  const d = s.directory;
  const b = d.base;
  if (!b) return;
  const p = b.p;
  const l2 = l2Filter(s);
  rows.reserve(rows.n + p.ipStart[b.count]!);
  const kb = p.keyBytes;
  const any6 = p.ip6.size > 0;
  const elsewhere = b.elsewhere;
  const flags = d.flags;
  const overlaid = s.ipOverlaid;
  // (the base's IP claims are built here when nothing needed them before: a cold start)
  const shared = b.ipShared;
  for (let i = 0; i < b.count; i++) {
    const vni = p.keys[i * 3]!;
    if (!elsewhere[i] || flags[i] !== 0 || !l2(vni)) continue;
    for (let j = p.ipStart[i]!; j < p.ipStart[i + 1]!; j++) {
      if (overlaid[j] || shared[j]) continue;
      if (emitted && rows.n % EMITTED_EVERY === 0) emitted();
      const r = rows.add();
      const six = any6 ? p.ip6.get(j) : undefined;
      if (six === undefined) encodeIpv4KeyNum(vni, p.ip4[j]!, rows.keys, r * ks, true);
      else encodeIpKey(vni, six, rows.keys, r * ks);
      // the MAC: bytes 4..10 of the entry's key
      const vo = r * vs;
      const ko = i * KEY_BYTES + 4;
      const rv = rows.values;
      rv[vo] = kb[ko]!;
      rv[vo + 1] = kb[ko + 1]!;
      rv[vo + 2] = kb[ko + 2]!;
      rv[vo + 3] = kb[ko + 3]!;
      rv[vo + 4] = kb[ko + 4]!;
      rv[vo + 5] = kb[ko + 5]!;
    }
  }
}

/**
 * Whether a VNI gets L2 rows (entries of route-only VNIs do not), cached per run of a VNI; under
 * the L3 overlay `l3` (default: the state's).
 */
export function l2Filter(s: NveState, l3: L3State = s.l3): (vni: number) => boolean {
  if (!s.routeOnlyWith(l3)) return () => true;
  let last = -1;
  let ok = false;
  return (vni) => {
    if (vni !== last) {
      last = vni;
      ok = s.hasL2(vni, l3);
    }
    return ok;
  };
}
