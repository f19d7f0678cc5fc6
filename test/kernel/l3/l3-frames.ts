// Frame builders and checks for the L3 packet tests: ICMP / ICMPv6 echo and the checksums of
// what the gateway writes (IPv4 header, ICMP, ICMPv6 over its pseudo-header).
import {
  csum16,
  eth,
  ETH_P_IP,
  ETH_P_IPV6,
  icmp6Csum,
  ipv4,
  ipv6,
  macText,
} from '../dataplane/frames.ts';
import { readIp } from '../../../src/dataplane/ip-address.ts';

export const IPPROTO_ICMP = 1;
export const IPPROTO_ICMPV6 = 58;

/** An ICMP echo request (type 8) from src to dst, ICMP checksum filled. */
export function echo4(dstMac: string, srcMac: string, src: string, dst: string, ttl = 64): Buffer {
  const m = Buffer.alloc(8 + 24, 0x61);
  m[0] = 8;
  m[1] = 0;
  m.writeUInt16BE(0, 2);
  m.writeUInt32BE(0x12340007, 4);
  m.writeUInt16BE(csum16(m), 2);
  return eth(dstMac, srcMac, ETH_P_IP, ipv4(src, dst, IPPROTO_ICMP, m, { ttl }));
}

/** An ICMPv6 echo request (type 128), checksum over the pseudo-header. */
export function echo6(dstMac: string, srcMac: string, src: string, dst: string, hop = 64): Buffer {
  const m = Buffer.alloc(8 + 24, 0x62);
  m[0] = 128;
  m[1] = 0;
  m.writeUInt16BE(0, 2);
  m.writeUInt32BE(0x43210009, 4);
  m.writeUInt16BE(icmp6Csum(src, dst, m), 2);
  return eth(dstMac, srcMac, ETH_P_IPV6, ipv6(src, dst, IPPROTO_ICMPV6, m, hop));
}

/** What an IPv4 or IPv6 frame says, with its checksums verified. */
export interface ParsedIp {
  dstMac: string;
  srcMac: string;
  family: 4 | 6;
  src: string;
  dst: string;
  ttl: number;
  proto: number;
  /** IPv4 header checksum verifies (always true for IPv6). */
  ipCsumOk: boolean;
  /** ICMP / ICMPv6 checksum verifies (undefined for other protocols). */
  icmpCsumOk?: boolean;
  payload: Buffer;
}

export function parseIp(f: Buffer): ParsedIp {
  const type = f.readUInt16BE(12);
  const pad = Buffer.alloc(12);
  if (type === ETH_P_IP) {
    const ihl = ((f[14] ?? 0) & 0xf) * 4;
    const total = f.readUInt16BE(16);
    const payload = f.subarray(14 + ihl, 14 + total);
    const proto = f[23] ?? 0;
    return {
      dstMac: macText(f, 0),
      srcMac: macText(f, 6),
      family: 4,
      src: readIp(4, Buffer.concat([f.subarray(26, 30), pad]), 0),
      dst: readIp(4, Buffer.concat([f.subarray(30, 34), pad]), 0),
      ttl: f[22] ?? 0,
      proto,
      ipCsumOk: csum16(f.subarray(14, 14 + ihl)) === 0,
      icmpCsumOk: proto === IPPROTO_ICMP ? csum16(payload) === 0 : undefined,
      payload,
    };
  }
  if (type !== ETH_P_IPV6) throw new Error(`not IP: 0x${type.toString(16)}`);
  const len = f.readUInt16BE(18);
  const payload = f.subarray(54, 54 + len);
  const src = readIp(6, f, 22);
  const dst = readIp(6, f, 38);
  const proto = f[20] ?? 0;
  return {
    dstMac: macText(f, 0),
    srcMac: macText(f, 6),
    family: 6,
    src,
    dst,
    ttl: f[21] ?? 0,
    proto,
    ipCsumOk: true,
    icmpCsumOk: proto === IPPROTO_ICMPV6 ? icmp6Csum(src, dst, payload) === 0 : undefined,
    payload,
  };
}
