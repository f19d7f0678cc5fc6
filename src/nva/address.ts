// Ordering of underlay addresses, for the EVPN tie-break "equal sequence numbers: the lower NVE
// address wins". IPv4 sorts before IPv6; within a family, numeric order of the address bytes.
import { isIP } from 'node:net';

/** The address as bytes (4 for IPv4, 16 for IPv6), or null if it is not an IP address. */
export function ipBytes(addr: string): number[] | null {
  const fam = isIP(addr);
  if (fam === 4) return addr.split('.').map(Number);
  if (fam !== 6) return null;
  let s = addr.toLowerCase();
  // An embedded IPv4 tail ("::ffff:1.2.3.4") becomes two hex groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4?.[1]) {
    const b = v4[1].split('.').map(Number);
    s =
      s.slice(0, -v4[1].length) +
      `${(((b[0] ?? 0) << 8) | (b[1] ?? 0)).toString(16)}:${(((b[2] ?? 0) << 8) | (b[3] ?? 0)).toString(16)}`;
  }
  const [head = '', tail] = s.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups =
    tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.flatMap((g) => {
    const n = parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
}

/** Negative when a < b, positive when a > b, 0 when equal (unparseable addresses sort last). */
export function compareAddr(a: string, b: string): number {
  const x = ipBytes(a);
  const y = ipBytes(b);
  if (!x || !y) return (x ? -1 : 1) - (y ? -1 : 1) || a.localeCompare(b);
  if (x.length !== y.length) return x.length - y.length;
  for (let i = 0; i < x.length; i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
