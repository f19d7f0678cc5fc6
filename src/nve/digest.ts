// The digest an NVE sends with each ack: what it has installed for one VNI, in the terms of the
// directory, hashed with the NVA's own function (src/protocol/digest.ts), so the NVA can flag an
// NVE whose tables differ from the directory at that revision (the draft's check of NVE caches
// against the authority).
//
// Each installed FDB entry is read back as the directory row it stands for: a remote or moved
// entry toward the address the directory gives, a local entry of a VM the directory places here,
// and a VM expected by a migration hint but not yet announced (the directory still places it at
// the source). Such rows are the directory's (MAC, address, seq, IPs). An entry that disagrees
// with the directory, or a live directory entry with nothing installed, changes the digest.
import { vniDigest, type DigestEntry } from '../protocol/digest.ts';
import type { NveState } from './nve-state.ts';
import { macId, type FdbEntry, type MacKey } from './tables.ts';

/** The directory rows one VNI's installed FDB entries stand for. */
export function installedRows(
  state: NveState,
  vni: number,
  installed: Iterable<readonly [MacKey, FdbEntry]>,
): DigestEntry[] {
  const rows: DigestEntry[] = [];
  for (const [k, v] of installed) {
    if (k.vni !== vni) continue;
    const id = macId(k);
    const e = state.liveEntry(id);
    // A withdrawn VM still forwarded to its last NVE is not in the directory's digest either.
    if (!e && v.kind === 'remote' && state.lingeringEntry(id)?.nveAddr === v.vtep) continue;
    const local = state.locals.get(id);
    const here = v.kind === 'local' || v.kind === 'dual';
    const consistent =
      e !== undefined &&
      (here
        ? e.nveId === state.nveId || (local !== undefined && !local.active)
        : e.nveAddr === v.vtep && e.nveId !== state.nveId);
    if (consistent) {
      rows.push({ mac: k.mac, nveAddr: e.nveAddr, seq: e.seq, ips: e.ips });
    } else {
      // Not what the directory says: hash what is really there, so the digests differ.
      const addr = here ? state.underlayAddr : v.vtep;
      rows.push({
        mac: k.mac,
        nveAddr: addr,
        seq: local?.seq ?? -1,
        ips: (local?.ips ?? []).map((ip) => ({ ip })),
      });
    }
  }
  return rows;
}

/** Digests of several VNIs in one pass over the installed entries. */
export function installedDigests(
  state: NveState,
  vnis: readonly number[],
  installed: Iterable<readonly [MacKey, FdbEntry]>,
): Map<number, string> {
  const wanted = new Set(vnis);
  const byVni = new Map<number, Array<readonly [MacKey, FdbEntry]>>(vnis.map((v) => [v, []]));
  for (const kv of installed) if (wanted.has(kv[0].vni)) byVni.get(kv[0].vni)!.push(kv);
  const out = new Map<number, string>();
  for (const [vni, rows] of byVni) out.set(vni, installedDigest(state, vni, rows));
  return out;
}

/** Digest of what is installed for one VNI. */
export function installedDigest(
  state: NveState,
  vni: number,
  installed: Iterable<readonly [MacKey, FdbEntry]>,
): string {
  return vniDigest(installedRows(state, vni, installed));
}
