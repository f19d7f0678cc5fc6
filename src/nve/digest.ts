// A digest of what an NVE has installed for one VNI, sent with every ack so the NVA can compare
// it with the directory at that revision (draft-ietf-nvo3-vmm: checking NVE caches against the
// authority). Deterministic and independent of map order: canonical lines, sorted, sha256.
//
// Canonical encoding, version 1 (the NVA computes the same from its live entries of the VNI):
//   one line "m <mac> <nve underlay address>" per MAC (the address of the NVE that hosts it: this
//   NVE's own for local VMs), one line "i <ip> <mac>" per IP; MACs lower case, IPs in canonical
//   text form (IPv6 compressed, lower case); lines sorted by code unit, each ended by "\n";
//   the digest is the lower-case hex sha256 of their UTF-8 bytes. An empty VNI digests "".
import { createHash } from 'node:crypto';

/** One VM as the digest sees it. */
export interface DigestRow {
  mac: string;
  /** Underlay address of the NVE the VM is at. */
  nveAddr: string;
  ips: readonly string[];
}

/** The canonical lines of a set of rows (exported for tests and for the NVA's side). */
export function digestLines(rows: Iterable<DigestRow>): string[] {
  const lines: string[] = [];
  for (const r of rows) {
    lines.push(`m ${r.mac} ${r.nveAddr}`);
    for (const ip of r.ips) lines.push(`i ${ip} ${r.mac}`);
  }
  return lines.sort();
}

/** sha256 (hex) of the canonical encoding of one VNI's rows. */
export function vniDigest(rows: Iterable<DigestRow>): string {
  const h = createHash('sha256');
  for (const line of digestLines(rows)) h.update(`${line}\n`);
  return h.digest('hex');
}
