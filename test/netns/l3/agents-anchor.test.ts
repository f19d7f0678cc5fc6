// End to end, issue 6 item 4: a VM moves into another subnet and takes a new address there. Its
// old address stays reachable while its connections use it: the NVA anchors it at the NVE the VM
// had it at (every NVE routes it there, that NVE re-tunnels to the VM's new NVE), new
// connections use the new address, and the anchor goes once the old address was idle for the
// agents' anchorIdleTime (or when the orchestrator releases it). Real NVA, agents, XDP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyAll } from '../../helpers/netns.ts';
import { MobilityLab } from '../../../src/lab/mobility-lab.ts';
import { ping } from '../../../src/lab/probes.ts';
import { TcpSession } from '../../../src/lab/tcp-session.ts';

const L3VNI = 5001;
const [A, B, C] = [0, 1, 2];
const M_MAC = '02:00:00:00:64:60';
const OLD = { ipv4: '10.91.0.60', ipv6: 'fd91::60' };
const NEW = { tsi: 'tsi-m2', vni: 200, ipv4: '10.92.0.61', ipv6: 'fd92::61' };
const IDLE_MS = 2_000;

describe('e2e L3: a VM changes subnet; its old address is anchored while in use', () => {
  let lab: MobilityLab;

  beforeAll(async () => {
    lab = await MobilityLab.start({
      nves: 3,
      vms: [
        { name: 'm', nve: A, vni: 100, mac: M_MAC, ...OLD },
        { name: 'b', nve: B, vni: 200, ipv4: '10.92.0.20', ipv6: 'fd92::20' },
      ],
      l3: {
        vrfs: [{ vrf: 1, l3Vni: L3VNI }],
        gateways: {
          100: { vrf: 1, ip4: '10.91.0.1/24', ip6: 'fd91::1/64' },
          200: { vrf: 1, ip4: '10.92.0.1/24', ip6: 'fd92::1/64' },
        },
      },
      extraTsis: [{ interface: NEW.tsi, vni: NEW.vni, mac: M_MAC, ips: [NEW.ipv4, NEW.ipv6] }],
      anchorIdleTime: `${IDLE_MS}ms`,
    });
    // the orchestrator allows m's new address in VN 200
    await lab.admin.provision({ vni: NEW.vni, mac: M_MAC, ips: [NEW.ipv4, NEW.ipv6] });
  }, 120_000);

  afterAll(async () => {
    await lab?.destroy();
    destroyAll();
  });

  it('TCP to the old address survives the move; new connections use the new one; idle -> released', async () => {
    const b = lab.topo.vm('b');
    const old4 = await TcpSession.open(b, lab.topo.vm('m'), OLD.ipv4, { port: 9401 });
    const old6 = await TcpSession.open(b, lab.topo.vm('m'), OLD.ipv6, { port: 9402 });
    try {
      await old4.waitEchoes(20);
      await old6.waitEchoes(20);
      const m = await lab.moveToSubnet('m', C, NEW);
      await lab.waitFor('m in VN 200 at C with its old addresses anchored', async () => {
        const e = await lab.entry(m);
        return e?.nveId === lab.nveId(C) && (e.anchors?.length ?? 0) === 2;
      });
      await lab.waitConverged();
      const e = await lab.entry(m);
      expect(e?.anchors?.map((a) => [a.ip, a.fromVni, a.nveId]).sort()).toEqual([
        [OLD.ipv4, 100, lab.nveId(A)],
        [OLD.ipv6, 100, lab.nveId(A)],
      ]);
      // routes of the old address: peers -> A (the anchor), A -> C, C -> the VM (flagged)
      const route = (i: number, ip: string) => lab.l3Tables(i).hostRoutes.get({ vrf: 1, ip });
      for (const ip of [OLD.ipv4, OLD.ipv6]) {
        expect(route(B, ip)).toEqual({ kind: 'remote', l3Vni: L3VNI, nve: lab.nveAddr(A) });
        expect(route(A, ip)).toEqual({ kind: 'remote', l3Vni: L3VNI, nve: lab.nveAddr(C) });
        expect(route(C, ip)).toMatchObject({ kind: 'local', vni: 200, mac: M_MAC, anchor: true });
      }
      const retunnelA = lab.count(A, 'retunnel', L3VNI);
      await old4.waitEchoes(100, 15_000);
      await old6.waitEchoes(100, 15_000);
      expect(old4.closed).toBeUndefined();
      expect(old6.closed).toBeUndefined();
      console.log(
        `subnet change: TCP to the old address stalled at most ${old4.maxGapMs.toFixed(0)} ms (IPv4), ${old6.maxGapMs.toFixed(0)} ms (IPv6)`,
      );
      // the old connections' packets to m went through the anchor
      expect(lab.count(A, 'retunnel', L3VNI) - retunnelA).toBeGreaterThanOrEqual(100);

      // new connections: to the new address, and from m with its new address as source
      const to = await TcpSession.open(b, m, NEW.ipv4, { port: 9403 });
      const from = await TcpSession.open(m, b, b.ipv4, { port: 9404 });
      try {
        await to.waitEchoes(10);
        await from.waitEchoes(10);
        expect(from.localAddress).toBe(NEW.ipv4);
      } finally {
        to.close();
        from.close();
      }
      // still in use: not released
      await new Promise((r) => setTimeout(r, IDLE_MS + 1000));
      expect((await lab.entry(m))?.anchors?.length).toBe(2);
    } finally {
      old4.close();
      old6.close();
    }
    // nothing uses the old address now: released after the idle time, routes gone everywhere
    const m = lab.topo.vm('m');
    const t0 = Date.now();
    await lab.waitFor(
      'the idle anchors released',
      async () => !(await lab.entry(m))?.anchors?.length,
      15_000,
    );
    const releasedAfter = Date.now() - t0;
    console.log(
      `anchors released ${releasedAfter} ms after the last use (idle time ${IDLE_MS} ms)`,
    );
    expect(releasedAfter).toBeGreaterThanOrEqual(IDLE_MS - 500);
    await lab.waitConverged();
    for (let i = 0; i < 3; i++)
      expect(lab.l3Tables(i).hostRoutes.get({ vrf: 1, ip: OLD.ipv4 })).toBeUndefined();
    expect(ping(b, OLD.ipv4, 2)).toBe(0);
    expect(ping(b, NEW.ipv4, 2)).toBe(2);
  });
});
