// The lab itself, checked with the Linux kernel VTEP on every NVE (no roam code involved): if
// these fail, a dataplane test failing on the same topology says nothing about roam.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTopology, type Topology } from '../../../src/lab/topology.ts';
import { installKernelVtep, type KernelVtep } from '../../../src/lab/kernel-vtep.ts';
import { ping, udpEcho, vmAddr, type Family } from '../../../src/lab/probes.ts';
import { destroyAll } from '../../helpers/netns.ts';

const VN_A = 100;
const VN_B = 200;

describe.each(['ipv4', 'ipv6'] as const)(
  'lab topology with kernel VTEPs over an %s underlay',
  (underlay) => {
    let topo: Topology;
    let vteps: KernelVtep[] = [];

    beforeAll(() => {
      topo = buildTopology({
        nves: 3,
        vms: [
          { name: 'a', nve: 0, vni: VN_A },
          { name: 'b', nve: 1, vni: VN_A },
          { name: 'c', nve: 2, vni: VN_A },
          // VN B reuses VN A's addresses: isolation must come from the VNI, not from routing.
          { name: 'x', nve: 0, vni: VN_B, ipv4: '10.1.0.2', ipv6: 'fd01:0::2' },
          { name: 'y', nve: 2, vni: VN_B, ipv4: '10.1.0.3', ipv6: 'fd01:0::3' },
        ],
      });
      vteps = topo.nves.map((n) => installKernelVtep(topo, n.index, { family: underlay }));
    });
    afterAll(() => {
      topo?.destroy();
      destroyAll();
    });

    it('gives every namespace its planned addresses', () => {
      expect(topo.nves.map((n) => n.ipv4)).toEqual(['10.99.0.1', '10.99.0.2', '10.99.0.3']);
      expect(topo.vm('a').mac).toBe('02:00:00:00:64:01');
      expect(topo.vm('b').ipv4).toBe('10.1.0.2');
      expect(topo.vm('c').ipv6).toBe('fd01:0::3');
      expect(topo.vm('a').ns.mac('eth0')).toBe('02:00:00:00:64:01');
      expect(topo.nve(1).ns.ifindex('tsi-b')).toBe(topo.vm('b').tsiIfindex);
    });

    it('connects the NVEs over the underlay', () => {
      const n0 = topo.nve(0);
      expect(n0.ns.run('ping', ['-c', '1', '-W', '2', topo.nve(2).ipv4])).toMatch(/1 received/);
      expect(n0.ns.run('ping', ['-6', '-c', '1', '-W', '2', topo.nve(2).ipv6])).toMatch(
        /1 received/,
      );
    });

    it.each([
      ['a', 'b', 'ipv4'],
      ['b', 'c', 'ipv4'],
      ['a', 'c', 'ipv6'],
      ['c', 'b', 'ipv6'],
      ['x', 'y', 'ipv4'],
    ] as [string, string, Family][])(
      'VM %s reaches VM %s over %s (ping and UDP both ways)',
      async (from, to, fam) => {
        const a = topo.vm(from);
        const b = topo.vm(to);
        expect(ping(a, vmAddr(b, fam))).toBe(3);
        expect(ping(b, vmAddr(a, fam))).toBe(3);
        const r = await udpEcho(a, b, fam);
        expect(r.echoed).toBe(r.sent);
      },
    );

    it('keeps VNs apart even with overlapping addresses', () => {
      // x (VN B, 10.1.0.2) shares b's address; a pings 10.1.0.2 and must reach b only.
      const a = topo.vm('a');
      a.ns.ip('neigh', 'flush', 'dev', 'eth0');
      expect(ping(a, topo.vm('b').ipv4)).toBe(3);
      const neigh = a.ns.ip('neigh', 'show', topo.vm('b').ipv4, 'dev', 'eth0');
      expect(neigh).toContain(topo.vm('b').mac);
      expect(neigh).not.toContain(topo.vm('x').mac);
    });

    it('moves a VM to another NVE and keeps it reachable after the FDB is updated', () => {
      topo.moveVm('b', 2);
      vteps[2]?.attachTsi(topo.vm('b'));
      for (const v of vteps) v.syncFdb();
      expect(ping(topo.vm('a'), topo.vm('b').ipv4)).toBe(3);
      expect(topo.vm('b').ns.mac('eth0')).toBe('02:00:00:00:64:02');
    });
  },
);
