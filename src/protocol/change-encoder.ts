// A hand-written protobuf encoder for NvaMessage{change}, the message the NVA writes to every NVE
// of a VN for every move. Entries are encoded once each (encodeEntry) and a Change is assembled
// from their bytes (encodeChangeMessage): NVEs that are sent different runs of changes (each is
// sent at the pace of its own acks) cost a copy of bytes each, not a protobufjs encode of every
// entry for every NVE. Canonical proto3 (default values left out, fields in number order);
// proto-loader and change-decoder.ts decode it, a unit test holds the three equal.

import { ENTRY_STATES, NVA_CHANGE, WIRE_LEN, WIRE_VARINT } from './wire-format.ts';

/** roam.v1.EntryState names by their number on the wire. */
const ENTRY_STATE_NUMBERS: Record<string, number> = Object.fromEntries(
  ENTRY_STATES.map((name, n) => [name, n]),
);

/** An Entry as the NVA sends it (the wire shape proto-loader would serialize). */
export interface EntryOut {
  vni: number;
  mac: string;
  ips: readonly { ip: string; seq: number }[];
  nveId: string;
  nveAddr: string;
  seq: number;
  state: string;
  changedAtMs: number;
  tsi: string;
  anchors: readonly {
    ip: string;
    fromVni: number;
    nveId: string;
    nveAddr: string;
    sinceMs: number;
  }[];
}

/** A Change whose upserts are already encoded Entry messages. */
export interface EncodedChangeParts {
  revision: number;
  vni: number;
  upserts: readonly Buffer[];
  deletes: readonly { vni: number; mac: string }[];
  membersUpserted: readonly { vni: number; nveId: string; nveAddr: string }[];
  membersRemoved: readonly string[];
}

function varintLength(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n += 1;
  }
  return n;
}

/** Writes into one buffer whose size was computed first (no growth, no copies). */
class Writer {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  varint(v: number): void {
    // Past 2^31 bit operations break: divide (timestamps in ms are ~2^41).
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }

  tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  /** A number field, left out when 0 (proto3 default). */
  uint(field: number, v: number): void {
    if (v === 0) return;
    this.tag(field, WIRE_VARINT);
    this.varint(v);
  }

  /** A string field, left out when empty (proto3 default). */
  string(field: number, s: string): void {
    if (s === '') return;
    this.tag(field, WIRE_LEN);
    this.varint(Buffer.byteLength(s));
    this.pos += this.buf.write(s, this.pos);
  }

  /** A string that is one element of a repeated field: written even when empty. */
  element(field: number, s: string): void {
    this.tag(field, WIRE_LEN);
    this.varint(Buffer.byteLength(s));
    this.pos += this.buf.write(s, this.pos);
  }

  bytes(field: number, b: Buffer): void {
    this.tag(field, WIRE_LEN);
    this.varint(b.length);
    b.copy(this.buf, this.pos);
    this.pos += b.length;
  }
}

// Sizes of the optional fields (0 when the value is the proto3 default: not written).
const strField = (s: string) => (s === '' ? 0 : lenField(Buffer.byteLength(s)));
const numField = (field: number, v: number) =>
  v === 0 ? 0 : varintLength(field * 8) + varintLength(v);
const lenField = (len: number) => 1 + varintLength(len) + len;

function checkNumber(what: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${what}: ${v} is not a uint64`);
}

function ipBindingSize(b: { ip: string; seq: number }): number {
  return strField(b.ip) + numField(2, b.seq);
}

function anchorSize(a: EntryOut['anchors'][number]): number {
  return (
    strField(a.ip) +
    numField(2, a.fromVni) +
    strField(a.nveId) +
    strField(a.nveAddr) +
    numField(5, a.sinceMs)
  );
}

/** One Entry message (without a field tag: the bytes that go inside Change.upserts). */
export function encodeEntry(e: EntryOut): Buffer {
  const state = ENTRY_STATE_NUMBERS[e.state];
  if (state === undefined) throw new RangeError(`entry state ${e.state} is not an EntryState`);
  checkNumber('vni', e.vni);
  checkNumber('seq', e.seq);
  checkNumber('changedAtMs', e.changedAtMs);
  for (const b of e.ips) checkNumber('ips.seq', b.seq);
  for (const a of e.anchors) {
    checkNumber('anchors.fromVni', a.fromVni);
    checkNumber('anchors.sinceMs', a.sinceMs);
  }
  const ipSizes = e.ips.map(ipBindingSize);
  const anchorSizes = e.anchors.map(anchorSize);
  let size =
    numField(1, e.vni) +
    strField(e.mac) +
    strField(e.nveId) +
    strField(e.nveAddr) +
    numField(6, e.seq) +
    numField(7, state) +
    numField(8, e.changedAtMs) +
    strField(e.tsi);
  for (const s of ipSizes) size += lenField(s);
  for (const s of anchorSizes) size += lenField(s);
  const w = new Writer(Buffer.allocUnsafe(size));
  w.uint(1, e.vni);
  w.string(2, e.mac);
  e.ips.forEach((b, i) => {
    w.tag(3, WIRE_LEN);
    w.varint(ipSizes[i] as number);
    w.string(1, b.ip);
    w.uint(2, b.seq);
  });
  w.string(4, e.nveId);
  w.string(5, e.nveAddr);
  w.uint(6, e.seq);
  w.uint(7, state);
  w.uint(8, e.changedAtMs);
  w.string(9, e.tsi);
  e.anchors.forEach((a, i) => {
    w.tag(10, WIRE_LEN);
    w.varint(anchorSizes[i] as number);
    w.string(1, a.ip);
    w.uint(2, a.fromVni);
    w.string(3, a.nveId);
    w.string(4, a.nveAddr);
    w.uint(5, a.sinceMs);
  });
  if (w.pos !== size) throw new Error(`entry encoding: wrote ${w.pos} of ${size} bytes`);
  return w.buf;
}

function keySize(k: { vni: number; mac: string }): number {
  return numField(1, k.vni) + strField(k.mac);
}

function memberSize(m: { vni: number; nveId: string; nveAddr: string }): number {
  return numField(1, m.vni) + strField(m.nveId) + strField(m.nveAddr);
}

/** The whole NvaMessage{change} as gRPC sends it (the stream's response bytes). */
export function encodeChangeMessage(c: EncodedChangeParts): Buffer {
  checkNumber('revision', c.revision);
  checkNumber('vni', c.vni);
  const keySizes = c.deletes.map(keySize);
  const memberSizes = c.membersUpserted.map(memberSize);
  let body = numField(1, c.revision) + numField(2, c.vni);
  for (const u of c.upserts) body += lenField(u.length);
  for (const s of keySizes) body += lenField(s);
  for (const s of memberSizes) body += lenField(s);
  for (const id of c.membersRemoved) body += lenField(Buffer.byteLength(id));
  const w = new Writer(Buffer.allocUnsafe(lenField(body)));
  w.tag(NVA_CHANGE, WIRE_LEN);
  w.varint(body);
  w.uint(1, c.revision);
  w.uint(2, c.vni);
  for (const u of c.upserts) w.bytes(3, u);
  c.deletes.forEach((k, i) => {
    w.tag(4, WIRE_LEN);
    w.varint(keySizes[i] as number);
    w.uint(1, k.vni);
    w.string(2, k.mac);
  });
  c.membersUpserted.forEach((m, i) => {
    w.tag(5, WIRE_LEN);
    w.varint(memberSizes[i] as number);
    w.uint(1, m.vni);
    w.string(2, m.nveId);
    w.string(3, m.nveAddr);
  });
  for (const id of c.membersRemoved) w.element(6, id);
  if (w.pos !== w.buf.length) throw new Error(`change encoding: wrote ${w.pos} of ${w.buf.length}`);
  return w.buf;
}
