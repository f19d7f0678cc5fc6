// roam's L3 overlay on real namespaces: two subnets of one VRF across three NVEs, VMs whose
// default gateway is the anycast gateway (the same MAC and addresses on every NVE), tables
// filled by the test (no agent). Ping through the gateway, IPv4 and IPv6, checked by delivery
// AND by roam's counters: routed at the ingress NVE, delivered by route at the egress NVE.
// Then a VM moves to a third NVE: the stale ingress NVE's frames are re-tunnelled by the old
// NVE straight to the new one, and the gateway the VM uses does not change.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ping } from '../../../src/lab/probes.ts';
import { installRoamNve, type RoamNve } from '../../../src/lab/roam-nve.ts';
import { buildTopology, type Topology, type VmNode } from '../../../src/lab/topology.ts';
import {
  pinnedL3Tables,
  type L3Tables,
  type PinnedL3Tables,
} from '../../../src/dataplane/routes.ts';
import type { RouteEntry } from '../../../src/dataplane/l3-codecs.ts';
import { destroyAll } from '../../helpers/netns.ts';

const VRF = 1;
const L3VNI = 5001;
const GW_MAC = '02:00:5e:00:01:01';
/** Two subnets (VNs) of the VRF and their anycast gateway addresses. */
const SUBNETS = {
  100: { ip4: '10.61.0.1', ip6: 'fd61::1' },
  300: { ip4: '10.62.0.1', ip6: 'fd62::1' },
} as const;

describe('roam L3 overlay: two subnets of one VRF across NVEs', () => {
  let topo: Topology;
  let roam: RoamNve[] = [];
  const opened: PinnedL3Tables[] = [];

  const l3 = new Map<number, L3Tables>();

  /** The host route an NVE holds for a VM: local, or over the L3 VNI to the VM's NVE. */
  function routeFor(r: RoamNve, vm: VmNode): RouteEntry {
    return vm.nve === r.nve.index
      ? { kind: 'local', vni: vm.vni, ifindex: vm.tsiIfindex, mac: vm.mac }
      : { kind: 'remote', l3Vni: L3VNI, nve: r.addr(topo.nve(vm.nve)) };
  }

  function setHostRoutes(r: RoamNve, vm: VmNode): void {
    const e = routeFor(r, vm);
    l3.get(r.nve.index)?.hostRoutes.setMany([
      [{ vrf: VRF, ip: vm.ipv4 }, e],
      [{ vrf: VRF, ip: vm.ipv6 }, e],
    ]);
  }

  /** What an agent would install from the directory: gateways, L3 VNI, host routes, peers. */
  function installL3(r: RoamNve): void {
    const t = pinnedL3Tables(r.dp.layout);
    opened.push(t);
    l3.set(r.nve.index, t);
    t.routedVnis.setMany([
      ...Object.entries(SUBNETS).map(
        ([vni, gw]) =>
          [
            Number(vni),
            {
              kind: 'tenant' as const,
              vrf: VRF,
              gatewayMac: GW_MAC,
              gatewayIp4: gw.ip4,
              gatewayIp6: gw.ip6,
              unreachable: false,
            },
          ] as const,
      ),
      [L3VNI, { kind: 'l3', vrf: VRF, routerMac: GW_MAC }],
    ]);
    for (const vm of topo.vms) setHostRoutes(r, vm);
    r.dp.tables.peers.setMany(
      topo.nves
        .filter((n) => n.index !== r.nve.index)
        .map((n) => [{ vni: L3VNI, nve: r.addr(n) }, true] as const),
    );
  }

  function useGateway(vm: VmNode): void {
    const gw = SUBNETS[vm.vni as keyof typeof SUBNETS];
    vm.ns.ip('route', 'add', 'default', 'via', gw.ip4);
    vm.ns.ip('-6', 'route', 'add', 'default', 'via', gw.ip6);
  }

  beforeAll(() => {
    topo = buildTopology({
      nves: 3,
      vms: [
        { name: 'a', nve: 0, vni: 100, ipv4: '10.61.0.10', ipv6: 'fd61::10' },
        { name: 'b', nve: 1, vni: 300, ipv4: '10.62.0.20', ipv6: 'fd62::20' },
        { name: 'c', nve: 1, vni: 100, ipv4: '10.61.0.30', ipv6: 'fd61::30' },
      ],
    });
    roam = topo.nves.map((n) => installRoamNve(topo, n.index, { family: 'ipv4' }));
    for (const r of roam) installL3(r);
    for (const vm of topo.vms) useGateway(vm);
  });
  afterAll(() => {
    for (const t of opened) t.close();
    for (const r of roam) r.remove();
    topo?.destroy();
    destroyAll();
  });

  const nve = (i: number): RoamNve => {
    const r = roam[i];
    if (!r) throw new Error(`no roam on NVE ${i}`);
    return r;
  };

  it.each(['ipv4', 'ipv6'] as const)('the anycast gateway answers ping (%s), in XDP', (fam) => {
    const a = topo.vm('a');
    const before = nve(0).count(100, 'gw-echo');
    expect(ping(a, fam === 'ipv4' ? SUBNETS[100].ip4 : SUBNETS[100].ip6)).toBe(3);
    expect(nve(0).count(100, 'gw-echo') - before).toBe(3n);
    expect(
      nve(0).count(100, fam === 'ipv4' ? 'gw-arp-reply' : 'gw-nd-reply'),
    ).toBeGreaterThanOrEqual(1n);
  });

  it.each(['ipv4', 'ipv6'] as const)(
    'VM a (NVE0, subnet 1) and VM b (NVE1, subnet 2) ping each other over %s',
    (fam) => {
      const a = topo.vm('a');
      const b = topo.vm('b');
      const outBefore = nve(0).count(100, 'routed-remote');
      const inBefore = nve(1).count(L3VNI, 'routed-local');
      expect(ping(a, fam === 'ipv4' ? b.ipv4 : b.ipv6)).toBe(3);
      expect(ping(b, fam === 'ipv4' ? a.ipv4 : a.ipv6)).toBe(3);
      // requests routed at NVE0 over the L3 VNI and delivered by route at NVE1; replies back
      expect(nve(0).count(100, 'routed-remote') - outBefore).toBeGreaterThanOrEqual(6n);
      expect(nve(1).count(L3VNI, 'routed-local') - inBefore).toBeGreaterThanOrEqual(6n);
      expect(nve(1).count(300, 'routed-remote')).toBeGreaterThanOrEqual(3n);
    },
  );

  it('VMs of two subnets on one NVE are routed locally, without the underlay', () => {
    const before = nve(1).count(100, 'routed-local');
    expect(ping(topo.vm('c'), topo.vm('b').ipv4)).toBe(3);
    expect(nve(1).count(100, 'routed-local') - before).toBeGreaterThanOrEqual(3n);
    expect(nve(1).count(300, 'routed-local')).toBeGreaterThanOrEqual(3n);
  });

  it('a VM moved to another NVE: the old NVE re-tunnels straight to the new one, same gateway', () => {
    const a = topo.vm('a');
    const b = topo.moveVm('b', 2);
    nve(2).syncTables();
    nve(2).dp.attachTsi(b.tsiIfindex);
    useGateway(b); // a new veth: the VM's routes went with the old one; the gateway is the same
    // the new NVE and the old one learn the move; NVE0 does not (its update still in flight)
    setHostRoutes(nve(2), b);
    setHostRoutes(nve(1), b);
    const retunnelBefore = nve(1).count(L3VNI, 'retunnel');
    expect(ping(a, b.ipv4)).toBe(3);
    expect(ping(a, b.ipv6)).toBe(3);
    expect(nve(1).count(L3VNI, 'retunnel') - retunnelBefore).toBeGreaterThanOrEqual(6n);
    expect(nve(2).count(L3VNI, 'routed-local')).toBeGreaterThanOrEqual(6n);
    // once NVE0 learns it too, nothing goes through the old NVE any more
    setHostRoutes(nve(0), b);
    const settled = nve(1).count(L3VNI, 'retunnel');
    expect(ping(a, b.ipv4)).toBe(3);
    expect(nve(1).count(L3VNI, 'retunnel')).toBe(settled);
  });
});
