// A hand-written protobuf decoder for the one NVA message every NVE receives for every move:
// NvaMessage{change}. It gives exactly the object proto-loader's deserializer gives (camelCase,
// uint64 as numbers, enums as names, defaults filled in, `msg: 'change'`) without protobufjs's
// decode-then-toObject double pass; any other message, or anything it does not expect, goes to
// proto-loader's deserializer. A unit test holds the two equal on a table of messages.

import {
  ENTRY_STATES,
  NVA_CHANGE,
  WIRE_I32,
  WIRE_I64,
  WIRE_LEN,
  WIRE_VARINT,
} from './wire-format.ts';

/** Node's Buffer has this method (toString's latin1 case calls it); @types/node does not list it. */
type Latin1Buffer = Buffer & { latin1Slice(start: number, end: number): string };

/** Thrown inside the decoder: the caller falls back to proto-loader. */
export class Unexpected extends Error {}

export class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start: number,
    /** End of the message being read; narrowed while a sub-message is read in place. */
    public end: number,
  ) {
    this.pos = start;
  }

  varint(): number {
    // One byte (field tags, small numbers): most varints of a Change.
    if (this.pos < this.end) {
      const b = this.buf[this.pos] as number;
      if (b < 0x80) {
        this.pos += 1;
        return b;
      }
    }
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Unexpected('truncated varint');
      const b = this.buf[this.pos++] as number;
      result += (b & 0x7f) * mul;
      if (b < 0x80) {
        // Past 2^53 a JS number is inexact: protobufjs's Long rounding decides those.
        if (result > Number.MAX_SAFE_INTEGER) throw new Unexpected('varint beyond 2^53');
        return result;
      }
      mul *= 128;
    }
    throw new Unexpected('varint too long');
  }

  uint32(): number {
    const v = this.varint();
    if (v > 0xffffffff) throw new Unexpected('uint32 out of range');
    return v;
  }

  string(): string {
    const len = this.varint();
    const start = this.pos;
    this.pos += len;
    if (this.pos > this.end) throw new Unexpected('truncated string');
    // ASCII only (MACs, IPs, ids): other text goes to protobufjs's own UTF-8 decoding.
    for (let i = start; i < this.pos; i++) {
      if ((this.buf[i] as number) >= 0x80) throw new Unexpected('non-ASCII text');
    }
    // latin1Slice: toString('latin1', ...) without its argument checks (a third of the cost).
    return (this.buf as Latin1Buffer).latin1Slice(start, this.pos);
  }

  /** A sub-message: a reader over its bytes, and this one moved past them. */
  sub(): Reader {
    const len = this.varint();
    const start = this.pos;
    this.pos += len;
    if (this.pos > this.end) throw new Unexpected('truncated message');
    return new Reader(this.buf, start, this.pos);
  }

  /**
   * Read the sub-message starting here in place: `end` is narrowed to it while `read` runs (no
   * Reader per entry and IP binding: a million of each per bench:nva run at 1,000 NVEs).
   */
  inSub<T>(read: (r: Reader) => T): T {
    const len = this.varint();
    const outer = this.end;
    const end = this.pos + len;
    if (end > outer) throw new Unexpected('truncated message');
    this.end = end;
    const out = read(this);
    this.end = outer;
    return out;
  }

  /**
   * Narrow to the sub-message starting here (as inSub, without a callback: for the hottest
   * loops); returns the end to give back to leave() once it is read.
   */
  enter(): number {
    const len = this.varint();
    const outer = this.end;
    const end = this.pos + len;
    if (end > outer) throw new Unexpected('truncated message');
    this.end = end;
    return outer;
  }

  leave(outer: number): void {
    this.end = outer;
  }

  /** A field tag: (field number << 3) | wire type. */
  tag(): number {
    const tag = this.varint();
    if (tag > 0xffffffff) throw new Unexpected('field number out of range');
    return tag;
  }

  skip(wire: number): void {
    if (wire === WIRE_VARINT) this.varint();
    else if (wire === WIRE_I64) this.pos += 8;
    else if (wire === WIRE_LEN) {
      // (not `this.pos += this.varint()`: that adds to pos as it was before the length's bytes)
      const len = this.varint();
      this.pos += len;
    } else if (wire === WIRE_I32) this.pos += 4;
    else throw new Unexpected(`wire type ${wire}`);
    if (this.pos > this.end) throw new Unexpected('truncated field');
  }
}

function ipBinding(r: Reader): { ip: string; seq: number } {
  const out = { ip: '', seq: 0 };
  while (r.pos < r.end) {
    const tag = r.tag();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 1 && wire === WIRE_LEN) out.ip = r.string();
    else if (field === 2 && wire === WIRE_VARINT) out.seq = r.varint();
    else r.skip(wire);
  }
  return out;
}

interface Anchor {
  ip: string;
  fromVni: number;
  nveId: string;
  nveAddr: string;
  sinceMs: number;
}

export function anchor(r: Reader): Anchor {
  const out = { ip: '', fromVni: 0, nveId: '', nveAddr: '', sinceMs: 0 };
  while (r.pos < r.end) {
    const tag = r.tag();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 1 && wire === WIRE_LEN) out.ip = r.string();
    else if (field === 2 && wire === WIRE_VARINT) out.fromVni = r.uint32();
    else if (field === 3 && wire === WIRE_LEN) out.nveId = r.string();
    else if (field === 4 && wire === WIRE_LEN) out.nveAddr = r.string();
    else if (field === 5 && wire === WIRE_VARINT) out.sinceMs = r.varint();
    else r.skip(wire);
  }
  return out;
}

function entry(r: Reader): object {
  const out = {
    vni: 0,
    mac: '',
    ips: [] as { ip: string; seq: number }[],
    nveId: '',
    nveAddr: '',
    seq: 0,
    state: 'ENTRY_STATE_UNSPECIFIED',
    changedAtMs: 0,
    tsi: '',
    anchors: [] as Anchor[],
  };
  while (r.pos < r.end) {
    const tag = r.tag();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire === WIRE_LEN) {
      if (field === 2) out.mac = r.string();
      else if (field === 10) out.anchors.push(r.inSub(anchor));
      else if (field === 3) out.ips.push(r.inSub(ipBinding));
      else if (field === 4) out.nveId = r.string();
      else if (field === 5) out.nveAddr = r.string();
      else if (field === 9) out.tsi = r.string();
      else r.skip(wire);
    } else if (wire === WIRE_VARINT) {
      if (field === 1) out.vni = r.uint32();
      else if (field === 6) out.seq = r.varint();
      else if (field === 7) {
        const name = ENTRY_STATES[r.varint()];
        if (name === undefined) throw new Unexpected('unknown entry state'); // protobufjs decides
        out.state = name;
      } else if (field === 8) out.changedAtMs = r.varint();
      else r.skip(wire);
    } else r.skip(wire);
  }
  return out;
}

function keyed(r: Reader, third: boolean): object {
  // EntryKey{vni, mac} and Member{vni, nve_id, nve_addr} share field 1 (vni) and 2 (a string).
  const key = { vni: 0, mac: '' };
  const member = { vni: 0, nveId: '', nveAddr: '' };
  while (r.pos < r.end) {
    const tag = r.tag();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 1 && wire === WIRE_VARINT) key.vni = member.vni = r.uint32();
    else if (field === 2 && wire === WIRE_LEN) key.mac = member.nveId = r.string();
    else if (third && field === 3 && wire === WIRE_LEN) member.nveAddr = r.string();
    else r.skip(wire);
  }
  return third ? member : key;
}

function change(r: Reader): object {
  const out = {
    revision: 0,
    vni: 0,
    upserts: [] as object[],
    deletes: [] as object[],
    membersUpserted: [] as object[],
    membersRemoved: [] as string[],
  };
  while (r.pos < r.end) {
    const tag = r.tag();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire === WIRE_VARINT && field === 1) out.revision = r.varint();
    else if (wire === WIRE_VARINT && field === 2) out.vni = r.uint32();
    else if (wire === WIRE_LEN && field === 3) out.upserts.push(r.inSub(entry));
    else if (wire === WIRE_LEN && field === 4) out.deletes.push(keyed(r.sub(), false));
    else if (wire === WIRE_LEN && field === 5) out.membersUpserted.push(keyed(r.sub(), true));
    else if (wire === WIRE_LEN && field === 6) out.membersRemoved.push(r.string());
    else r.skip(wire);
  }
  return out;
}

/**
 * Decode an NvaMessage carrying exactly one Change and nothing else; null for anything else
 * (other members, unknown fields at the top, malformed bytes): then use proto-loader.
 */
export function decodeChangeMessage(buf: Buffer): object | null {
  try {
    const r = new Reader(buf, 0, buf.length);
    if (r.end === 0) return null;
    const tag = r.varint();
    if (tag !== NVA_CHANGE * 8 + WIRE_LEN) return null;
    const c = change(r.sub());
    if (r.pos !== r.end) return null; // more top-level fields: let protobufjs decide
    return { change: c, msg: 'change' };
  } catch (err) {
    if (err instanceof Unexpected) return null;
    throw err;
  }
}

/** A response deserializer: the Change fast path, else `fallback` (proto-loader's). */
export function withChangeDecoder(fallback: (buf: Buffer) => unknown): (buf: Buffer) => unknown {
  return (buf) => decodeChangeMessage(buf) ?? fallback(buf);
}
