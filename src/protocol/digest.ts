// Per-VNI digest of installed state, computed the same way by the NVA (from its directory) and
// by an NVE (from its maps), carried in Ack messages: a mismatch means the NVE drifted, and the
// NVA answers with a fresh snapshot of that VNI. Order-independent, covers exactly what an NVE
// installs: MAC, its NVE's underlay address, its sequence number and its IPs.
import { createHash } from 'node:crypto';

/** What the digest covers of one installed entry. */
export interface DigestEntry {
  mac: string;
  nveAddr: string;
  seq: number;
  ips: readonly { ip: string }[];
}

/** Hex characters of the digest (128 bits of SHA-256 are plenty to detect drift). */
export const DIGEST_CHARS = 32;

/** Digest of the entries of one VNI (withdrawn entries must not be passed in). */
export function vniDigest(entries: Iterable<DigestEntry>): string {
  const lines: string[] = [];
  for (const e of entries) {
    const ips = e.ips
      .map((b) => b.ip)
      .sort()
      .join(',');
    lines.push(`${e.mac}|${e.nveAddr}|${e.seq}|${ips}`);
  }
  lines.sort();
  const h = createHash('sha256');
  for (const l of lines) h.update(`${l}\n`);
  return h.digest('hex').slice(0, DIGEST_CHARS);
}
