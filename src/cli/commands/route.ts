// `roam route list|add|del`: the routes of each VRF (issue 6, docs/l3.md) against a running
// NVA's Admin service: host routes of the VMs of routed VNs, static routes and address anchors,
// as the directory has them (every NVE of the VRF derives its tables from the same). Human tables
// by default, --json for scripts.
import type { Command } from 'commander';
import {
  parseVrf,
  printJson,
  printTable,
  withAdmin,
  withConnection,
  type ConnectionOpts,
} from './nva-connection.ts';

export function registerRoute(program: Command): void {
  const route = program
    .command('route')
    .description('routes of the VRFs (L3 overlay): host routes, static routes, anchors');

  withConnection(
    route
      .command('list')
      .description('every route of the VRFs as the directory has them (or of one: --vrf)'),
  )
    .option('--vrf <id>', 'only this VRF')
    .action(async (o: ConnectionOpts & { vrf?: string }) => {
      const vrf = o.vrf === undefined ? 0 : parseVrf(o.vrf);
      const r = await withAdmin(o, (c) => c.listRoutes(vrf));
      if (o.json) return printJson(r.routes);
      printTable(
        ['VRF', 'PREFIX', 'KIND', 'VNI', 'MAC', 'NVE', 'VIA', 'STATE'],
        r.routes.map((x) => [
          String(x.vrf),
          x.prefix,
          x.kind,
          x.vni ? String(x.vni) : '-',
          x.mac || '-',
          x.nveId || '-',
          x.via || '-',
          x.state.replace(/^ENTRY_STATE_/, '').toLowerCase() || '-',
        ]),
      );
    });

  withConnection(
    route
      .command('add')
      .description("a static route: the prefix goes where its next hop's host route goes"),
  )
    .argument('<vrf>', 'VRF id')
    .argument('<prefix>', 'network address and length, e.g. 0.0.0.0/0 or fd00:10::/48')
    .requiredOption('--via <ip>', 'an address of a VM of the VRF (router, appliance)')
    .action(async (vrfS: string, prefix: string, o: ConnectionOpts & { via: string }) => {
      const vrf = parseVrf(vrfS);
      const r = await withAdmin(o, (c) => c.addRoute(vrf, prefix, o.via));
      if (o.json) printJson(r);
      else process.stdout.write(`VRF ${vrf}: ${prefix} via ${o.via} (revision ${r.revision})\n`);
    });

  withConnection(route.command('del').description('delete a static route'))
    .argument('<vrf>', 'VRF id')
    .argument('<prefix>')
    .action(async (vrfS: string, prefix: string, o: ConnectionOpts) => {
      const vrf = parseVrf(vrfS);
      const r = await withAdmin(o, (c) => c.deleteRoute(vrf, prefix));
      if (o.json) printJson(r);
      else process.stdout.write(`VRF ${vrf}: ${prefix} deleted (revision ${r.revision})\n`);
    });
}
