// The agent wired end to end without root: config file, token file, TSI watcher fed by a fake
// `ip monitor`, in-memory dataplane, a real NVA on loopback, and the metrics endpoint scraped.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { memoryDataplane, NveAgent, readToken } from '../../../src/nve/agent.ts';
import { parseConfig } from '../../../src/nve/config.ts';
import type { LinkSource } from '../../../src/nve/tsi-watcher.ts';
import { UserError } from '../../../src/cli/user-error.ts';
import { startNva, tokenOf, until, type Nva } from '../nva/harness.ts';
import { VM_B } from './fake-nva.ts';

const dir = mkdtempSync(join(tmpdir(), 'roam-agent-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let nva: Nva | undefined;
const agents: NveAgent[] = [];
afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop();
  await nva?.close();
  nva = undefined;
});

function links(initial: Array<{ ifindex: number; ifname: string }>) {
  const lines = new PassThrough();
  const source: LinkSource = {
    monitor: () => ({ lines, stop: () => lines.end() }),
    list: () => Promise.resolve(JSON.stringify(initial)),
  };
  return { source, emit: (l: string) => lines.write(`${l}\n`) };
}

function agent(id: string, addr: string, initial: Array<{ ifindex: number; ifname: string }>) {
  const tokenFile = join(dir, `${id}.token`);
  writeFileSync(tokenFile, `${tokenOf(id)}\n`);
  const config = parseConfig(`
id: ${id}
underlay: { interface: eth0, address: ${addr} }
nva: { endpoint: "${nva!.address}", tokenFile: ${tokenFile} }
holdTime: 1s
metrics: { listen: "127.0.0.1:0" }
tsis:
  - interface: tap-b
    vni: 100
    mac: ${VM_B.mac}
    ips: [${VM_B.ip}]
  - pattern: tap-x*
    vni: 100
`);
  const l = links(initial);
  const dataplane = memoryDataplane();
  const a = new NveAgent({
    config,
    dataplane,
    log: pino({ level: 'silent' }),
    linkSource: l.source,
  });
  agents.push(a);
  return { a, dataplane, links: l };
}

describe('NveAgent', () => {
  it('runs: TSIs from the link listing, learning, registration, peers follow, metrics served', async () => {
    nva = await startNva({ nves: ['a', 'b'] });
    await nva.admin.configureVn({ vni: 100, learning: 'open', routed: false });
    const A = agent('a', '192.0.2.1', [
      { ifindex: 1, ifname: 'lo' },
      { ifindex: 7, ifname: 'tap-b' },
    ]);
    const B = agent('b', '192.0.2.2', [{ ifindex: 1, ifname: 'lo' }]);
    await A.a.start();
    await B.a.start();
    await until('connected', () => A.a.loop.isConnected && B.a.loop.isConnected);
    expect(A.a.loop.tsiList().map((t) => t.name)).toEqual(['tap-b']);

    A.dataplane.emit!({ kind: 'garp', ifindex: 7, vni: 100, mac: VM_B.mac, ip: VM_B.ip });
    await until(
      'b learns B',
      () => B.dataplane.tables.fdb.get({ vni: 100, mac: VM_B.mac }) !== undefined,
    );
    expect(B.dataplane.tables.fdb.get({ vni: 100, mac: VM_B.mac })).toEqual({
      kind: 'remote',
      vtep: '192.0.2.1',
      rarp: VM_B.ip,
    });

    // Hot-plug at b: a VM on tap-x1 announces itself (open learning, no provisioned MAC).
    B.links.emit('12: tap-x1@if3: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 state UP');
    await until('b sees tap-x1', () => B.a.loop.tsiList().length === 1);
    B.dataplane.emit!({ kind: 'new_mac', ifindex: 12, vni: 100, mac: '52:54:00:00:00:99' });
    await until(
      'a learns the new VM',
      () => A.dataplane.tables.fdb.get({ vni: 100, mac: '52:54:00:00:00:99' }) !== undefined,
    );
    expect(A.dataplane.tables.flood.get(100)).toEqual({ local: [7], remote: ['192.0.2.2'] });

    const res = await fetch(`http://${A.a.metricsAddress()}/metrics`);
    const text = await res.text();
    expect(text).toMatch(/roam_nve_nva_connected\{nve="a"\} 1/);
    expect(text).toMatch(/roam_nve_announcements_total\{outcome="installed",nve="a"\} 1/);
    expect(text).toMatch(/roam_nve_table_entries\{table="fdb",nve="a"\} 2/);
    expect(text).toMatch(/roam_nve_registrations_total\{result="accepted",nve="a"\} 1/);
    expect(await (await fetch(`http://${A.a.metricsAddress()}/healthz`)).text()).toBe('ok\n');

    // The VM leaves a: its TSI is deleted, it is withdrawn, b forgets it.
    A.links.emit('Deleted 7: tap-b: <BROADCAST> mtu 1500');
    await until(
      'b forgets B',
      () => B.dataplane.tables.fdb.get({ vni: 100, mac: VM_B.mac }) === undefined,
    );
  });

  it('refuses a missing or empty token file with one clear sentence', () => {
    expect(() => readToken(join(dir, 'nope'))).toThrow(UserError);
    writeFileSync(join(dir, 'empty'), '\n');
    expect(() => readToken(join(dir, 'empty'))).toThrow(/is empty/);
  });
});
