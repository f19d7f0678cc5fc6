// `roam status` and `roam map dump` against a real roam instance in namespaces: the commands run
// as a separate process (as an operator would run them) and read the pinned maps.
import { execFileSync, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTopology, type Topology } from '../../../src/lab/topology.ts';
import { installRoamNve, type RoamNve } from '../../../src/lab/roam-nve.ts';
import { ping } from '../../../src/lab/probes.ts';
import { destroyAll } from '../../helpers/netns.ts';

const ROAM = ['bin/roam.js'];

function roam(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('node', [...ROAM, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('roam status and roam map dump', () => {
  let topo: Topology;
  let nve0: RoamNve;
  let nve1: RoamNve;

  beforeAll(() => {
    topo = buildTopology({
      nves: 2,
      vms: [
        { name: 'a', nve: 0, vni: 100 },
        { name: 'b', nve: 1, vni: 100 },
      ],
    });
    nve0 = installRoamNve(topo, 0);
    nve1 = installRoamNve(topo, 1);
  });

  afterAll(() => {
    nve0?.remove();
    nve1?.remove();
    topo?.destroy();
    destroyAll();
  });

  it('map dump shows the fdb as the tables hold it, in JSON and as a table', () => {
    const a = topo.vm('a');
    const b = topo.vm('b');
    const r = roam(
      'map',
      'dump',
      'fdb',
      '--json',
      '--instance',
      nve0.dp.layout.root.split('/').pop() ?? '',
    );
    expect(r.stderr).not.toMatch(/Error|at /);
    expect(r.code).toBe(0);
    const rows = (JSON.parse(r.stdout) as { fdb: Record<string, string>[] }).fdb;
    expect(rows).toContainEqual({
      vni: '100',
      mac: a.mac,
      kind: 'local',
      where: `ifindex ${a.tsiIfindex}`,
      rarp: a.ipv4,
    });
    expect(rows).toContainEqual({
      vni: '100',
      mac: b.mac,
      kind: 'remote',
      where: topo.nve(1).ipv4,
      rarp: b.ipv4,
    });

    const text = roam(
      'map',
      'dump',
      'fdb',
      '--instance',
      nve0.dp.layout.root.split('/').pop() ?? '',
    );
    expect(text.code).toBe(0);
    expect(text.stdout.split('\n')[0]).toMatch(/^VNI\s+MAC\s+KIND\s+WHERE\s+RARP$/);
    expect(text.stdout).toContain(b.mac);
  });

  it('status reports attached links, table sizes and the packets roam forwarded', () => {
    expect(ping(topo.vm('a'), topo.vm('b').ipv4, 3)).toBe(3);
    const instance = nve0.dp.layout.root.split('/').pop() ?? '';
    const r = roam('status', '--json', '--instance', instance);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as {
      links: { role: string; ifindex: number; hook: string; attached: boolean }[];
      tables: Record<string, number>;
      verdicts: Record<string, string>;
    };
    expect(s.links).toContainEqual({
      role: 'tsi',
      ifindex: topo.vm('a').tsiIfindex,
      hook: 'xdp',
      attached: true,
    });
    expect(s.links.some((l) => l.role === 'underlay' && l.attached)).toBe(true);
    expect(s.tables.fdb).toBe(2);
    expect(Number(s.verdicts.encap ?? 0)).toBeGreaterThanOrEqual(3);
    expect(Number(s.verdicts.decap ?? 0)).toBeGreaterThanOrEqual(3);
  });

  it('an instance that is not loaded, or an unknown table, is one clear line and a non-zero exit', () => {
    const missing = roam('status', '--instance', 'no-such-instance');
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toBe(
      'roam: no roam instance "no-such-instance" is loaded under /sys/fs/bpf/roam (is the agent running, or was it detached?)',
    );
    const instance = nve0.dp.layout.root.split('/').pop() ?? '';
    const bad = roam('map', 'dump', 'bogus', '--instance', instance);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toMatch(/^roam: unknown table "bogus": choose from fdb, neigh/);
    expect(execFileSync('ls', [nve0.dp.layout.root], { encoding: 'utf8' })).toContain('fdb');
  });
});
