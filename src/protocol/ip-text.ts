// One text form per IP address (lower case, IPv6 compressed: "fd01::2", never "FD01:0::2"), so
// the directory, the NVEs and the orchestrator compare addresses as plain strings.
import { isIP } from 'node:net';

/** The canonical text form of an IP; anything that is not an IP is returned unchanged. */
export function canonicalIp(ip: string): string {
  // WHATWG URL serialises an IPv6 host in its compressed, lower-case form (RFC 5952).
  if (isIP(ip) === 6) return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  return ip;
}

/**
 * An interface address or prefix "ip/len" in canonical text ("FD01:0::1/64" -> "fd01::1/64"),
 * or null when it is not one. Host bits may be set (a gateway's own address with its subnet).
 */
export function canonicalIpPrefix(text: string): string | null {
  if (typeof text !== 'string' || text.length > 49) return null;
  const slash = text.indexOf('/');
  if (slash < 0) return null;
  const ip = text.slice(0, slash);
  const len = text.slice(slash + 1);
  const family = isIP(ip);
  if (family === 0 || !/^\d{1,3}$/.test(len)) return null;
  const n = Number(len);
  if (n > (family === 4 ? 32 : 128)) return null;
  return `${canonicalIp(ip)}/${n}`;
}
