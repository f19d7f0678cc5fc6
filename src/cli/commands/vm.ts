// `roam vm list|show|provision|move|clear-duplicate`: the orchestrator's view of the directory,
// against a running NVA's Admin service. Human tables by default, --json for scripts.
import type { Command } from 'commander';
import { normalizeMac } from '../../nva/model.ts';
import type { WireEntryDetail } from '../../protocol/admin-client.ts';
import { UserError } from '../user-error.ts';
import {
  parseVni,
  printJson,
  printTable,
  withAdmin,
  withConnection,
  type ConnectionOpts,
} from './nva-connection.ts';

function parseMac(s: string): string {
  const m = normalizeMac(s);
  if (!m) throw new UserError(`"${s}" is not a MAC address (aa:bb:cc:dd:ee:ff)`);
  return m;
}

const stateName = (s: string) => s.replace(/^ENTRY_STATE_/, '').toLowerCase();

/** One entry as --json shows it: plain names, times in ISO 8601. */
function entryJson(d: WireEntryDetail) {
  const e = d.entry;
  return {
    vni: e.vni,
    mac: e.mac,
    ips: e.ips.map((b) => b.ip),
    ipSeqs: Object.fromEntries(e.ips.map((b) => [b.ip, b.seq])),
    nveId: e.nveId,
    nveAddr: e.nveAddr,
    seq: e.seq,
    state: stateName(e.state),
    tsi: e.tsi || undefined,
    changedAt: new Date(e.changedAtMs).toISOString(),
    duplicateSince: d.duplicateSinceMs ? new Date(d.duplicateSinceMs).toISOString() : undefined,
    conflictIps: d.conflictIps.length ? d.conflictIps : undefined,
    provisioned: d.provisioned,
    anchors: e.anchors?.length
      ? e.anchors.map((a) => ({
          ip: a.ip,
          fromVni: a.fromVni,
          anchorNve: a.nveId,
          since: new Date(a.sinceMs).toISOString(),
        }))
      : undefined,
    history: d.history.map((h) => ({ ...h, at: new Date(h.atMs).toISOString(), atMs: undefined })),
    convergence: d.convergence.map((c) => ({
      revision: c.revision,
      durationMs: c.durationMs,
      nves: c.nves,
    })),
  };
}

function entryRow(d: WireEntryDetail): string[] {
  const e = d.entry;
  const flags = [
    d.conflictIps.length ? `conflict:${d.conflictIps.join(',')}` : '',
    d.provisioned ? '' : 'unprovisioned',
  ]
    .filter(Boolean)
    .join(' ');
  return [
    String(e.vni),
    e.mac,
    e.nveId,
    e.nveAddr,
    String(e.seq),
    stateName(e.state),
    e.ips.map((b) => b.ip).join(',') || '-',
    new Date(e.changedAtMs).toISOString().replace('T', ' ').slice(0, 19),
    flags,
  ];
}

const HEADER = ['VNI', 'MAC', 'NVE', 'UNDERLAY', 'SEQ', 'STATE', 'IPS', 'CHANGED (UTC)', 'FLAGS'];

export function registerVm(program: Command): void {
  const vm = program.command('vm').description('VMs in the NVA directory (orchestrator view)');

  withConnection(vm.command('list').description('list directory entries'))
    .option('--vni <vni>', 'only this VN')
    .option('--all', 'include withdrawn entries')
    .option('--provisioned', 'list what is provisioned (registered or not) instead')
    .action(async (o: ConnectionOpts & { vni?: string; all?: boolean; provisioned?: boolean }) => {
      const vni = o.vni ? parseVni(o.vni) : 0;
      if (o.provisioned) {
        const p = await withAdmin(o, (c) => c.listProvisions(vni));
        const rows = p.provisions.map((x) => ({
          ...x,
          nveId: x.nveId || undefined,
          tsi: x.tsi || undefined,
        }));
        if (o.json) return printJson(rows);
        return printTable(
          ['VNI', 'MAC', 'IPS', 'NVE', 'TSI'],
          rows.map((x) => [
            String(x.vni),
            x.mac,
            x.ips.join(',') || '-',
            x.nveId ?? 'any',
            x.tsi ?? '-',
          ]),
        );
      }
      const r = await withAdmin(o, (c) => c.listEntries(vni, o.all ?? false));
      if (o.json) printJson(r.entries.map(entryJson));
      else printTable(HEADER, r.entries.map(entryRow));
    });

  withConnection(vm.command('show').description('one entry with its move history and convergence'))
    .argument('<vni>')
    .argument('<mac>')
    .action(async (vniS: string, macS: string, o: ConnectionOpts) => {
      const r = await withAdmin(o, (c) => c.showEntry(parseVni(vniS), parseMac(macS)));
      const j = entryJson(r.detail);
      if (o.json) return printJson(j);
      printTable(HEADER, [entryRow(r.detail)]);
      if (j.history.length) {
        process.stdout.write('\nmoves:\n');
        printTable(
          ['AT (UTC)', 'FROM', 'TO', 'SEQ', 'HINTED'],
          j.history.map((h) => [
            h.at.replace('T', ' ').slice(0, 23),
            h.fromNve,
            h.toNve,
            String(h.seq),
            h.hinted ? 'yes' : 'no',
          ]),
        );
      }
      if (j.anchors) {
        process.stdout.write('\nanchored addresses (old subnet, still routed to the VM):\n');
        printTable(
          ['IP', 'FROM VNI', 'ANCHOR NVE', 'SINCE (UTC)'],
          j.anchors.map((a) => [
            a.ip,
            String(a.fromVni),
            a.anchorNve,
            a.since.replace('T', ' ').slice(0, 19),
          ]),
        );
      }
      if (j.convergence.length) {
        process.stdout.write('\nconvergence:\n');
        printTable(
          ['REVISION', 'MS', 'NVES'],
          j.convergence.map((c) => [String(c.revision), c.durationMs.toFixed(2), String(c.nves)]),
        );
      }
    });

  withConnection(
    vm
      .command('release-anchor')
      .description(
        'release the anchored old addresses of a VM that changed subnet (its old connections are done)',
      ),
  )
    .argument('<vni>', "the VM's VN now")
    .argument('<mac>')
    .argument('[ip]', 'one anchored address (default: all)')
    .action(async (vniS: string, macS: string, ip: string | undefined, o: ConnectionOpts) => {
      const vni = parseVni(vniS);
      const mac = parseMac(macS);
      const r = await withAdmin(o, (c) => c.releaseAnchor(vni, mac, ip ?? ''));
      if (o.json) printJson(r);
      else
        process.stdout.write(
          r.revision ? `released at revision ${r.revision}\n` : 'nothing was anchored\n',
        );
    });

  withConnection(
    vm.command('provision').description('allow a MAC (and IPs) on a TSI, optionally on one NVE'),
  )
    .argument('<vni>')
    .argument('<mac>')
    .argument('[ips...]', 'IPv4/IPv6 addresses of the VM')
    .option('--nve <id>', 'the only NVE that may register it (default: any NVE of the VN)')
    .option('--tsi <ifname>', 'host interface it is plugged into')
    .action(
      async (
        vniS: string,
        macS: string,
        ips: string[],
        o: ConnectionOpts & { nve?: string; tsi?: string },
      ) => {
        const req = {
          vni: parseVni(vniS),
          mac: parseMac(macS),
          ips,
          nveId: o.nve ?? '',
          tsi: o.tsi ?? '',
        };
        await withAdmin(o, (c) => c.provision(req));
        if (o.json) printJson({ ok: true, ...req });
        else process.stdout.write(`provisioned ${req.mac} in VNI ${req.vni}\n`);
      },
    );

  withConnection(
    vm.command('move').description('announce a migration: tell source and destination NVEs now'),
  )
    .argument('<vni>')
    .argument('<mac>')
    .requiredOption('--to <nve>', 'destination NVE id')
    .option('--from <nve>', 'source NVE id (default: where the directory has it)')
    .option('--ttl <seconds>', 'how long the hint stays valid')
    .action(
      async (
        vniS: string,
        macS: string,
        o: ConnectionOpts & { to: string; from?: string; ttl?: string },
      ) => {
        const ttl = o.ttl === undefined ? 0 : Number(o.ttl);
        if (!Number.isFinite(ttl) || ttl < 0)
          throw new UserError(`--ttl must be a number of seconds, not "${o.ttl}"`);
        const r = await withAdmin(o, (c) =>
          c.move({
            vni: parseVni(vniS),
            mac: parseMac(macS),
            toNve: o.to,
            fromNve: o.from ?? '',
            ttlMs: Math.round(ttl * 1000),
          }),
        );
        if (o.json)
          printJson({ revision: r.revision, expiresAt: new Date(r.expiresAtMs).toISOString() });
        else
          process.stdout.write(
            `move hint at revision ${r.revision}, valid until ${new Date(r.expiresAtMs).toISOString()}\n`,
          );
      },
    );

  withConnection(
    vm
      .command('clear-duplicate')
      .description('unfreeze a MAC flagged as duplicate (or IP conflict)'),
  )
    .argument('<vni>')
    .argument('<mac>')
    .action(async (vniS: string, macS: string, o: ConnectionOpts) => {
      const r = await withAdmin(o, (c) => c.clearDuplicate(parseVni(vniS), parseMac(macS)));
      if (o.json) printJson({ revision: r.revision });
      else
        process.stdout.write(
          r.revision ? `cleared at revision ${r.revision}\n` : 'nothing to clear\n',
        );
    });
}
