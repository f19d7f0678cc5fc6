// The Dataplane's life cycle on real interfaces: a second process re-adopts the pinned state
// while traffic keeps flowing (no packet lost), and detach leaves nothing behind: no pins, no
// XDP or TCX attachment, no program left in the kernel.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dataplane } from '../../../src/dataplane/dataplane.ts';
import { installRoamNve, sweepRoamInstances, type RoamNve } from '../../../src/lab/roam-nve.ts';
import { buildTopology, type Topology } from '../../../src/lab/topology.ts';
import { DEFAULT_PIN_BASE } from '../../../src/dataplane/pin-layout.ts';
import { destroyAll, runPrefix } from '../../helpers/netns.ts';

const VN = 300;

/** Every bpf_link in the kernel (XDP and TCX alike) that runs one of these programs. */
function linksOf(progIds: number[]): { id: number; prog_id: number }[] {
  const out = execFileSync('bpftool', ['-j', 'link', 'show'], { encoding: 'utf8' });
  return (JSON.parse(out || '[]') as { id: number; prog_id: number }[]).filter((l) =>
    progIds.includes(l.prog_id),
  );
}
const PING_COUNT = 200;
const PING_INTERVAL_S = '0.01';

describe('Dataplane adopt and detach', () => {
  let topo: Topology;
  let roam: RoamNve[] = [];

  beforeAll(() => {
    topo = buildTopology({
      nves: 2,
      underlay: 'p2p',
      vms: [
        { name: 'a', nve: 0, vni: VN },
        { name: 'b', nve: 1, vni: VN },
      ],
    });
    roam = [installRoamNve(topo, 0), installRoamNve(topo, 1)];
  });
  afterAll(() => {
    for (const r of roam) r.remove();
    topo?.destroy();
    destroyAll();
  });

  it('keeps forwarding while the first process lets go and a second one adopts', async () => {
    const [r0] = roam;
    if (!r0) throw new Error('roam not installed');
    const a = topo.vm('a');
    const b = topo.vm('b');
    const instance = r0.instance;
    const pingRun = a.ns.runAsync(
      'ping',
      ['-q', '-c', String(PING_COUNT), '-i', PING_INTERVAL_S, '-W', '2', b.ipv4],
      { timeoutMs: 60_000 },
    );
    await new Promise((r) => setTimeout(r, 300));
    // The first process lets go of every fd: only the pins hold roam in place now.
    r0.dp.close();
    const out = execFileSync(
      'npx',
      [
        'tsx',
        'test/netns/dataplane/adopt-child.ts',
        instance,
        topo.nve(0).ns.name,
        DEFAULT_PIN_BASE,
        String(VN),
        b.mac,
        topo.nve(1).ipv4,
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    const report = JSON.parse(out.trim().split('\n').pop() ?? '{}') as {
      pid: number;
      links: { role: string; hook: string; attached: boolean }[];
      tsis: number[];
      fdb: number;
      encap: string;
    };
    const { stdout } = await pingRun;
    expect(report.pid).not.toBe(process.pid);
    expect(report.links.filter((l) => l.attached)).toHaveLength(4);
    expect(report.tsis).toEqual([a.tsiIfindex]);
    expect(report.fdb).toBe(2);
    expect(BigInt(report.encap)).toBeGreaterThan(0n);
    expect(stdout).toMatch(new RegExp(`${PING_COUNT} packets transmitted, ${PING_COUNT} received`));
    // The test process adopts it back for the rest of the test.
    r0.readopt();
  });

  it("the test run's sweep removes an instance its process never detached", () => {
    const n1 = topo.nve(1);
    const instance = `${runPrefix()}crashed-${process.pid}`;
    const dp = Dataplane.load({ instance, netns: n1.ns.name });
    const z = topo.addVm({ name: 'z', nve: 1, vni: VN });
    dp.attachTsi(z.tsiIfindex);
    // b's TSI is roam[1]'s: a second XDP program there is refused, and nothing is left half-done.
    expect(() => dp.attachTsi(topo.vm('b').tsiIfindex)).toThrow(/EBUSY/);
    expect(
      dp
        .linkStates()
        .filter((l) => l.role === 'tsi')
        .map((l) => l.ifindex),
    ).toEqual([z.tsiIfindex, z.tsiIfindex]);
    dp.close(); // as if the process died: pins and links stay
    expect(existsSync(`${DEFAULT_PIN_BASE}/${instance}`)).toBe(true);
    expect(sweepRoamInstances(`${runPrefix()}crashed-`)).toEqual([instance]);
    expect(existsSync(`${DEFAULT_PIN_BASE}/${instance}`)).toBe(false);
    const zLink = JSON.parse(n1.ns.ip('-j', '-d', 'link', 'show', 'dev', z.tsi)) as {
      xdp?: unknown;
    }[];
    expect(zLink[0]?.xdp).toBeUndefined();
    // b's TSI still runs the program roam[1] attached.
    expect(roam[1]?.dp.attachedTsis()).toEqual([topo.vm('b').tsiIfindex]);
  });

  it('detach removes links, programs, pins and the directory', () => {
    const [r0] = roam;
    if (!r0) throw new Error('roam not installed');
    const n0 = topo.nve(0);
    const a = topo.vm('a');
    const root = r0.dp.layout.root;
    const progIds = (['tsi', 'underlay', 'floodTsi', 'floodUnderlay'] as const).map((p) =>
      r0.dp.program(p).id(),
    );
    // Before: four links (XDP and TCX on ul0 and on a's TSI) run our programs.
    expect(linksOf(progIds)).toHaveLength(4);
    r0.dp.detach();
    expect(existsSync(root)).toBe(false);
    for (const dev of [n0.underlayIf, a.tsi]) {
      const link = JSON.parse(n0.ns.ip('-j', '-d', 'link', 'show', 'dev', dev)) as {
        xdp?: unknown;
      }[];
      expect(link[0]?.xdp).toBeUndefined();
    }
    expect(linksOf(progIds)).toEqual([]);
    for (const id of progIds) {
      expect(() =>
        execFileSync('bpftool', ['prog', 'show', 'id', String(id)], { stdio: 'pipe' }),
      ).toThrow();
    }
  });
});
