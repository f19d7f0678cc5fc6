// A hand-written protobuf decoder for NvaMessage{snapshot} straight into packed columns
// (packed-snapshot.ts): a snapshot of a million entries is decoded without an object per entry,
// and validated as it is read, accepting what the schema (schema.ts) accepts. MACs and IPv4
// addresses are parsed from the bytes, an NVE's id and address are read and checked once per run
// of entries that name it. Anything it does not handle (non-ASCII text, an unknown state, a field
// it does not know at the top) gives null: then proto-loader and zod decide, and say why.
import { isIP } from 'node:net';
import { anchor as anchorOf, Reader, Unexpected } from './change-decoder.ts';
import { canonicalIp } from './ip-text.ts';
import { LIMITS } from './limits.ts';
import {
  PACKED_KEY_BYTES,
  PackedEntriesBuilder,
  ipv4Number,
  type PackedSnapshotMsg,
} from './packed-snapshot.ts';
import { anchor as anchorSchema, member as memberSchema, routedVn } from './schema.ts';
import type { WireEntry, WireMember, WireRoutedVn } from './schema.ts';
import { NVE_ID_RE, VNI_MAX } from './fast-check.ts';
import { NVA_SNAPSHOT, WIRE_LEN, WIRE_VARINT } from './wire-format.ts';

/** Node's Buffer has this method; @types/node does not list it. */
type Latin1Buffer = Buffer & { latin1Slice(start: number, end: number): string };

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** The dotted quad at buf[s..e) as a number (no leading zeros, as node:net accepts), or -1. */
function ipv4At(buf: Buffer, s: number, e: number): number {
  const n = e - s;
  if (n < 7 || n > 15) return -1;
  let v = 0;
  let part = 0;
  let val = 0;
  let digits = 0;
  for (let i = s; i <= e; i++) {
    const c = i < e ? buf[i]! : 46;
    if (c === 46) {
      if (digits === 0 || part > 3) return -1;
      v = v * 256 + val;
      part++;
      val = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && val === 0) return -1;
      val = val * 10 + (c - 48);
      if (val > 255) return -1;
      digits++;
    } else return -1;
  }
  return part === 4 ? v : -1;
}

function sameBytes(buf: Buffer, a: number, b: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (buf[a + i] !== buf[b + i]) return false;
  return true;
}

/** A string field's position in the buffer (start, end) without making a string. */
function span(r: Reader): number {
  const len = r.varint();
  const start = r.pos;
  r.pos += len;
  if (r.pos > r.end) throw new Unexpected('truncated string');
  return start;
}

class SnapshotReader {
  readonly b: PackedEntriesBuilder;
  /** The last NVE read: its id and address bytes, and its index. */
  private lastId = -1;
  private lastIdLen = 0;
  private lastAddr = -1;
  private lastAddrLen = 0;
  private lastNve = -1;

  constructor(
    private readonly buf: Buffer,
    capacity: number,
  ) {
    this.b = new PackedEntriesBuilder(capacity, capacity);
  }

  private text(s: number, e: number): string {
    for (let i = s; i < e; i++) if (this.buf[i]! >= 0x80) throw new Unexpected('non-ASCII text');
    return (this.buf as Latin1Buffer).latin1Slice(s, e);
  }

  /** An IP's canonical form added to the entry being built. */
  private ip(s: number, e: number, seq: number): void {
    const v4 = ipv4At(this.buf, s, e);
    if (v4 >= 0) return this.b.addIp4(v4, seq);
    const t = this.text(s, e);
    if (t.length > 45) throw new Unexpected('IP too long');
    const family = isIP(t);
    if (family === 6) return this.b.addIp6(canonicalIp(t), seq);
    const n = family === 4 ? ipv4Number(t) : null;
    if (n === null) throw new Unexpected('not an IP');
    this.b.addIp4(n, seq);
  }

  private ipBinding(r: Reader): void {
    let s = -1;
    let e = -1;
    let seq = 0;
    while (r.pos < r.end) {
      const tag = r.tag();
      const field = tag >>> 3;
      const wire = tag & 7;
      if (field === 1 && wire === WIRE_LEN) {
        s = span(r);
        e = r.pos;
      } else if (field === 2 && wire === WIRE_VARINT) seq = r.varint();
      else r.skip(wire);
    }
    if (s < 0) throw new Unexpected('IP missing');
    this.ip(s, e, seq);
  }

  /** The NVE of an entry, by its id and address bytes (checked once per run of the same NVE). */
  private nve(idS: number, idLen: number, addrS: number, addrLen: number): number {
    const buf = this.buf;
    if (
      this.lastNve >= 0 &&
      idLen === this.lastIdLen &&
      addrLen === this.lastAddrLen &&
      sameBytes(buf, idS, this.lastId, idLen) &&
      sameBytes(buf, addrS, this.lastAddr, addrLen)
    )
      return this.lastNve;
    const id = this.text(idS, idS + idLen);
    if (id.length < 1 || id.length > LIMITS.nveIdChars || !NVE_ID_RE.test(id))
      throw new Unexpected('bad NVE id');
    const addrText = this.text(addrS, addrS + addrLen);
    if (addrText.length > 45 || isIP(addrText) === 0) throw new Unexpected('bad NVE address');
    this.lastNve = this.b.nveOf(id, canonicalIp(addrText));
    this.lastId = idS;
    this.lastIdLen = idLen;
    this.lastAddr = addrS;
    this.lastAddrLen = addrLen;
    return this.lastNve;
  }

  entry(r: Reader): void {
    const b = this.b;
    const buf = this.buf;
    const i = b.begin();
    const kb = b.keyBytes;
    const ko = i * PACKED_KEY_BYTES;
    let vni = 0;
    let macS = -1;
    let macLen = 0;
    let idS = -1;
    let idLen = 0;
    let addrS = -1;
    let addrLen = 0;
    let seq = 0;
    let state = 0;
    let changed = 0;
    let tsi = '';
    let anchors: WireEntry['anchors'] | undefined;
    while (r.pos < r.end) {
      const tag = r.tag();
      const field = tag >>> 3;
      const wire = tag & 7;
      if (wire === WIRE_LEN) {
        if (field === 2) {
          macS = span(r);
          macLen = r.pos - macS;
        } else if (field === 3) {
          const outer = r.enter();
          this.ipBinding(r);
          r.leave(outer);
        } else if (field === 4) {
          idS = span(r);
          idLen = r.pos - idS;
        } else if (field === 5) {
          addrS = span(r);
          addrLen = r.pos - addrS;
        } else if (field === 9) {
          const s = span(r);
          // (the NVA writes an empty TSI name for entries of other NVEs: no string for it)
          tsi = r.pos === s ? '' : this.text(s, r.pos);
        } else if (field === 10) {
          const a = anchorSchema.safeParse(r.inSub(anchorOf));
          if (!a.success) throw new Unexpected('bad anchor');
          (anchors ??= []).push(a.data);
        } else r.skip(wire);
      } else if (wire === WIRE_VARINT) {
        if (field === 1) vni = r.uint32();
        else if (field === 6) seq = r.varint();
        else if (field === 7) state = r.varint();
        else if (field === 8) changed = r.varint();
        else r.skip(wire);
      } else r.skip(wire);
    }
    if (vni < 1 || vni > VNI_MAX) throw new Unexpected('bad VNI');
    if (state < 1 || state > 4) throw new Unexpected('bad state');
    if (macLen !== 17) throw new Unexpected('bad MAC');
    // "xx:xx:xx:xx:xx:xx", any case (the schema lower-cases it first)
    for (let k = 0; k < 6; k++) {
      const p = macS + k * 3;
      const hi = hexVal(buf[p]!);
      const lo = hexVal(buf[p + 1]!);
      if (hi < 0 || lo < 0 || (k < 5 && buf[p + 2] !== 58)) throw new Unexpected('bad MAC');
      kb[ko + 4 + k] = (hi << 4) | lo;
    }
    kb[ko] = vni & 0xff;
    kb[ko + 1] = (vni >>> 8) & 0xff;
    kb[ko + 2] = vni >>> 16;
    kb[ko + 3] = 0;
    kb[ko + 10] = 0;
    kb[ko + 11] = 0;
    if (idS < 0 || addrS < 0) throw new Unexpected('NVE missing');
    if (b.ipsSince(b.ipStart[i]!) > LIMITS.ipsPerEntry) throw new Unexpected('too many IPs');
    if (tsi.length > LIMITS.tsiChars) throw new Unexpected('TSI name too long');
    if (anchors && anchors.length > LIMITS.ipsPerEntry) throw new Unexpected('too many anchors');
    b.nve[i] = this.nve(idS, idLen, addrS, addrLen);
    b.seq[i] = seq;
    b.changedAtMs[i] = changed;
    b.state[i] = state;
    if (tsi || anchors) b.extras.set(i, { tsi, anchors: anchors ?? [] });
    b.end();
  }
}

function member(r: Reader): WireMember {
  const m = { vni: 0, nveId: '', nveAddr: '' };
  while (r.pos < r.end) {
    const tag = r.tag();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 1 && wire === WIRE_VARINT) m.vni = r.uint32();
    else if (field === 2 && wire === WIRE_LEN) m.nveId = r.string();
    else if (field === 3 && wire === WIRE_LEN) m.nveAddr = r.string();
    else r.skip(wire);
  }
  const ok = memberSchema.safeParse(m);
  if (!ok.success) throw new Unexpected('bad member');
  return ok.data;
}

function prefixRoute(r: Reader): { prefix: string; via: string } {
  const out = { prefix: '', via: '' };
  while (r.pos < r.end) {
    const tag = r.tag();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 1 && wire === WIRE_LEN) out.prefix = r.string();
    else if (field === 2 && wire === WIRE_LEN) out.via = r.string();
    else r.skip(wire);
  }
  return out;
}

function routed(r: Reader): WireRoutedVn {
  const v = {
    vni: 0,
    vrf: 0,
    l3: false,
    gatewayMac: '',
    gatewayIp4: '',
    gatewayIp6: '',
    unreachable: false,
    routes: [] as { prefix: string; via: string }[],
  };
  while (r.pos < r.end) {
    const tag = r.tag();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire === WIRE_VARINT && field === 1) v.vni = r.uint32();
    else if (wire === WIRE_VARINT && field === 2) v.vrf = r.uint32();
    else if (wire === WIRE_VARINT && field === 3) v.l3 = r.varint() !== 0;
    else if (wire === WIRE_LEN && field === 4) v.gatewayMac = r.string();
    else if (wire === WIRE_LEN && field === 5) v.gatewayIp4 = r.string();
    else if (wire === WIRE_LEN && field === 6) v.gatewayIp6 = r.string();
    else if (wire === WIRE_VARINT && field === 7) v.unreachable = r.varint() !== 0;
    else if (wire === WIRE_LEN && field === 8) v.routes.push(r.inSub(prefixRoute));
    else r.skip(wire);
  }
  const ok = routedVn.safeParse(v);
  if (!ok.success) throw new Unexpected('bad routed VN');
  return ok.data;
}

/** How many entries (field 3) the Snapshot message in r holds, without reading them. */
function countEntries(r: Reader): number {
  const save = r.pos;
  let n = 0;
  while (r.pos < r.end) {
    const tag = r.tag();
    if (tag === 3 * 8 + WIRE_LEN) n++;
    r.skip(tag & 7);
  }
  r.pos = save;
  return n;
}

function snapshot(buf: Buffer, r: Reader): PackedSnapshotMsg {
  const sr = new SnapshotReader(buf, countEntries(r));
  let revision = 0;
  const vnis: number[] = [];
  const members: WireMember[] = [];
  const routedVns: WireRoutedVn[] = [];
  while (r.pos < r.end) {
    const tag = r.tag();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 3 && wire === WIRE_LEN) {
      const outer = r.enter();
      sr.entry(r);
      r.leave(outer);
    } else if (field === 1 && wire === WIRE_VARINT) revision = r.varint();
    else if (field === 2 && wire === WIRE_LEN) {
      // packed repeated uint32 (proto3's default encoding)
      r.inSub((sub) => {
        while (sub.pos < sub.end) vnis.push(sub.uint32());
      });
    } else if (field === 2 && wire === WIRE_VARINT) vnis.push(r.uint32());
    else if (field === 4 && wire === WIRE_LEN) members.push(r.inSub(member));
    else if (field === 5 && wire === WIRE_LEN) routedVns.push(r.inSub(routed));
    else r.skip(wire);
  }
  for (const v of vnis) if (v < 1 || v > VNI_MAX) throw new Unexpected('bad VNI');
  if (routedVns.length > LIMITS.routedVnsPerSnapshot) throw new Unexpected('too many routed VNs');
  return { revision, vnis, packed: sr.b.build(), members, routedVns };
}

/**
 * Decode an NvaMessage carrying exactly one Snapshot into packed form, validated; null for
 * anything else or anything it does not accept (then use proto-loader and zod).
 */
export function decodeSnapshotMessage(
  buf: Buffer,
): { snapshot: PackedSnapshotMsg; msg: 'snapshot' } | null {
  try {
    const r = new Reader(buf, 0, buf.length);
    if (r.end === 0) return null;
    if (r.varint() !== NVA_SNAPSHOT * 8 + WIRE_LEN) return null;
    const s = r.inSub((sub) => snapshot(buf, sub));
    if (r.pos !== r.end) return null;
    return { snapshot: s, msg: 'snapshot' };
  } catch (err) {
    if (err instanceof Unexpected) return null;
    throw err;
  }
}

/** A response deserializer: packed snapshots, else `fallback`. */
export function withSnapshotDecoder(fallback: (buf: Buffer) => unknown): (buf: Buffer) => unknown {
  return (buf) => decodeSnapshotMessage(buf) ?? fallback(buf);
}
