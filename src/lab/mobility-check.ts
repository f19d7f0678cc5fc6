// Does every NVE's dataplane say what the NVA's directory says? Reads each live NVE's pinned
// FDB and neighbour tables and lists every difference: a directory entry missing or pointing
// elsewhere, an IP answered with the wrong MAC, an FDB entry the directory does not have.
// After a soak of moves and restarts this must be empty (EVPN stacks are reported to drift).
import { existsSync } from 'node:fs';
import type { MobilityLab } from './mobility-lab.ts';

export interface TableDiff {
  nve: string;
  what: string;
  want: string;
  got: string;
}

const ACTIVE = new Set(['ENTRY_STATE_ACTIVE', 'ENTRY_STATE_MOVING']);

/** The differences between the directory (VN `vni`) and every live NVE's tables. */
export async function compareWithDirectory(lab: MobilityLab, vni: number): Promise<TableDiff[]> {
  const entries = (await lab.admin.listEntries(vni)).entries
    .map((d) => d.entry)
    .filter((e) => ACTIVE.has(e.state));
  const diffs: TableDiff[] = [];
  for (const n of lab.topo.nves) {
    const i = n.index;
    if (!lab.agents[i]?.running || !existsSync(n.ns.path)) continue;
    const id = lab.nveId(i);
    const { tables } = lab.tables(i);
    const known = new Set<string>();
    for (const e of entries) {
      known.add(e.mac);
      const got = tables.fdb.get({ vni, mac: e.mac });
      const gotS = got === undefined ? 'none' : JSON.stringify(got, bigintJson);
      if (e.nveId === id) {
        const vm = lab.topo.vms.find((v) => v.mac === e.mac && v.vni === vni);
        const ok = got?.kind === 'local' && (vm === undefined || got.ifindex === vm.tsiIfindex);
        if (!ok) diffs.push({ nve: id, what: `fdb ${e.mac}`, want: `local ${vm?.tsi}`, got: gotS });
      } else {
        const ok = (got?.kind === 'remote' || got?.kind === 'moved') && got.nve === e.nveAddr;
        if (!ok)
          diffs.push({ nve: id, what: `fdb ${e.mac}`, want: `remote ${e.nveAddr}`, got: gotS });
      }
      for (const { ip } of e.ips) {
        const mac = tables.neigh.get({ vni, ip });
        if (mac !== e.mac)
          diffs.push({ nve: id, what: `neigh ${ip}`, want: e.mac, got: mac ?? 'none' });
      }
    }
    for (const [k, v] of tables.fdb.entries()) {
      if (k.vni === vni && !known.has(k.mac) && v.kind !== 'moved')
        diffs.push({
          nve: id,
          what: `fdb ${k.mac}`,
          want: 'none',
          got: JSON.stringify(v, bigintJson),
        });
    }
  }
  return diffs;
}

function bigintJson(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? String(v) : v;
}
