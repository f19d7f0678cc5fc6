// The desired FDB, neighbour and RARP rows of the directory's untouched packed entries
// (directory-base.ts), written straight into batch buffers in the maps' own layout: a resync of a
// million entries encodes each once, with no object per row. What is not the base's alone (local,
// moved, changed or touched since the snapshot, lingering, shared IPs) comes from NveState's
// overlay rows (overlayFdb/overlayNeigh/overlayRarp) and is appended by the caller.
import type { PackedRows } from './byte-sync.ts';
import { encodeIpKey, encodeIpv4KeyNum } from './fast-encode.ts';
import type { NveState } from './nve-state.ts';
import type { FdbEntry } from './tables.ts';

const KEY_BYTES = 12;

/** Remote FDB rows: key from the base, value encoded once per NVE by `encodeRemote`. */
export function emitFdb(
  s: NveState,
  rows: PackedRows,
  encodeRemote: (v: FdbEntry, b: Buffer, o: number) => void,
  vs: number,
): void {
  const d = s.directory;
  const b = d.base;
  if (!b) return;
  const p = b.p;
  const nves = p.nves.map((n) => {
    const v = Buffer.alloc(vs);
    encodeRemote({ kind: 'remote', vtep: n.addr }, v, 0);
    return v;
  });
  const l2 = l2Filter(s);
  rows.reserve(rows.n + b.count);
  const kb = p.keyBytes;
  for (let i = 0; i < b.count; i++) {
    if (!b.elsewhere[i] || d.flags[i] !== 0 || !l2(p.keys[i * 3]!)) continue;
    const r = rows.n++;
    rows.keys.set(kb.subarray(i * KEY_BYTES, (i + 1) * KEY_BYTES), r * KEY_BYTES);
    rows.values.set(nves[p.nve[i]!]!, r * vs);
  }
}

/** Neighbour rows: each IP of an untouched entry that it alone claims -> its MAC. */
export function emitNeigh(s: NveState, rows: PackedRows, ks: number, vs: number): void {
  const d = s.directory;
  const b = d.base;
  if (!b) return;
  const p = b.p;
  const l2 = l2Filter(s);
  rows.reserve(rows.n + p.ipStart[b.count]!);
  const kb = p.keyBytes;
  for (let i = 0; i < b.count; i++) {
    const vni = p.keys[i * 3]!;
    if (!b.elsewhere[i] || d.flags[i] !== 0 || !l2(vni)) continue;
    for (let j = p.ipStart[i]!; j < p.ipStart[i + 1]!; j++) {
      if (s.ipOverlaid[j] || b.ipShared[j]) continue;
      const r = rows.add();
      const six = p.ip6.get(j);
      if (six === undefined) encodeIpv4KeyNum(vni, p.ip4[j]!, rows.keys, r * ks);
      else encodeIpKey(vni, six, rows.keys, r * ks);
      const vo = r * vs;
      rows.values.set(kb.subarray(i * KEY_BYTES + 4, i * KEY_BYTES + 10), vo);
      rows.values.fill(0, vo + 6, vo + vs);
    }
  }
}

/** RARP rows: the first IPv4 of each untouched entry that claims its IPs. */
export function emitRarp(s: NveState, rows: PackedRows): void {
  const d = s.directory;
  const b = d.base;
  if (!b) return;
  const p = b.p;
  const l2 = l2Filter(s);
  rows.reserve(rows.n + b.count);
  const kb = p.keyBytes;
  for (let i = 0; i < b.count; i++) {
    if (!b.elsewhere[i] || d.flags[i] !== 0 || !l2(p.keys[i * 3]!)) continue;
    for (let j = p.ipStart[i]!; j < p.ipStart[i + 1]!; j++) {
      if (p.ip6.has(j)) continue;
      const r = rows.add();
      rows.keys.set(kb.subarray(i * KEY_BYTES, (i + 1) * KEY_BYTES), r * KEY_BYTES);
      const v = p.ip4[j]!;
      const o = r * 4;
      rows.values[o] = v >>> 24;
      rows.values[o + 1] = (v >>> 16) & 0xff;
      rows.values[o + 2] = (v >>> 8) & 0xff;
      rows.values[o + 3] = v & 0xff;
      break;
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
