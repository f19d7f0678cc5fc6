// One text form per IP address (lower case, IPv6 compressed: "fd01::2", never "FD01:0::2"), so
// the directory, the NVEs and the orchestrator compare addresses as plain strings.
import { isIP } from 'node:net';

/** The canonical text form of an IP; anything that is not an IP is returned unchanged. */
export function canonicalIp(ip: string): string {
  // WHATWG URL serialises an IPv6 host in its compressed, lower-case form (RFC 5952).
  if (isIP(ip) === 6) return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  return ip;
}
