// End to end, issue 6 item 3: a VM moves A -> B -> C within about a second; a sender's NVE that
// heard of neither move (its agent is paused) still tunnels the VM's packets to A. A must send
// them straight to C (one re-tunnel), never through B: every NVE the VM lived on points its
// host route at the current NVE. Real NVA, real agents, real XDP; the routes are the agents'.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyAll } from '../../helpers/netns.ts';
import { MobilityLab } from '../../../src/lab/mobility-lab.ts';
import { ping } from '../../../src/lab/probes.ts';

const L3VNI = 5001;
const [A, B, C, S] = [0, 1, 2, 3];

describe('e2e L3: A -> B -> C within a second, packets still reaching A go to C in one hop', () => {
  let lab: MobilityLab;

  beforeAll(async () => {
    lab = await MobilityLab.start({
      nves: 4,
      vms: [
        { name: 'v', nve: A, vni: 200, ipv4: '10.82.0.20', ipv6: 'fd82::20' },
        { name: 's', nve: S, vni: 100, ipv4: '10.81.0.10', ipv6: 'fd81::10' },
      ],
      l3: {
        vrfs: [{ vrf: 1, l3Vni: L3VNI }],
        gateways: {
          100: { vrf: 1, ip4: '10.81.0.1/24', ip6: 'fd81::1/64' },
          200: { vrf: 1, ip4: '10.82.0.1/24', ip6: 'fd82::1/64' },
        },
      },
      // S serves VN 100 only: VN 200 (v's) is route-only there
      serveOnly: { [S]: [100] },
    });
  }, 120_000);

  afterAll(async () => {
    lab?.agents[S]?.child.kill('SIGCONT');
    await lab?.destroy();
    destroyAll();
  });

  it('routes follow the VM to C at A and at B; the stale sender reaches it through A alone', async () => {
    const v = lab.topo.vm('v');
    const s = lab.topo.vm('s');
    expect(ping(s, v.ipv4, 3)).toBe(3);
    const route = (i: number) => lab.l3Tables(i).hostRoutes.get({ vrf: 1, ip: v.ipv4 });
    expect(route(S)).toEqual({ kind: 'remote', l3Vni: L3VNI, nve: lab.nveAddr(A) });
    // route-only at S: a host route for v, but no L2 state of VN 200 (no FDB entry, no flood
    // list, no tunnel peers of VN 200) and no gateway for it
    const t = lab.tables(S).tables;
    expect(t.fdb.get({ vni: 200, mac: v.mac })).toBeUndefined();
    expect(t.flood.get(200)).toBeUndefined();
    expect([...t.peers.entries()].filter(([k]) => k.vni === 200)).toEqual([]);
    expect(lab.l3Tables(S).routedVnis.get(200)).toBeUndefined();
    expect(lab.l3Tables(S).routedVnis.get(L3VNI)).toMatchObject({ kind: 'l3', vrf: 1 });

    // S hears nothing from now on: its dataplane keeps tunnelling v's packets to A.
    lab.agents[S]!.child.kill('SIGSTOP');
    try {
      const t0 = performance.now();
      await lab.move('v', B, { announce: 'garp' });
      await lab.waitFor('v at B', async () => (await lab.entry(v))?.nveId === lab.nveId(B));
      const atB = performance.now() - t0;
      await lab.move('v', C, { announce: 'garp' });
      await lab.waitFor('v at C', async () => (await lab.entry(v))?.nveId === lab.nveId(C));
      const atC = performance.now() - t0;
      const remoteC = { kind: 'remote', l3Vni: L3VNI, nve: lab.nveAddr(C) };
      await lab.waitFor('A and B route v to C', () => {
        const a = route(A);
        const b = route(B);
        return (
          a?.kind === 'remote' &&
          a.nve === remoteC.nve &&
          b?.kind === 'remote' &&
          b.nve === remoteC.nve
        );
      });
      const routed = performance.now() - t0;
      console.log(
        `A->B->C: registered at B after ${atB.toFixed(0)} ms, at C after ${atC.toFixed(0)} ms, ` +
          `A and B route to C after ${routed.toFixed(0)} ms`,
      );
      // the VM stayed at B less than a second (directory polled every 2 ms: an upper bound)
      expect(atC - atB).toBeLessThan(1000);
      expect(route(A)).toEqual(remoteC);
      expect(route(B)).toEqual(remoteC);
      expect(route(C)).toMatchObject({ kind: 'local', vni: 200, mac: v.mac });
      // S is stale: still toward A
      expect(route(S)).toEqual({ kind: 'remote', l3Vni: L3VNI, nve: lab.nveAddr(A) });

      const retunnelA = lab.count(A, 'retunnel', L3VNI);
      const atBBefore =
        lab.count(B, 'retunnel', L3VNI) +
        lab.count(B, 'routed-local', L3VNI) +
        lab.count(B, 'drop-no-route', L3VNI);
      const deliveredC = lab.count(C, 'routed-local', L3VNI);
      expect(ping(s, v.ipv4, 10)).toBe(10);
      // every request: S -> A (stale) -> C, re-tunnelled once by A; B saw none of them
      expect(lab.count(A, 'retunnel', L3VNI) - retunnelA).toBe(10);
      expect(lab.count(C, 'routed-local', L3VNI) - deliveredC).toBe(10);
      expect(
        lab.count(B, 'retunnel', L3VNI) +
          lab.count(B, 'routed-local', L3VNI) +
          lab.count(B, 'drop-no-route', L3VNI) -
          atBBefore,
      ).toBe(0);
    } finally {
      lab.agents[S]!.child.kill('SIGCONT');
    }
    // once S catches up it tunnels straight to C
    await lab.waitConverged();
    expect(route(S)).toEqual({ kind: 'remote', l3Vni: L3VNI, nve: lab.nveAddr(C) });
    expect(ping(s, v.ipv6, 3)).toBe(3);
  });
});
