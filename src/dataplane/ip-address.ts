// IP addresses as the dataplane stores them: 16 bytes, IPv4 in bytes 0..3 and the rest zero,
// with a separate family byte (bpf/roam.h FAMILY_V4 / FAMILY_V6). Pure parse/format pairs.
import { isIPv4, isIPv6 } from 'node:net';

/** FAMILY_V4 / FAMILY_V6 of bpf/roam.h. */
export const FAMILY_V4 = 4;
export const FAMILY_V6 = 6;
export type Family = typeof FAMILY_V4 | typeof FAMILY_V6;

/** The family of an address in text form, or null when it is not an IP address. */
export function ipFamily(ip: string): Family | null {
  if (isIPv4(ip)) return FAMILY_V4;
  if (isIPv6(ip)) return FAMILY_V6;
  return null;
}

/** Writes the 4 bytes of a dotted-quad IPv4 address at off. */
function writeIpv4(ip: string, buf: Buffer, off: number): void {
  ip.split('.').forEach((p, i) => buf.writeUInt8(Number(p), off + i));
}

/** Writes the 16 bytes of an IPv6 address (any RFC 4291 text form) at off. */
function writeIpv6(ip: string, buf: Buffer, off: number): void {
  let text = ip;
  const words: number[] = [];
  // an embedded IPv4 tail (::ffff:1.2.3.4) is two words
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  let tail: number[] = [];
  if (v4?.[1] !== undefined) {
    const b = v4[1].split('.').map(Number);
    tail = [((b[0] ?? 0) << 8) | (b[1] ?? 0), ((b[2] ?? 0) << 8) | (b[3] ?? 0)];
    text = text.slice(0, text.length - v4[1].length) + '0:0';
  }
  const [head = '', rest] = text.split('::');
  const h = head === '' ? [] : head.split(':').map((x) => parseInt(x, 16));
  const r = rest === undefined || rest === '' ? [] : rest.split(':').map((x) => parseInt(x, 16));
  const zeros = rest === undefined ? 0 : 8 - h.length - r.length;
  words.push(...h, ...new Array<number>(zeros).fill(0), ...r);
  if (tail.length === 2) words.splice(6, 2, ...tail);
  words.forEach((w, i) => buf.writeUInt16BE(w, off + i * 2));
}

/** Writes ip into the 16 bytes at off (IPv4 in the first 4, the rest zero); returns its family. */
export function writeIp(ip: string, buf: Buffer, off: number): Family {
  buf.fill(0, off, off + 16);
  const family = ipFamily(ip);
  if (family === FAMILY_V4) writeIpv4(ip, buf, off);
  else if (family === FAMILY_V6) writeIpv6(ip, buf, off);
  else throw new RangeError(`not an IP address: "${ip}"`);
  return family;
}

/** The text form of the address of `family` stored at off (RFC 5952 for IPv6). */
export function readIp(family: number, buf: Buffer, off: number): string {
  if (family === FAMILY_V4) return Array.from(buf.subarray(off, off + 4)).join('.');
  if (family !== FAMILY_V6) throw new RangeError(`unknown address family ${family}`);
  const words = Array.from({ length: 8 }, (_, i) => buf.readUInt16BE(off + i * 2));
  // the longest run of two or more zero words becomes "::" (first one on a tie)
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]): string => ws.map((w) => w.toString(16)).join(':');
  if (best < 0) return hex(words);
  return `${hex(words.slice(0, best))}::${hex(words.slice(best + bestLen))}`;
}
