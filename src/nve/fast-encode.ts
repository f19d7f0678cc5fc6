// Encoders for the resync's hot loop, byte for byte what the dataplane codecs (codecs.ts) write,
// without their per-call splits and regular expressions: the common text forms (a MAC as six
// two-digit hex pairs with colons, a dotted-quad IPv4) are parsed by char code; anything else
// (IPv6, odd forms) goes through the codecs, which also throw their clear errors.
import {
  FDB_LOCAL,
  FDB_REMOTE,
  FDB_RARP_IP4_OFF,
  VNI_MAX,
  fdbEntry,
  fdbKey,
  neighKey,
  nveAddr,
  type FdbEntry,
} from '../dataplane/codecs.ts';
import { ipv4Number } from '../protocol/packed-snapshot.ts';

/** Bytes of the C structs (bpf/roam.h), as the codecs give them. */
export const FDB_KEY_BYTES = fdbKey.size;
export const FDB_ENTRY_BYTES = fdbEntry.size;
export const NEIGH_KEY_BYTES = neighKey.size;
export const NEIGH_ENTRY_BYTES = 8;
const NVE_ADDR_BYTES = nveAddr.size;
/** Offset of `remote` (struct nve_addr) in struct fdb_entry. */
const FDB_REMOTE_OFF = 16;
const FAMILY_V4 = 4;
/** Distinct NVE addresses remembered encoded (there are few: one per NVE). */
const NVE_CACHE_MAX = 4096;

/** Value of a hex digit's char code, or -1. */
function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Six bytes of "xx:xx:xx:xx:xx:xx" at b[o..o+6); false (nothing written) for any other form. */
function parseMac(mac: string, b: Uint8Array, o: number): boolean {
  if (mac.length !== 17) return false;
  for (let i = 0; i < 6; i++) {
    const p = i * 3;
    const hi = hexVal(mac.charCodeAt(p));
    const lo = hexVal(mac.charCodeAt(p + 1));
    if (hi < 0 || lo < 0 || (i < 5 && mac.charCodeAt(p + 2) !== 58)) return false;
    b[o + i] = (hi << 4) | lo;
  }
  return true;
}

/** Four bytes of a dotted quad (no leading zeros, as node:net accepts) at b[o..o+4); or false. */
function parseIpv4(ip: string, b: Uint8Array, o: number): boolean {
  const v = ipv4Number(ip);
  if (v === null) return false;
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
  return true;
}

function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}

const okVni = (vni: number) => Number.isInteger(vni) && vni >= 0 && vni <= VNI_MAX;

/** struct fdb_key of (vni, mac). */
export function encodeMacKey(vni: number, mac: string, b: Buffer, o: number): void {
  if (okVni(vni) && parseMac(mac, b, o + 4)) {
    writeU32(b, o, vni);
    b[o + 10] = 0;
    b[o + 11] = 0;
    return;
  }
  fdbKey.encode({ vni, mac }, b, o);
}

/** struct neigh_key of (vni, ip). */
export function encodeIpKey(vni: number, ip: string, b: Buffer, o: number): void {
  if (okVni(vni) && parseIpv4(ip, b, o + 8)) {
    writeU32(b, o, vni);
    b[o + 4] = FAMILY_V4;
    b.fill(0, o + 5, o + 8);
    b.fill(0, o + 12, o + NEIGH_KEY_BYTES);
    return;
  }
  neighKey.encode({ vni, ip }, b, o);
}

/**
 * struct neigh_key of (vni, IPv4 as the number a<<24|b<<16|c<<8|d). `zeroed`: the bytes are zero
 * already (a fresh batch buffer), the padding is not written.
 */
export function encodeIpv4KeyNum(
  vni: number,
  ip4: number,
  b: Uint8Array,
  o: number,
  zeroed = false,
): void {
  writeU32(b, o, vni);
  b[o + 4] = FAMILY_V4;
  b[o + 8] = ip4 >>> 24;
  b[o + 9] = (ip4 >>> 16) & 0xff;
  b[o + 10] = (ip4 >>> 8) & 0xff;
  b[o + 11] = ip4 & 0xff;
  if (zeroed) return;
  b.fill(0, o + 5, o + 8);
  b.fill(0, o + 12, o + NEIGH_KEY_BYTES);
}

/** struct neigh_entry: the MAC that answers. */
export function encodeNeighEntry(mac: string, b: Buffer, o: number): void {
  if (parseMac(mac, b, o)) {
    b[o + 6] = 0;
    b[o + 7] = 0;
    return;
  }
  b.fill(0, o, o + NEIGH_ENTRY_BYTES);
  // The codec's MAC parser throws its clear error for a bad MAC.
  fdbKey.encode({ vni: 0, mac }, SCRATCH, 0);
  SCRATCH.copy(b, o, 4, 10);
}

const SCRATCH = Buffer.alloc(64);
const nveCache = new Map<string, Buffer>();

/** struct nve_addr of an NVE's address (cached: there are few). */
function encodeNve(addr: string, b: Buffer, o: number): void {
  let enc = nveCache.get(addr);
  if (!enc) {
    enc = Buffer.alloc(NVE_ADDR_BYTES);
    nveAddr.encode(addr, enc, 0);
    if (nveCache.size >= NVE_CACHE_MAX) nveCache.clear();
    nveCache.set(addr, enc);
  }
  for (let i = 0; i < NVE_ADDR_BYTES; i++) b[o + i] = enc[i]!;
}

/** struct fdb_entry of a dataplane FDB entry (local and remote fast, the rest by the codec). */
export function encodeFdbEntry(v: FdbEntry, b: Buffer, o: number): void {
  if (v.kind === 'remote') {
    encodeFdbRemote(v.nve, b, o, v.rarpIp4);
  } else if (v.kind === 'local') {
    b.fill(0, o, o + FDB_ENTRY_BYTES);
    b[o] = FDB_LOCAL;
    writeU32(b, o + 4, v.ifindex);
    encodeRarpIp4(v.rarpIp4, b, o + FDB_RARP_IP4_OFF, v);
  } else {
    b.fill(0, o, o + FDB_ENTRY_BYTES);
    fdbEntry.encode(v, b, o);
  }
}

/** struct fdb_entry of a remote entry: VXLAN to the NVE at `nve`, RARP answered with `rarpIp4`. */
export function encodeFdbRemote(nve: string, b: Buffer, o: number, rarpIp4?: string): void {
  for (let i = 0; i < FDB_REMOTE_OFF; i++) b[o + i] = 0;
  b[o] = FDB_REMOTE;
  encodeNve(nve, b, o + FDB_REMOTE_OFF);
  for (let i = FDB_REMOTE_OFF + NVE_ADDR_BYTES; i < FDB_ENTRY_BYTES; i++) b[o + i] = 0;
  if (rarpIp4 !== undefined)
    encodeRarpIp4(rarpIp4, b, o + FDB_RARP_IP4_OFF, { kind: 'remote', nve, rarpIp4 });
}

/** fdb_entry.rarp_ip4 (left zero when undefined); odd forms and errors through the codec. */
function encodeRarpIp4(ip: string | undefined, b: Buffer, o: number, whole: FdbEntry): void {
  if (ip === undefined || parseIpv4(ip, b, o)) return;
  fdbEntry.encode(whole, b, o - FDB_RARP_IP4_OFF);
}
