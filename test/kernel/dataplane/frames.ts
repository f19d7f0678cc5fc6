// Frame builders and parsers for the packet tests: Ethernet, 802.1Q, ARP/RARP, IPv4 (with
// options and fragments), IPv6, UDP, ICMPv6 NS/NA, VXLAN over IPv4/IPv6. Checksums are real,
// so the tests can check the ones the programs write.
import { FAMILY_V4, ipFamily, readIp, writeIp } from '../../../src/dataplane/ip-address.ts';

export const ETH_P_IP = 0x0800;
export const ETH_P_ARP = 0x0806;
export const ETH_P_RARP = 0x8035;
export const ETH_P_IPV6 = 0x86dd;
export const ETH_P_8021Q = 0x8100;
export const BROADCAST = 'ff:ff:ff:ff:ff:ff';

export function macBytes(mac: string): Buffer {
  return Buffer.from(mac.split(':').map((x) => parseInt(x, 16)));
}

export function macText(b: Buffer, off = 0): string {
  return Array.from(b.subarray(off, off + 6), (x) => x.toString(16).padStart(2, '0')).join(':');
}

function ipBytes(ip: string): Buffer {
  const b = Buffer.alloc(16);
  const fam = writeIp(ip, b, 0);
  return fam === FAMILY_V4 ? b.subarray(0, 4) : b;
}

/** RFC 1071 checksum of buf (odd length padded). */
export function csum16(...parts: Buffer[]): number {
  let sum = 0;
  const buf = Buffer.concat(parts);
  for (let i = 0; i + 1 < buf.length; i += 2) sum += buf.readUInt16BE(i);
  if (buf.length % 2) sum += (buf[buf.length - 1] ?? 0) << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export function eth(dst: string, src: string, type: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(14);
  macBytes(dst).copy(h, 0);
  macBytes(src).copy(h, 6);
  h.writeUInt16BE(type, 12);
  return Buffer.concat([h, payload]);
}

/** An 802.1Q-tagged frame. */
export function ethVlan(dst: string, src: string, vid: number, type: number, payload: Buffer) {
  const tag = Buffer.alloc(4);
  tag.writeUInt16BE(vid, 0);
  tag.writeUInt16BE(type, 2);
  return eth(dst, src, ETH_P_8021Q, Buffer.concat([tag, payload]));
}

export interface ArpFields {
  op: number;
  sha: string;
  spa: string;
  tha: string;
  tpa: string;
}

export function arp(f: ArpFields): Buffer {
  const b = Buffer.alloc(28);
  b.writeUInt16BE(1, 0);
  b.writeUInt16BE(ETH_P_IP, 2);
  b[4] = 6;
  b[5] = 4;
  b.writeUInt16BE(f.op, 6);
  macBytes(f.sha).copy(b, 8);
  ipBytes(f.spa).copy(b, 14);
  macBytes(f.tha).copy(b, 18);
  ipBytes(f.tpa).copy(b, 24);
  return b;
}

export function parseArp(b: Buffer, off = 14): ArpFields {
  return {
    op: b.readUInt16BE(off + 6),
    sha: macText(b, off + 8),
    spa: readIp(4, Buffer.concat([b.subarray(off + 14, off + 18), Buffer.alloc(12)]), 0),
    tha: macText(b, off + 18),
    tpa: readIp(4, Buffer.concat([b.subarray(off + 24, off + 28), Buffer.alloc(12)]), 0),
  };
}

export interface Ipv4Opts {
  ttl?: number;
  /** TOS byte (DSCP + ECN). */
  tos?: number;
  /** frag_off field as on the wire (flags + offset). */
  fragOff?: number;
  /** IP options (length a multiple of 4). */
  options?: Buffer;
}

export function ipv4(src: string, dst: string, proto: number, payload: Buffer, o: Ipv4Opts = {}) {
  const opt = o.options ?? Buffer.alloc(0);
  const h = Buffer.alloc(20 + opt.length);
  h[0] = 0x40 | ((20 + opt.length) / 4);
  h[1] = o.tos ?? 0;
  h.writeUInt16BE(h.length + payload.length, 2);
  h.writeUInt16BE(o.fragOff ?? 0, 6);
  h[8] = o.ttl ?? 64;
  h[9] = proto;
  ipBytes(src).copy(h, 12);
  ipBytes(dst).copy(h, 16);
  opt.copy(h, 20);
  h.writeUInt16BE(csum16(h), 10);
  return Buffer.concat([h, payload]);
}

export function ipv6(
  src: string,
  dst: string,
  nexthdr: number,
  payload: Buffer,
  hop = 64,
  trafficClass = 0,
) {
  const h = Buffer.alloc(40);
  h.writeUInt32BE((0x60000000 | (trafficClass << 20)) >>> 0, 0);
  h.writeUInt16BE(payload.length, 4);
  h[6] = nexthdr;
  h[7] = hop;
  ipBytes(src).copy(h, 8);
  ipBytes(dst).copy(h, 24);
  return Buffer.concat([h, payload]);
}

export function udp(sport: number, dport: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt16BE(8 + payload.length, 4);
  return Buffer.concat([h, payload]);
}

/** ICMPv6 checksum over the pseudo-header of src/dst. */
export function icmp6Csum(src: string, dst: string, msg: Buffer): number {
  const ph = Buffer.alloc(40);
  ipBytes(src).copy(ph, 0);
  ipBytes(dst).copy(ph, 16);
  ph.writeUInt32BE(msg.length, 32);
  ph[39] = 58;
  return csum16(ph, msg);
}

/** An ICMPv6 ND message (NS or NA) in an IPv6 packet with hop limit 255. */
export function ndPacket(
  src: string,
  dst: string,
  type: number,
  flags: number,
  target: string,
  llOpt?: { type: number; mac: string },
  hop = 255,
): Buffer {
  const body = Buffer.alloc(24 + (llOpt ? 8 : 0));
  body[0] = type;
  body[4] = flags;
  ipBytes(target).copy(body, 8);
  if (llOpt) {
    body[24] = llOpt.type;
    body[25] = 1;
    macBytes(llOpt.mac).copy(body, 26);
  }
  body.writeUInt16BE(icmp6Csum(src, dst, body), 2);
  return ipv6(src, dst, 58, body, hop);
}

/** Solicited-node multicast address and MAC of an IPv6 address. */
export function solicitedNode(ip: string): { ip: string; mac: string } {
  const b = Buffer.alloc(16);
  writeIp(ip, b, 0);
  const t = [b[13] ?? 0, b[14] ?? 0, b[15] ?? 0];
  const hex = (x: number) => x.toString(16).padStart(2, '0');
  return {
    ip: `ff02::1:ff${hex(t[0] ?? 0)}:${hex(t[1] ?? 0)}${hex(t[2] ?? 0)}`,
    mac: `33:33:ff:${hex(t[0] ?? 0)}:${hex(t[1] ?? 0)}:${hex(t[2] ?? 0)}`,
  };
}

export interface OuterFields {
  srcMac: string;
  dstMac: string;
  srcIp: string;
  dstIp: string;
  vni: number;
  sport?: number;
  dport?: number;
  /** VXLAN flags word (default 0x08000000). */
  flags?: number;
  ipv4?: Ipv4Opts;
  /** Outer IPv6 traffic class. */
  trafficClass?: number;
}

/** A VXLAN packet carrying `inner`, over IPv4 or IPv6 by the address family. */
export function vxlan(o: OuterFields, inner: Buffer): Buffer {
  const vx = Buffer.alloc(8);
  vx.writeUInt32BE(o.flags ?? 0x08000000, 0);
  vx.writeUInt32BE((o.vni << 8) >>> 0, 4);
  const u = udp(o.sport ?? 50000, o.dport ?? 4789, Buffer.concat([vx, inner]));
  if (ipFamily(o.srcIp) === FAMILY_V4) {
    return eth(o.dstMac, o.srcMac, ETH_P_IP, ipv4(o.srcIp, o.dstIp, 17, u, o.ipv4));
  }
  return eth(o.dstMac, o.srcMac, ETH_P_IPV6, ipv6(o.srcIp, o.dstIp, 17, u, 64, o.trafficClass));
}

/** What an encapsulated frame says, with its checks. */
export interface ParsedOuter {
  dstMac: string;
  srcMac: string;
  family: 4 | 6;
  srcIp: string;
  dstIp: string;
  ttl: number;
  /** IPv4 TOS / IPv6 traffic class (its low 2 bits are ECN). */
  tos: number;
  df: boolean;
  ipCsumOk: boolean;
  ipLen: number;
  sport: number;
  dport: number;
  udpLen: number;
  udpCsum: number;
  vxFlags: number;
  vni: number;
  inner: Buffer;
}

export function parseOuter(f: Buffer): ParsedOuter {
  const type = f.readUInt16BE(12);
  let off: number;
  let family: 4 | 6;
  let srcIp: string;
  let dstIp: string;
  let ttl: number;
  let tos: number;
  let df = false;
  let ipCsumOk = true;
  let ipLen: number;
  if (type === ETH_P_IP) {
    family = 4;
    const ihl = ((f[14] ?? 0) & 0xf) * 4;
    const pad = Buffer.alloc(12);
    srcIp = readIp(4, Buffer.concat([f.subarray(26, 30), pad]), 0);
    dstIp = readIp(4, Buffer.concat([f.subarray(30, 34), pad]), 0);
    ttl = f[22] ?? 0;
    tos = f[15] ?? 0;
    df = (f.readUInt16BE(20) & 0x4000) !== 0;
    ipCsumOk = csum16(f.subarray(14, 14 + ihl)) === 0;
    ipLen = f.readUInt16BE(16);
    if ((f[23] ?? 0) !== 17) throw new Error('outer IPv4 is not UDP');
    off = 14 + ihl;
  } else if (type === ETH_P_IPV6) {
    family = 6;
    srcIp = readIp(6, f, 22);
    dstIp = readIp(6, f, 38);
    ttl = f[21] ?? 0;
    tos = (f.readUInt32BE(14) >>> 20) & 0xff;
    ipLen = 40 + f.readUInt16BE(18);
    if ((f[20] ?? 0) !== 17) throw new Error('outer IPv6 is not UDP');
    off = 54;
  } else {
    throw new Error(`not an IP frame: ethertype 0x${type.toString(16)}`);
  }
  return {
    dstMac: macText(f, 0),
    srcMac: macText(f, 6),
    family,
    srcIp,
    dstIp,
    ttl,
    tos,
    df,
    ipCsumOk,
    ipLen,
    sport: f.readUInt16BE(off),
    dport: f.readUInt16BE(off + 2),
    udpLen: f.readUInt16BE(off + 4),
    udpCsum: f.readUInt16BE(off + 6),
    vxFlags: f.readUInt32BE(off + 8),
    vni: f.readUInt32BE(off + 12) >>> 8,
    inner: f.subarray(off + 16),
  };
}

/** A plain IPv4/UDP frame between two VMs (64 bytes on the wire without FCS by default). */
export function vmUdp(
  dst: string,
  src: string,
  ips: [string, string],
  ports: [number, number] = [1000, 2000],
  size = 60,
  tos = 0,
): Buffer {
  const payloadLen = Math.max(0, size - 14 - 20 - 8);
  if (ipFamily(ips[0]) !== FAMILY_V4) {
    const pl = Math.max(0, size - 14 - 40 - 8);
    return eth(
      dst,
      src,
      ETH_P_IPV6,
      ipv6(ips[0], ips[1], 17, udp(ports[0], ports[1], Buffer.alloc(pl, 0x5a)), 64, tos),
    );
  }
  return eth(
    dst,
    src,
    ETH_P_IP,
    ipv4(ips[0], ips[1], 17, udp(ports[0], ports[1], Buffer.alloc(payloadLen, 0x5a)), { tos }),
  );
}
