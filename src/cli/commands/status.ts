// `roam status`: one NVE at a glance — its instance's links and whether their interfaces still
// hold them, how full each table is, packets by verdict, and (when the agent's config names a
// metrics endpoint) whether the agent is up and connected to the NVA.
import type { Command } from 'commander';
import type { Dataplane } from '../../dataplane/dataplane.ts';
import { printJson, printTable } from './nva-connection.ts';
import {
  openTarget,
  resolveTarget,
  targetOptions,
  type TargetOptions,
} from './dataplane-target.ts';

/** How long `status` waits for the agent's metrics endpoint before calling it unreachable. */
const AGENT_PROBE_TIMEOUT_MS = 1_000;

export interface NveStatus {
  instance: string;
  pinRoot: string;
  links: { role: string; ifindex: number; hook: string; attached: boolean }[];
  tables: Record<string, number>;
  verdicts: Record<string, string>;
  agent?: { reachable: boolean; nvaConnected?: boolean; error?: string };
}

function tableSizes(dp: Dataplane): Record<string, number> {
  const t = dp.tables;
  return {
    fdb: t.fdb.size(),
    neigh: t.neigh.size(),
    tsis: t.tsis.size(),
    vnis: t.vnis.size(),
    peers: t.peers.size(),
    flood: t.flood.size(),
  };
}

/** Packets per verdict, summed over VNIs (bigint as decimal strings for JSON). */
function verdictTotals(dp: Dataplane): Record<string, string> {
  const acc = new Map<string, bigint>();
  for (const r of dp.stats.read()) acc.set(r.verdict, (acc.get(r.verdict) ?? 0n) + r.packets);
  return Object.fromEntries([...acc].sort().map(([k, v]) => [k, String(v)]));
}

/** Asks the agent's /metrics whether it is up and connected to the NVA. */
async function probeAgent(listen: string): Promise<NonNullable<NveStatus['agent']>> {
  try {
    const res = await fetch(`http://${listen}/metrics`, {
      signal: AbortSignal.timeout(AGENT_PROBE_TIMEOUT_MS),
    });
    const text = await res.text();
    const m = /^roam_nve_nva_connected(?:\{[^}]*\})? (\d+)/m.exec(text);
    return { reachable: res.ok, nvaConnected: m ? m[1] === '1' : undefined };
  } catch (err) {
    return { reachable: false, error: (err as Error).message };
  }
}

export async function nveStatus(o: TargetOptions): Promise<NveStatus> {
  const target = resolveTarget(o);
  const dp = openTarget(target);
  try {
    const status: NveStatus = {
      instance: target.instance,
      pinRoot: dp.layout.root,
      links: dp.linkStates(),
      tables: tableSizes(dp),
      verdicts: verdictTotals(dp),
    };
    const listen = target.config?.metrics?.listen;
    if (listen) status.agent = await probeAgent(listen);
    return status;
  } finally {
    dp.close();
  }
}

export function registerStatus(program: Command): void {
  targetOptions(
    program
      .command('status')
      .description(
        "an NVE's state: links, table sizes, packets by verdict, agent and NVA connection",
      )
      .option('--json', 'print JSON'),
  ).action(async (o: TargetOptions & { json?: boolean }) => {
    const s = await nveStatus(o);
    if (o.json) return printJson(s);
    process.stdout.write(`instance ${s.instance} (${s.pinRoot})\n`);
    if (s.agent) {
      const a = s.agent;
      process.stdout.write(
        `agent: ${a.reachable ? 'up' : `unreachable${a.error ? ` (${a.error})` : ''}`}` +
          `${a.nvaConnected === undefined ? '' : `, NVA ${a.nvaConnected ? 'connected' : 'disconnected (headless)'}`}\n`,
      );
    }
    process.stdout.write('\nlinks\n');
    printTable(
      ['ROLE', 'IFINDEX', 'HOOK', 'ATTACHED'],
      s.links.map((l) => [
        l.role,
        String(l.ifindex),
        l.hook,
        l.attached ? 'yes' : 'no (interface gone)',
      ]),
    );
    process.stdout.write('\ntables\n');
    printTable(
      ['TABLE', 'ENTRIES'],
      Object.entries(s.tables).map(([k, v]) => [k, String(v)]),
    );
    process.stdout.write('\npackets by verdict\n');
    printTable(['VERDICT', 'PACKETS'], Object.entries(s.verdicts));
  });
}
