// `roam map dump`: what an NVE's dataplane holds, table by table, read from the pinned maps.
// Operators compare it with `roam vm list` (the directory); --json gives the same rows to tools.
import type { Command } from 'commander';
import type { Dataplane } from '../../dataplane/dataplane.ts';
import { printJson, printTable } from './nva-connection.ts';
import {
  openTarget,
  resolveTarget,
  targetOptions,
  type TargetOptions,
} from './dataplane-target.ts';
import { UserError } from '../user-error.ts';

/** The tables `map dump` shows, each as rows of plain strings. */
const DUMPERS: Record<string, { header: string[]; rows: (dp: Dataplane) => string[][] }> = {
  fdb: {
    header: ['VNI', 'MAC', 'KIND', 'WHERE', 'RARP'],
    rows: (dp) =>
      [...dp.tables.fdb.entries()].map(([k, e]) => [
        String(k.vni),
        k.mac,
        e.kind,
        e.kind === 'local'
          ? `ifindex ${e.ifindex}`
          : e.kind === 'dual'
            ? `ifindex ${e.ifindex} + ${e.nve}`
            : e.kind === 'moved'
              ? `${e.nve} (for ${Math.max(0, Number((e.untilNs - process.hrtime.bigint()) / 1_000_000n))} ms)`
              : e.nve,
        e.rarpIp4 ?? '-',
      ]),
  },
  neigh: {
    header: ['VNI', 'IP', 'MAC'],
    rows: (dp) => [...dp.tables.neigh.entries()].map(([k, mac]) => [String(k.vni), k.ip, mac]),
  },
  tsis: {
    header: ['IFINDEX', 'VNI', 'STRICT'],
    rows: (dp) =>
      [...dp.tables.tsis.entries()].map(([i, t]) => [
        String(i),
        String(t.vni),
        String(t.strictSource),
      ]),
  },
  peers: {
    header: ['VNI', 'NVE'],
    rows: (dp) => [...dp.tables.peers.entries()].map(([k]) => [String(k.vni), k.nve]),
  },
  flood: {
    header: ['VNI', 'LOCAL IFINDEXES', 'REMOTE NVES'],
    rows: (dp) =>
      [...dp.tables.flood.entries()].map(([vni, f]) => [
        String(vni),
        f.local.join(',') || '-',
        f.remote.join(',') || '-',
      ]),
  },
  stats: {
    header: ['VNI', 'VERDICT', 'PACKETS', 'BYTES'],
    rows: (dp) =>
      dp.stats
        .read()
        .sort((a, b) => a.vni - b.vni || a.slot - b.slot)
        .map((r) => [String(r.vni), r.verdict, String(r.packets), String(r.bytes)]),
  },
};

export const DUMPABLE_MAPS = Object.keys(DUMPERS);

/** Rows of one table as objects keyed by lower-case header (the --json form). */
export function dumpTable(dp: Dataplane, name: string): Record<string, string>[] {
  const d = DUMPERS[name];
  if (!d) throw new UserError(`unknown table "${name}": choose from ${DUMPABLE_MAPS.join(', ')}`);
  const keys = d.header.map((h) => h.toLowerCase().replace(/ /g, '_'));
  return d.rows(dp).map((r) => Object.fromEntries(keys.map((k, i) => [k, r[i] ?? ''])));
}

export function registerMapDump(program: Command): void {
  const map = program.command('map').description("an NVE's BPF tables, read from their pins");
  targetOptions(
    map
      .command('dump [table]')
      .description(`print one table (${DUMPABLE_MAPS.join(', ')}) or all of them`)
      .option('--json', 'print JSON instead of tables'),
  ).action((table: string | undefined, o: TargetOptions & { json?: boolean }) => {
    const names = table ? [table] : DUMPABLE_MAPS;
    const unknown = names.find((n) => !(n in DUMPERS));
    if (unknown)
      throw new UserError(`unknown table "${unknown}": choose from ${DUMPABLE_MAPS.join(', ')}`);
    const dp = openTarget(resolveTarget(o));
    try {
      if (o.json) return printJson(Object.fromEntries(names.map((n) => [n, dumpTable(dp, n)])));
      for (const n of names) {
        const d = DUMPERS[n];
        if (!d)
          throw new UserError(`unknown table "${n}": choose from ${DUMPABLE_MAPS.join(', ')}`);
        if (names.length > 1) process.stdout.write(`\n== ${n} ==\n`);
        printTable(d.header, d.rows(dp));
      }
    } finally {
      dp.close();
    }
  });
}
