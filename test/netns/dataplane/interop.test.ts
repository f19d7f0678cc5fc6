// Interoperability: one NVE runs roam, the other is a plain Linux VTEP (vxlan device + bridge
// + static FDB entries). VMs behind the two talk both ways, over an IPv4 and an IPv6
// underlay. roam sends a zero outer UDP checksum over IPv6 (RFC 6935), so the Linux VTEP is
// configured with udp6zerocsumtx/udp6zerocsumrx there, as docs/lab.md says.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installKernelVtep, type KernelVtep } from '../../../src/lab/kernel-vtep.ts';
import { ping, udpEcho, vmAddr, type Family } from '../../../src/lab/probes.ts';
import { installRoamNve, type RoamNve } from '../../../src/lab/roam-nve.ts';
import { buildTopology, type Topology } from '../../../src/lab/topology.ts';
import { destroyAll } from '../../helpers/netns.ts';

const VN = 4242;

describe.each(['ipv4', 'ipv6'] as const)('roam <-> Linux VTEP over an %s underlay', (underlay) => {
  let topo: Topology;
  let roam: RoamNve | undefined;
  let kernel: KernelVtep | undefined;

  beforeAll(() => {
    topo = buildTopology({
      nves: 2,
      underlay: 'p2p',
      vms: [
        { name: 'r', nve: 0, vni: VN },
        { name: 'k', nve: 1, vni: VN },
      ],
    });
    roam = installRoamNve(topo, 0, { family: underlay });
    kernel = installKernelVtep(topo, 1, { family: underlay, udp6ZeroChecksum: true });
  });
  afterAll(() => {
    roam?.remove();
    kernel?.remove();
    topo?.destroy();
    destroyAll();
  });

  it.each(['ipv4', 'ipv6'] as Family[])(
    'VMs talk both ways over %s (ping and UDP)',
    async (fam) => {
      const r = topo.vm('r');
      const k = topo.vm('k');
      if (!roam) throw new Error('roam not installed');
      const encap = roam.count(VN, 'encap');
      const decap = roam.count(VN, 'decap');
      expect(ping(r, vmAddr(k, fam))).toBe(3);
      expect(ping(k, vmAddr(r, fam))).toBe(3);
      const there = await udpEcho(r, k, fam);
      const back = await udpEcho(k, r, fam);
      expect([there.echoed, back.echoed]).toEqual([there.sent, back.sent]);
      expect(roam.count(VN, 'encap') - encap).toBeGreaterThanOrEqual(6n + BigInt(there.sent));
      expect(roam.count(VN, 'decap') - decap).toBeGreaterThanOrEqual(6n + BigInt(back.sent));
    },
  );

  it("resolves the Linux side's flooded ARP through roam's flood path", () => {
    const r = topo.vm('r');
    const k = topo.vm('k');
    if (!roam) throw new Error('roam not installed');
    k.ns.ip('neigh', 'flush', 'dev', 'eth0');
    const flooded = roam.count(VN, 'flood-local');
    expect(ping(k, r.ipv4, 2)).toBe(2);
    // The kernel VTEP floods its ARP request to roam (all-zero FDB entry); roam's TC program
    // hands it to the local TSI, r answers.
    expect(roam.count(VN, 'flood-local') - flooded).toBeGreaterThanOrEqual(1n);
    expect(k.ns.ip('neigh', 'show', r.ipv4, 'dev', 'eth0')).toContain(r.mac);
  });
});
