// The desired FDB and neighbour rows of the directory's untouched packed entries
// (directory-base.ts), written straight into batch buffers in the maps' own layout: a resync of a
// million entries encodes each once, with no object per row. What is not the base's alone (local,
// moved, changed or touched since the snapshot, lingering, shared IPs) comes from NveState's
// overlay rows (overlayFdb/overlayNeigh) and is appended by the caller.
import { HAND_OVER_ROWS, type PackedRows } from './byte-sync.ts';
import { FDB_RARP_IP4_OFF } from '../dataplane/codecs.ts';
import { encodeIpKey, encodeIpv4KeyNum } from './fast-encode.ts';
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
  // one value per NVE, as 32-bit words
  const vw = vs / 4;
  const nves = p.nves.map((n) => {
    const v = Buffer.alloc(vs);
    encodeRemote({ kind: 'remote', vtep: n.addr }, v, 0);
    return new Int32Array(v.buffer, v.byteOffset, vw);
  });
  const l2 = l2Filter(s);
  rows.reserve(rows.n + b.count);
  const keys = p.keys;
  const rk = rows.kw;
  const rv = new Int32Array(rows.values.buffer, rows.values.byteOffset, rows.values.length >> 2);
  const rb = rows.values;
  const ip4 = p.ip4;
  const any6 = p.ip6.size > 0;
  const elsewhere = b.elsewhere;
  const flags = d.flags;
  for (let i = 0; i < b.count; i++) {
    if (!elsewhere[i] || flags[i] !== 0 || !l2(keys[i * 3]!)) continue;
    // (rows before this one are complete: whole batches of them can go)
    if (emitted && rows.n % EMITTED_EVERY === 0) emitted();
    const r = rows.n++;
    const ko = r * KEY_WORDS;
    const ki = i * KEY_WORDS;
    rk[ko] = keys[ki]!;
    rk[ko + 1] = keys[ki + 1]!;
    rk[ko + 2] = keys[ki + 2]!;
    const v = nves[p.nve[i]!]!;
    const vo = r * vw;
    for (let w = 0; w < vw; w++) rv[vo + w] = v[w]!;
    for (let j = p.ipStart[i]!; j < p.ipStart[i + 1]!; j++) {
      if (any6 && p.ip6.has(j)) continue;
      const a = ip4[j]!;
      const o = r * vs + FDB_RARP_IP4_OFF;
      rb[o] = a >>> 24;
      rb[o + 1] = (a >>> 16) & 0xff;
      rb[o + 2] = (a >>> 8) & 0xff;
      rb[o + 3] = a & 0xff;
      break;
    }
  }
}

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

/** Whether a VNI gets L2 rows (entries of route-only VNIs do not), cached per run of a VNI. */
function l2Filter(s: NveState): (vni: number) => boolean {
  if (!s.routeOnly) return () => true;
  let last = -1;
  let ok = false;
  return (vni) => {
    if (vni !== last) {
      last = vni;
      ok = s.hasL2(vni);
    }
    return ok;
  };
}
