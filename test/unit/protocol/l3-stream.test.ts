// The L3 overlay over the NVE <-> NVA stream (issue 6): VRFs and routed VNs configured through
// the Admin API reach NVEs in snapshots; an NVE of one routed VN joins its VRF's L3 VNI and gets
// the entries of the VRF's other routed VNs (for host routes) without their flood lists; a
// routing change reaches connected NVEs as a new snapshot; nothing registers in an L3 VNI.
import { afterEach, describe, expect, it } from 'vitest';
import { NvaRejectError } from '../../../src/protocol/client.ts';
import { mac, startNva, TestNve, until, type Nva } from '../nva/harness.ts';

let nva: Nva | undefined;
const nves: TestNve[] = [];
afterEach(async () => {
  for (const n of nves.splice(0)) n.close();
  await nva?.close();
  nva = undefined;
});

function nve(id: string, vnis: number[]): TestNve {
  const n = new TestNve(nva as Nva, id, vnis);
  nves.push(n);
  return n;
}

async function setup(): Promise<Nva> {
  nva = await startNva();
  await nva.admin.configureVrf({ vrf: 1, l3Vni: 5001 });
  for (const [vni, n] of [
    [100, 1],
    [200, 2],
  ] as const)
    await nva.admin.configureVn({
      vni,
      learning: 'open',
      routed: true,
      vrf: 1,
      gatewayIp4: `10.${n}.0.1/24`,
      gatewayIp6: `fd0${n}::1/64`,
    });
  await nva.admin.configureVn({ vni: 300, learning: 'open' });
  return nva;
}

describe('L3 overlay on the stream', () => {
  it('an NVE of VN 100 gets VRF 1 whole: configs, L3 VNI members, VN 200 entries (no flood list)', async () => {
    await setup();
    const b = nve('b', [200]);
    await until('b synced', () => b.snapshots.length > 0);
    await b.client.register({ vni: 200, mac: mac(2), ips: ['10.2.0.5'] });
    const a = nve('a', [100, 300]);
    await until('a synced', () => a.snapshots.length > 0);
    const snap = a.snapshots[0]!;
    expect(snap.vnis.sort()).toEqual([100, 200, 300, 5001]);
    expect(snap.routedVns.map((r) => [r.vni, r.l3]).sort()).toEqual([
      [100, false],
      [200, false],
      [5001, true],
    ]);
    expect(snap.routedVns.find((r) => r.vni === 200)).toMatchObject({
      vrf: 1,
      gatewayIp4: '10.2.0.1/24',
      gatewayIp6: 'fd02::1/64',
      gatewayMac: '02:00:5e:00:01:01',
    });
    expect(snap.entries.map((e) => [e.vni, e.mac])).toEqual([[200, mac(2)]]);
    // members: of its own VNs and of the L3 VNI (b is there), none of VN 200
    expect(snap.members.filter((m) => m.vni === 200)).toEqual([]);
    expect(
      snap.members
        .filter((m) => m.vni === 5001)
        .map((m) => m.nveId)
        .sort(),
    ).toEqual(['a', 'b']);
    // a later registration in VN 200 reaches a too
    await b.client.register({ vni: 200, mac: mac(3), ips: ['10.2.0.6'] });
    await until('a heard of mac 3', () => a.installed.has(`200/${mac(3)}`));
  });

  it('a VN made routed later: its NVEs get a new snapshot with the VRF', async () => {
    await setup();
    const c = nve('c', [300]);
    await until('c synced', () => c.snapshots.length > 0);
    expect(c.snapshots[0]!.routedVns).toEqual([]);
    await nva!.admin.configureVn({
      vni: 300,
      learning: 'open',
      routed: true,
      vrf: 1,
      gatewayIp4: '10.3.0.1/24',
    });
    await until('c got the VRF', () => (c.snapshots.at(-1)?.routedVns.length ?? 0) === 4);
    expect(c.snapshots.at(-1)!.vnis.sort()).toEqual([100, 200, 300, 5001]);
    await until('c acked everything', async () => {
      const s = await nva!.admin.status();
      return s.nves.find((n) => n.nveId === 'c')!.ackedRevision >= s.revision;
    });
  });

  it('no VM registers in an L3 VNI; admin refusals name the rule', async () => {
    await setup();
    const a = nve('a', [100, 5001]);
    await until('a synced', () => a.snapshots.length > 0);
    const err = await a.client.register({ vni: 5001, mac: mac(9) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NvaRejectError);
    expect((err as Error).message).toContain('L3 VNI of VRF 1');
    await expect(
      nva!.admin.configureVn({
        vni: 400,
        learning: 'open',
        routed: true,
        vrf: 7,
        gatewayIp4: '10.9.0.1/24',
      }),
    ).rejects.toThrow(/VRF 7 does not exist/);
    await expect(
      nva!.admin.configureVn({
        vni: 400,
        learning: 'open',
        routed: true,
        vrf: 1,
        gatewayIp4: '10.1.0.9/16',
      }),
    ).rejects.toThrow(/overlaps/);
    await expect(nva!.admin.configureVrf({ vrf: 2, l3Vni: 100 })).rejects.toThrow(/tenant VN/);
    expect((await nva!.admin.listVrfs()).vrfs).toEqual([
      { vrf: 1, l3Vni: 5001, routerMac: '02:00:5e:00:01:01', name: '' },
    ]);
  });

  it('static routes reach NVEs with the VRF; ListRoutes shows host and static routes', async () => {
    await setup();
    const a = nve('a', [100]);
    await until('a synced', () => a.snapshots.length > 0);
    await a.client.register({ vni: 100, mac: mac(5), ips: ['10.1.0.5', 'fd01::5'] });
    await nva!.admin.addRoute(1, '0.0.0.0/0', '10.1.0.5');
    await until(
      'a got the route',
      () => (a.snapshots.at(-1)?.routedVns.find((r) => r.l3)?.routes ?? []).length === 1,
    );
    expect(a.snapshots.at(-1)!.routedVns.find((r) => r.l3)!.routes).toEqual([
      { prefix: '0.0.0.0/0', via: '10.1.0.5' },
    ]);
    const routes = (await nva!.admin.listRoutes(1)).routes;
    expect(routes.map((r) => [r.kind, r.prefix, r.nveId, r.via])).toEqual([
      ['host', '10.1.0.5/32', 'a', ''],
      ['host', 'fd01::5/128', 'a', ''],
      ['static', '0.0.0.0/0', 'a', '10.1.0.5'],
    ]);
    await expect(nva!.admin.addRoute(1, '10.0.0.1/8', '10.1.0.5')).rejects.toThrow(/host bits/);
    await nva!.admin.deleteRoute(1, '0.0.0.0/0');
    expect((await nva!.admin.listRoutes(1)).routes.filter((r) => r.kind === 'static')).toEqual([]);
  });

  it('a VM that changes subnet gets its old addresses anchored; only its NVE (or the admin) releases them', async () => {
    await setup();
    const a = nve('a', [100]);
    const b = nve('b', [100, 200]);
    const c = nve('c', [200]);
    await until('all synced', () => [a, b, c].every((n) => n.snapshots.length > 0));
    const m = mac(7);
    await a.client.register({ vni: 100, mac: m, ips: ['10.1.0.7', 'fd01::7'] });
    await a.client.withdraw(100, m);
    await c.client.register({ vni: 200, mac: m, ips: ['10.2.0.8'] });
    const anchors = [
      { ip: '10.1.0.7', fromVni: 100, nveId: 'a', nveAddr: '192.0.2.1' },
      { ip: 'fd01::7', fromVni: 100, nveId: 'a', nveAddr: '192.0.2.1' },
    ];
    // every NVE of the VRF hears of them (a Change through the hand-written decoder)
    await until('b has the anchors', () =>
      b.changes.some((ch) => ch.upserts.some((e) => e.anchors.length === 2)),
    );
    const got = b.changes.flatMap((ch) => ch.upserts).find((e) => e.anchors.length === 2)!;
    expect(got.anchors.map(({ sinceMs: _s, ...x }) => x)).toEqual(anchors);
    expect(
      (await nva!.admin.listRoutes(1)).routes
        .filter((r) => r.kind === 'anchor')
        .map((r) => [r.prefix, r.nveId, r.via]),
    ).toEqual([
      ['10.1.0.7/32', 'c', 'a'],
      ['fd01::7/128', 'c', 'a'],
    ]);
    // an NVE that does not hold the VM cannot release; the VM's NVE can
    await expect(a.client.releaseAnchor(200, m, '10.1.0.7')).rejects.toThrow(/not at NVE a/);
    await c.client.releaseAnchor(200, m, '10.1.0.7');
    expect((await nva!.admin.showEntry(200, m)).detail.entry.anchors?.map((x) => x.ip)).toEqual([
      'fd01::7',
    ]);
    // the orchestrator releases the rest
    expect((await nva!.admin.releaseAnchor(200, m)).revision).toBeGreaterThan(0);
    expect((await nva!.admin.showEntry(200, m)).detail.entry.anchors).toEqual([]);
    expect((await nva!.admin.releaseAnchor(200, m)).revision).toBe(0);
    // a later registration of the VM (a GARP refresh) does not bring them back
    await c.client.register({ vni: 200, mac: m, ips: ['10.2.0.8', 'fd02::8'] });
    expect((await nva!.admin.showEntry(200, m)).detail.entry.anchors).toEqual([]);
  });

  it('an NVE resuming after a routing change gets a snapshot with the new config', async () => {
    await setup();
    const a = nve('a', [100]);
    await until('a synced', () => a.snapshots.length > 0);
    await until('a acked', () => a.client.ackedRevision > 0);
    const lastRevision = a.client.ackedRevision;
    a.close();
    await nva!.admin.configureVn({
      vni: 100,
      learning: 'open',
      routed: true,
      vrf: 1,
      gatewayIp4: '10.1.0.254/24',
    });
    const again = new TestNve(nva!, 'a', [100], { lastRevision });
    nves.push(again);
    await until('a resumed', () => again.snapshots.length > 0);
    expect(again.snapshots[0]!.routedVns.find((r) => r.vni === 100)?.gatewayIp4).toBe(
      '10.1.0.254/24',
    );
  });
});
