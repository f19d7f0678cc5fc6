// End to end, issue 6 (docs/l3.md): the L3 overlay driven by the control plane. A real NVA and
// real agents on three NVE namespaces; the NVA's directory holds VRF 1 (L3 VNI 5001) with two
// routed VNs (100 and 200, two subnets) and VRF 2 (L3 VNI 5002) with VN 300. The agents install
// the anycast gateway, the L3 VNI's peers and a host route per VM address from the directory:
// the test writes no table. Ping and TCP across subnets and NVEs (IPv4, IPv6), a VM that moves
// to another NVE keeping its address (TCP survives, its gateway does not change), and no
// packet from VRF 1 reaches VRF 2.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyAll } from '../../helpers/netns.ts';
import { MobilityLab } from '../../../src/lab/mobility-lab.ts';
import { ping, vmAddr, type Family } from '../../../src/lab/probes.ts';
import { TcpSession } from '../../../src/lab/tcp-session.ts';
import { DEFAULT_ROUTER_MAC } from '../../../src/nva/l3-rules.ts';

const L3VNI = { 1: 5001, 2: 5002 } as const;
const GW = {
  100: { vrf: 1, ip4: '10.71.0.1/24', ip6: 'fd71::1/64' },
  200: { vrf: 1, ip4: '10.72.0.1/24', ip6: 'fd72::1/64' },
  300: { vrf: 2, ip4: '10.73.0.1/24', ip6: 'fd73::1/64' },
};

describe('e2e L3: routed VNs of two VRFs, driven by the NVA', () => {
  let lab: MobilityLab;

  beforeAll(async () => {
    lab = await MobilityLab.start({
      nves: 3,
      vms: [
        { name: 'a', nve: 0, vni: 100, ipv4: '10.71.0.10', ipv6: 'fd71::10' },
        { name: 'b', nve: 1, vni: 200, ipv4: '10.72.0.20', ipv6: 'fd72::20' },
        { name: 'c', nve: 2, vni: 100, ipv4: '10.71.0.30', ipv6: 'fd71::30' },
        { name: 'x', nve: 1, vni: 300, ipv4: '10.73.0.40', ipv6: 'fd73::40' },
        // a router VM: the next hop of VRF 1's static routes
        { name: 'r', nve: 2, vni: 100, ipv4: '10.71.0.50', ipv6: 'fd71::50' },
      ],
      l3: {
        vrfs: [
          { vrf: 1, l3Vni: L3VNI[1] },
          { vrf: 2, l3Vni: L3VNI[2] },
        ],
        gateways: GW,
      },
    });
  }, 120_000);

  afterAll(async () => {
    await lab?.destroy();
    destroyAll();
  });

  it('every NVE has the gateways, the L3 VNIs and a host route per VM address', () => {
    const a = lab.topo.vm('a');
    const b = lab.topo.vm('b');
    for (let i = 0; i < 3; i++) {
      const t = lab.l3Tables(i);
      expect(t.routedVnis.get(100)).toEqual({
        kind: 'tenant',
        vrf: 1,
        gatewayMac: DEFAULT_ROUTER_MAC,
        gatewayIp4: '10.71.0.1',
        gatewayIp6: 'fd71::1',
        unreachable: false,
      });
      expect(t.routedVnis.get(L3VNI[1])).toEqual({
        kind: 'l3',
        vrf: 1,
        routerMac: DEFAULT_ROUTER_MAC,
      });
      // b lives on NVE 1: local there, over the L3 VNI elsewhere
      const want =
        i === 1
          ? { kind: 'local', vni: 200, ifindex: b.tsiIfindex, mac: b.mac }
          : { kind: 'remote', l3Vni: L3VNI[1], nve: lab.nveAddr(1) };
      expect(t.hostRoutes.get({ vrf: 1, ip: b.ipv4 })).toEqual(want);
      expect(t.hostRoutes.get({ vrf: 1, ip: b.ipv6 })).toEqual(want);
      expect(t.hostRoutes.get({ vrf: 1, ip: a.ipv4 })?.kind).toBe(i === 0 ? 'local' : 'remote');
      // the L3 VNI's tunnels: the other NVEs are its peers
      for (let j = 0; j < 3; j++)
        if (j !== i)
          expect(
            lab.tables(i).tables.peers.get({ vni: L3VNI[1], nve: lab.nveAddr(j) }),
          ).toBeDefined();
    }
  });

  it.each(['ipv4', 'ipv6'] as const)(
    'VMs of two subnets on different NVEs ping each other (%s), routed by roam',
    (fam: Family) => {
      const a = lab.topo.vm('a');
      const b = lab.topo.vm('b');
      const remoteBefore = lab.count(0, 'routed-remote', 100);
      const localBefore = lab.count(1, 'routed-local', L3VNI[1]);
      expect(ping(a, vmAddr(b, fam), 5)).toBe(5);
      expect(ping(b, vmAddr(a, fam), 5)).toBe(5);
      expect(lab.count(0, 'routed-remote', 100) - remoteBefore).toBeGreaterThanOrEqual(5);
      expect(lab.count(1, 'routed-local', L3VNI[1]) - localBefore).toBeGreaterThanOrEqual(5);
    },
  );

  it.each(['ipv4', 'ipv6'] as const)('TCP between the subnets (%s)', async (fam: Family) => {
    const s = await TcpSession.open(
      lab.topo.vm('a'),
      lab.topo.vm('b'),
      vmAddr(lab.topo.vm('b'), fam),
    );
    try {
      await s.waitEchoes(50);
      expect(s.closed).toBeUndefined();
    } finally {
      s.close();
    }
  });

  it('a static route (roam route add) is pushed and installed, via a router VM, then deleted', async () => {
    const b = lab.topo.vm('b');
    const r = lab.topo.vm('r');
    // "outside" networks behind the router VM (its own addresses: it answers pings itself)
    r.ns.ip('addr', 'add', '192.168.50.1/32', 'dev', 'lo');
    r.ns.ip('-6', 'addr', 'add', 'fd50::1/128', 'dev', 'lo');
    expect(ping(b, '192.168.50.1', 2)).toBe(0);
    await lab.admin.addRoute(1, '192.168.50.0/24', r.ipv4);
    await lab.admin.addRoute(1, 'fd50::/64', r.ipv6);
    await lab.waitConverged();
    for (let i = 0; i < 3; i++) {
      const want =
        i === 2
          ? { kind: 'local', vni: 100, ifindex: r.tsiIfindex, mac: r.mac }
          : { kind: 'remote', l3Vni: L3VNI[1], nve: lab.nveAddr(2) };
      expect(lab.l3Tables(i).prefixRoutes.get({ vrf: 1, prefix: '192.168.50.0/24' })).toEqual(want);
      expect(lab.l3Tables(i).prefixRoutes.get({ vrf: 1, prefix: 'fd50::/64' })).toEqual(want);
    }
    expect(ping(b, '192.168.50.1', 3)).toBe(3);
    expect(ping(b, 'fd50::1', 3)).toBe(3);
    const listed = (await lab.admin.listRoutes(1)).routes.filter((x) => x.kind === 'static');
    expect(listed.map((x) => [x.prefix, x.via, x.nveId])).toEqual([
      ['192.168.50.0/24', r.ipv4, lab.nveId(2)],
      ['fd50::/64', r.ipv6, lab.nveId(2)],
    ]);
    await lab.admin.deleteRoute(1, '192.168.50.0/24');
    await lab.waitConverged();
    for (let i = 0; i < 3; i++)
      expect(
        lab.l3Tables(i).prefixRoutes.get({ vrf: 1, prefix: '192.168.50.0/24' }),
      ).toBeUndefined();
    expect(ping(b, '192.168.50.1', 2)).toBe(0);
  });

  it('no packet from VRF 1 reaches VRF 2', async () => {
    const a = lab.topo.vm('a');
    const x = lab.topo.vm('x');
    const rxBefore = Number(x.rx?.count() ?? 0);
    const dropBefore = lab.count(0, 'drop-no-route', 100);
    expect(ping(a, x.ipv4, 3)).toBe(0);
    expect(ping(a, x.ipv6, 3)).toBe(0);
    // dropped at a's NVE for want of a route in VRF 1; x saw none of it
    expect(lab.count(0, 'drop-no-route', 100) - dropBefore).toBe(6);
    expect(Number(x.rx?.count() ?? 0) - rxBefore).toBe(0);
    for (let i = 0; i < 3; i++) {
      const t = lab.l3Tables(i);
      expect(t.hostRoutes.get({ vrf: 1, ip: x.ipv4 })).toBeUndefined();
      const r = t.hostRoutes.get({ vrf: 2, ip: x.ipv4 });
      if (r?.kind === 'remote') expect(r.l3Vni).toBe(L3VNI[2]);
      else expect(r).toMatchObject({ kind: 'local', vni: 300 });
    }
  });

  it('a VM moves to another NVE keeping its address: TCP survives, same gateway', async () => {
    const a = lab.topo.vm('a');
    const b = lab.topo.vm('b');
    const v4 = await TcpSession.open(a, b, b.ipv4, { port: 9301 });
    const v6 = await TcpSession.open(a, b, b.ipv6, { port: 9302 });
    try {
      await v4.waitEchoes(20);
      await v6.waitEchoes(20);
      await lab.move('b', 2, { announce: 'garp' });
      await lab.waitMoved(b, 2);
      await v4.waitEchoes(100, 15_000);
      await v6.waitEchoes(100, 15_000);
      expect(v4.closed).toBeUndefined();
      expect(v6.closed).toBeUndefined();
      console.log(
        `same-subnet move: TCP stalled at most ${v4.maxGapMs.toFixed(0)} ms (IPv4), ${v6.maxGapMs.toFixed(0)} ms (IPv6)`,
      );
    } finally {
      v4.close();
      v6.close();
    }
    // every NVE routes b to NVE 2 now; the gateway b resolves is the same anycast MAC
    for (let i = 0; i < 3; i++) {
      const want =
        i === 2
          ? { kind: 'local', vni: 200, ifindex: b.tsiIfindex, mac: b.mac }
          : { kind: 'remote', l3Vni: L3VNI[1], nve: lab.nveAddr(2) };
      expect(lab.l3Tables(i).hostRoutes.get({ vrf: 1, ip: b.ipv4 })).toEqual(want);
    }
    const neigh = JSON.parse(b.ns.ip('-j', 'neigh', 'show', '10.72.0.1')) as Array<{
      lladdr?: string;
    }>;
    expect(neigh[0]?.lladdr).toBe(DEFAULT_ROUTER_MAC);
    expect(ping(b, '10.72.0.1', 2)).toBe(2);
  });

  it('an agent killed -9 and restarted adopts its L3 tables: same routes, routing never stops', async () => {
    const a = lab.topo.vm('a');
    const b = lab.topo.vm('b');
    const dump = () => {
      const t = lab.l3Tables(0);
      return JSON.stringify([
        [...t.routedVnis.entries()].sort(),
        [...t.hostRoutes.entries()].map(([k, v]) => [`${k.vrf}/${k.ip}`, v]).sort(),
        [...t.prefixRoutes.entries()].map(([k, v]) => [`${k.vrf}/${k.prefix}`, v]).sort(),
      ]);
    };
    const before = dump();
    await lab.killAgent(0);
    // no agent at NVE 0: its pinned tables keep routing
    expect(ping(a, b.ipv4, 3)).toBe(3);
    await lab.startAgent(0);
    await lab.waitConverged();
    expect(dump()).toBe(before);
    expect(ping(a, b.ipv6, 3)).toBe(3);
  });
});
