// roam's L2 dataplane on real namespaces: three NVEs on one underlay bridge, VMs behind TSIs,
// tables filled from the topology through the typed tables (no agent). Run over an IPv4 and
// an IPv6 underlay. Packet paths checked by delivery AND by roam's own counters.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureDuring, startCapture } from '../../../src/lab/capture.ts';
import { ping, udpEcho, vmAddr, type Family } from '../../../src/lab/probes.ts';
import { installRoamNve, type RoamNve } from '../../../src/lab/roam-nve.ts';
import { UNDERLAY_BRIDGE, buildTopology, type Topology } from '../../../src/lab/topology.ts';
import { destroyAll } from '../../helpers/netns.ts';

const VN_A = 100;
const VN_B = 200;
const HOLD_MS = 30_000;
/** An IPv4 address nobody in VN A has: ARP for it must flood. */
const UNKNOWN_IP = '10.1.0.99';

describe.each(['ipv4', 'ipv6'] as const)('roam L2 dataplane, %s underlay', (underlay) => {
  let topo: Topology;
  let roam: RoamNve[] = [];

  beforeAll(() => {
    topo = buildTopology({
      nves: 3,
      vms: [
        { name: 'a', nve: 0, vni: VN_A },
        { name: 'a2', nve: 0, vni: VN_A },
        { name: 'b', nve: 1, vni: VN_A },
        { name: 'c', nve: 2, vni: VN_A },
        { name: 'x', nve: 0, vni: VN_B },
        { name: 'y', nve: 1, vni: VN_B },
      ],
    });
    roam = topo.nves.map((n) => installRoamNve(topo, n.index, { family: underlay }));
  });
  afterAll(() => {
    for (const r of roam) r.remove();
    topo?.destroy();
    destroyAll();
  });

  const nve = (i: number): RoamNve => {
    const r = roam[i];
    if (!r) throw new Error(`no roam on NVE ${i}`);
    return r;
  };

  it.each([
    ['a', 'b', 'ipv4'],
    ['a', 'c', 'ipv6'],
    ['b', 'c', 'ipv4'],
    ['c', 'b', 'ipv6'],
    ['x', 'y', 'ipv4'],
    ['y', 'x', 'ipv6'],
  ] as [string, string, Family][])(
    'VM %s and VM %s talk across NVEs over %s (ping and UDP, both ways)',
    async (from, to, fam) => {
      const a = topo.vm(from);
      const b = topo.vm(to);
      const encapBefore = nve(a.nve).count(a.vni, 'encap');
      const decapBefore = nve(b.nve).count(b.vni, 'decap');
      expect(ping(a, vmAddr(b, fam))).toBe(3);
      expect(ping(b, vmAddr(a, fam))).toBe(3);
      const r = await udpEcho(a, b, fam);
      expect(r.echoed).toBe(r.sent);
      // The frames went through roam's programs, not some kernel path.
      expect(nve(a.nve).count(a.vni, 'encap') - encapBefore).toBeGreaterThanOrEqual(
        3n + BigInt(r.sent),
      );
      expect(nve(b.nve).count(b.vni, 'decap') - decapBefore).toBeGreaterThanOrEqual(
        3n + BigInt(r.sent),
      );
    },
  );

  it('delivers between two VMs of one NVE without the underlay', async () => {
    const before = nve(0).count(VN_A, 'local');
    expect(ping(topo.vm('a'), topo.vm('a2').ipv4)).toBe(3);
    const r = await udpEcho(topo.vm('a2'), topo.vm('a'), 'ipv6');
    expect(r.echoed).toBe(r.sent);
    expect(nve(0).count(VN_A, 'local') - before).toBeGreaterThanOrEqual(6n);
  });

  it('answers ARP and NS locally: no request reaches the underlay', async () => {
    const a = topo.vm('a');
    const b = topo.vm('b');
    a.ns.ip('neigh', 'flush', 'dev', 'eth0');
    a.ns.ip('-6', 'neigh', 'flush', 'dev', 'eth0');
    b.ns.ip('neigh', 'flush', 'dev', 'eth0');
    b.ns.ip('-6', 'neigh', 'flush', 'dev', 'eth0');
    const arpBefore = nve(0).count(VN_A, 'arp-reply');
    const ndBefore = nve(0).count(VN_A, 'nd-reply');
    const ul = topo.underlay;
    if (!ul) throw new Error('this topology has an underlay bridge');
    // tcpdump decodes VXLAN on 4789: inner ARP / NS show up on the same line.
    const { result, frames } = await captureDuring(ul, UNDERLAY_BRIDGE, 'udp port 4789', () => [
      ping(a, b.ipv4, 2),
      ping(a, b.ipv6, 2),
    ]);
    expect(result).toEqual([2, 2]);
    expect(frames.filter((l) => /ARP, Request|neighbor solicitation/.test(l))).toEqual([]);
    // The capture saw the tunnelled pings, so it was looking at the right place.
    expect(
      frames.filter((l) => /ICMP echo request|ICMP6, echo request/.test(l)).length,
    ).toBeGreaterThanOrEqual(4);
    expect(nve(0).count(VN_A, 'arp-reply') - arpBefore).toBeGreaterThanOrEqual(1n);
    expect(nve(0).count(VN_A, 'nd-reply') - ndBefore).toBeGreaterThanOrEqual(1n);
  });

  it('floods broadcast to every VM of the VN and to none of another VN', async () => {
    const filter = `arp and arp[24:4] = 0x0a010063`; // ARP whose target IP is UNKNOWN_IP
    const watchers = ['a2', 'b', 'c', 'x', 'y'];
    const caps = await Promise.all(
      watchers.map((n) => startCapture(topo.vm(n).ns, 'eth0', filter)),
    );
    const floodBefore = nve(0).count(VN_A, 'flood-remote');
    try {
      topo.vm('a').ns.run('arping', ['-c', '2', '-w', '3', '-I', 'eth0', UNKNOWN_IP]);
    } catch {
      // nobody answers an unknown IP: arping exits non-zero, as expected
    }
    const seen = await Promise.all(caps.map((c) => c.stop()));
    const counts = Object.fromEntries(watchers.map((n, i) => [n, seen[i]?.length ?? 0]));
    expect(counts).toEqual({ a2: 2, b: 2, c: 2, x: 0, y: 0 });
    // Head-end replication: one copy per remote NVE of VN A (NVE1 and NVE2) per request.
    expect(nve(0).count(VN_A, 'flood-remote') - floodBefore).toBe(4n);
  });

  it('re-tunnels frames for a VM that moved, and they arrive', () => {
    // b moves from NVE1 to NVE2. NVE0 is NOT told (as if its update were still in flight):
    // it keeps tunnelling to NVE1, which must send the frames on to NVE2.
    const oldTsi = topo.vm('b').tsiIfindex;
    const b = topo.moveVm('b', 2);
    nve(2).syncTables();
    nve(2).dp.attachTsi(b.tsiIfindex);
    // NVE2 accepts NVE1's re-tunnelled frames (an agent keeps the source NVE as a peer
    // while the move's hold time runs).
    nve(2).dp.tables.peers.setMany([[{ vni: VN_A, nve: nve(2).addr(topo.nve(1)) }, true]]);
    nve(1).markMoved(b, 2, HOLD_MS);
    // b's old TSI vanished with its veth: its link pins are stale and get pruned.
    expect(nve(1).dp.attachedTsis()).not.toContain(oldTsi);
    expect(
      nve(1)
        .dp.pruneStaleLinks()
        .map((l) => `${l.ifindex}-${l.hook}`)
        .sort(),
    ).toEqual([`${oldTsi}-tc`, `${oldTsi}-xdp`]);
    const before = nve(1).count(VN_A, 'retunnel');
    expect(ping(topo.vm('a'), b.ipv4, 3)).toBe(3);
    expect(nve(1).count(VN_A, 'retunnel') - before).toBeGreaterThanOrEqual(3n);
    expect(b.rx?.count() ?? 0n).toBeGreaterThan(0n);
  });
});
