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
  DeferredSnapshot,
  PACKED_KEY_BYTES,
  PackedEntriesBuilder,
  ipv4Number,
  packEntries,
  type PackedEntries,
  type PackedEntriesSink,
  type PackedSnapshotMsg,
} from './packed-snapshot.ts';
import {
  anchor as anchorSchema,
  member as memberSchema,
  parseNvaMessage,
  routedVn,
} from './schema.ts';
import type { WireEntry, WireMember, WireRoutedVn } from './schema.ts';
import { NVE_ID_RE, VNI_MAX } from './fast-check.ts';
import { NVA_SNAPSHOT, WIRE_LEN, WIRE_VARINT } from './wire-format.ts';

/** Node's Buffer has this method; @types/node does not list it. */
type Latin1Buffer = Buffer & { latin1Slice(start: number, end: number): string };

/** Hex digit values by char code (-1: not one). */
const HEX = Int8Array.from({ length: 256 }, (_, c) => hexVal(c));

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

/**
 * The packed key of (vni, the 17-byte MAC text at buf[macS]) at kb[ko]: "xx:xx:xx:xx:xx:xx", any
 * case (the schema lower-cases it first); false for any other MAC text.
 */
function putKey(kb: Uint8Array, ko: number, vni: number, buf: Buffer, macS: number): boolean {
  for (let k = 0; k < 6; k++) {
    const p = macS + k * 3;
    const hi = HEX[buf[p]!]!;
    const lo = HEX[buf[p + 1]!]!;
    if (hi < 0 || lo < 0 || (k < 5 && buf[p + 2] !== 58)) return false;
    kb[ko + 4 + k] = (hi << 4) | lo;
  }
  kb[ko] = vni & 0xff;
  kb[ko + 1] = (vni >>> 8) & 0xff;
  kb[ko + 2] = vni >>> 16;
  kb[ko + 3] = 0;
  kb[ko + 10] = 0;
  kb[ko + 11] = 0;
  return true;
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

  /**
   * The common entry read straight from buf[pos, end): one-byte tags and lengths, known fields,
   * at most one IP (IPv4), no TSI name or anchors. False, with nothing written, for anything
   * else: then `entry` reads it (and the checks are the same).
   */
  common(pos: number, end: number): boolean {
    const buf = this.buf;
    let vni = 0;
    let macS = -1;
    let ipS = -1;
    let ipE = -1;
    let ipSeq = 0;
    let idS = -1;
    let idLen = 0;
    let addrS = -1;
    let addrLen = 0;
    let seq = 0;
    let state = 0;
    let changed = 0;
    while (pos < end) {
      const tag = buf[pos++]!;
      if (tag === 0x38 || tag === 0x08 || tag === 0x30 || tag === 0x40) {
        // varints: state, vni, seq, changedAtMs (up to 2^53, as Reader.varint)
        let v = 0;
        let mul = 1;
        for (;;) {
          if (pos >= end || mul > 2 ** 42) return false;
          const c = buf[pos++]!;
          v += (c & 0x7f) * mul;
          if (c < 0x80) break;
          mul *= 128;
        }
        if (tag === 0x38) state = v;
        else if (tag === 0x08) vni = v;
        else if (tag === 0x30) seq = v;
        else changed = v;
        continue;
      }
      // length-delimited: mac, IP binding, NVE id, NVE address, TSI name (empty only)
      if (pos >= end) return false;
      const len = buf[pos++]!;
      const s = pos;
      pos += len;
      if (len >= 0x80 || pos > end) return false;
      if (tag === 0x12) macS = len === 17 ? s : -2;
      else if (tag === 0x22) {
        idS = s;
        idLen = len;
      } else if (tag === 0x2a) {
        addrS = s;
        addrLen = len;
      } else if (tag === 0x1a) {
        // IpBinding{ip = 1; seq = 2}, in that order, one-byte seq
        if (ipS !== -1 || len < 2 || buf[s] !== 0x0a) return false;
        const l = buf[s + 1]!;
        ipS = s + 2;
        ipE = ipS + l;
        if (ipE === pos) ipSeq = 0;
        else if (ipE + 2 === pos && buf[ipE] === 0x10 && buf[ipE + 1]! < 0x80)
          ipSeq = buf[ipE + 1]!;
        else return false;
      } else if (tag !== 0x4a || len !== 0) return false;
    }
    if (macS < 0 || idS < 0 || addrS < 0) return false;
    if (vni < 1 || vni > VNI_MAX) return false;
    if (state < 1 || state > 4) return false;
    const v4 = ipS >= 0 ? ipv4At(buf, ipS, ipE) : 0;
    if (v4 < 0) return false;
    const b = this.b;
    const i = b.begin();
    const kb = b.keyBytes;
    const ko = i * PACKED_KEY_BYTES;
    if (!putKey(kb, ko, vni, buf, macS)) return false;
    const nve = this.nve(idS, idLen, addrS, addrLen);
    if (ipS >= 0) b.addIp4(v4, ipSeq);
    b.nve[i] = nve;
    b.seq[i] = seq;
    b.changedAtMs[i] = changed;
    b.state[i] = state;
    b.end();
    return true;
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
    if (!putKey(kb, ko, vni, buf, macS)) throw new Unexpected('bad MAC');
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

/**
 * A member, validated by the schema; the same NVE (id, address) is in every VN it serves, so
 * `nves` remembers the canonical address of each pair validated already (a member of another
 * VNI then only has its VNI checked).
 */
function member(r: Reader, nves: Map<string, string>): WireMember {
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
  const pair = `${m.nveId}\n${m.nveAddr}`;
  const addr = nves.get(pair);
  if (addr !== undefined && m.vni >= 1 && m.vni <= VNI_MAX)
    return { vni: m.vni, nveId: m.nveId, nveAddr: addr };
  const ok = memberSchema.safeParse(m);
  if (!ok.success) throw new Unexpected('bad member');
  nves.set(pair, ok.data.nveAddr);
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

const NO_BYTES = Buffer.alloc(0);

/** Entries decoded between two calls of a sink (packed-snapshot.ts: PackedEntriesSink). */
export const SINK_CHUNK_ENTRIES = 4096;

/**
 * A Snapshot message read but for its entries (counted, not decoded): the small parts are
 * validated now, the entries when asked for, from the same bytes.
 */
class WireSnapshot extends DeferredSnapshot {
  constructor(
    private buf: Buffer,
    /** The Snapshot message's bytes in buf. */
    private readonly start: number,
    private readonly end: number,
    count: number,
    revision: number,
    vnis: number[],
    members: WireMember[],
    routedVns: WireRoutedVn[],
    /** The whole NvaMessage through proto-loader, for entries the fast decoder leaves alone. */
    private readonly fallback: ((buf: Buffer) => unknown) | undefined,
  ) {
    super(revision, vnis, members, routedVns, count);
  }

  protected decode(sink: PackedEntriesSink | undefined): PackedEntries {
    const out = this.decodeOnce(sink);
    // (decoded for good: the snapshot no longer keeps the message's bytes alive)
    this.buf = NO_BYTES;
    return out;
  }

  private decodeOnce(sink: PackedEntriesSink | undefined): PackedEntries {
    try {
      return this.fast(sink);
    } catch (err) {
      if (!(err instanceof Unexpected)) throw err;
      if (!this.fallback) throw new SnapshotRefused(err.message);
      // (anything the fast decoder does not handle: proto-loader and the schema decide)
      const parsed = parseNvaMessage(this.fallback(this.buf));
      if (!parsed.ok) throw new SnapshotRefused(parsed.reason);
      if (!('snapshot' in parsed.value)) throw new SnapshotRefused('not a snapshot');
      return packEntries(parsed.value.snapshot.entries);
    }
  }

  /** The entries in order, `sink` told every SINK_CHUNK_ENTRIES entries and at the end. */
  private fast(sink: PackedEntriesSink | undefined): PackedEntries {
    const sr = new SnapshotReader(this.buf, this.entryCount);
    const r = new Reader(this.buf, this.start, this.end);
    const b = sr.b;
    let told = 0;
    while (r.pos < r.end) {
      const tag = r.tag();
      if (tag !== 3 * 8 + WIRE_LEN) {
        r.skip(tag & 7);
        continue;
      }
      const outer = r.enter();
      if (sr.common(r.pos, r.end)) r.pos = r.end;
      else sr.entry(r);
      r.leave(outer);
      if (sink && b.n - told >= SINK_CHUNK_ENTRIES) {
        sink.decoded(b, told, b.n);
        told = b.n;
      }
    }
    if (sink && b.n > told) sink.decoded(b, told, b.n);
    return b.build();
  }
}

/** A snapshot's entries were refused (by the fast decoder, or by the fallback and why). */
export class SnapshotRefused extends Error {
  constructor(reason: string) {
    super(`snapshot refused: ${reason}`);
  }
}

/** The Snapshot message in r, read but for its entries (counted); r is left at its end. */
function snapshot(
  buf: Buffer,
  r: Reader,
  fallback: ((buf: Buffer) => unknown) | undefined,
): WireSnapshot {
  const start = r.pos;
  let count = 0;
  let revision = 0;
  const vnis: number[] = [];
  const members: WireMember[] = [];
  const nves = new Map<string, string>();
  const routedVns: WireRoutedVn[] = [];
  while (r.pos < r.end) {
    const tag = r.tag();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 3 && wire === WIRE_LEN) {
      count++;
      r.skip(wire);
    } else if (field === 1 && wire === WIRE_VARINT) revision = r.varint();
    else if (field === 2 && wire === WIRE_LEN) {
      // packed repeated uint32 (proto3's default encoding)
      r.inSub((sub) => {
        while (sub.pos < sub.end) vnis.push(sub.uint32());
      });
    } else if (field === 2 && wire === WIRE_VARINT) vnis.push(r.uint32());
    else if (field === 4 && wire === WIRE_LEN) members.push(r.inSub((sub) => member(sub, nves)));
    else if (field === 5 && wire === WIRE_LEN) routedVns.push(r.inSub(routed));
    else r.skip(wire);
  }
  for (const v of vnis) if (v < 1 || v > VNI_MAX) throw new Unexpected('bad VNI');
  if (routedVns.length > LIMITS.routedVnsPerSnapshot) throw new Unexpected('too many routed VNs');
  return new WireSnapshot(buf, start, r.pos, count, revision, vnis, members, routedVns, fallback);
}

/** An NvaMessage carrying exactly one Snapshot, read but for its entries; else null. */
function scanSnapshotMessage(
  buf: Buffer,
  fallback?: (buf: Buffer) => unknown,
): WireSnapshot | null {
  try {
    const r = new Reader(buf, 0, buf.length);
    if (r.end === 0) return null;
    if (r.varint() !== NVA_SNAPSHOT * 8 + WIRE_LEN) return null;
    const s = r.inSub((sub) => snapshot(buf, sub, fallback));
    if (r.pos !== r.end) return null;
    return s;
  } catch (err) {
    if (err instanceof Unexpected) return null;
    throw err;
  }
}

/**
 * Decode an NvaMessage carrying exactly one Snapshot into packed form, validated; null for
 * anything else or anything it does not accept (then use proto-loader and zod).
 */
export function decodeSnapshotMessage(
  buf: Buffer,
): { snapshot: PackedSnapshotMsg; msg: 'snapshot' } | null {
  const s = scanSnapshotMessage(buf);
  if (!s) return null;
  let packed: PackedEntries;
  try {
    packed = s.decodeEntries();
  } catch (err) {
    if (err instanceof SnapshotRefused) return null;
    throw err;
  }
  const { revision, vnis, members, routedVns } = s;
  return { snapshot: { revision, vnis, packed, members, routedVns }, msg: 'snapshot' };
}

/**
 * A response deserializer: a Snapshot read but for its entries (a DeferredSnapshot: its entries
 * are decoded and validated by whoever takes them, so a cold resync can write the first ones
 * while the rest are decoded), else `fallback`. Entries the fast decoder does not accept go to
 * `fallback` and the schema then; refused, they throw SnapshotRefused where they are taken.
 */
export function withSnapshotDecoder(fallback: (buf: Buffer) => unknown): (buf: Buffer) => unknown {
  return (buf) => {
    const s = scanSnapshotMessage(buf, fallback);
    return s ? { snapshot: s, msg: 'snapshot' } : fallback(buf);
  };
}
