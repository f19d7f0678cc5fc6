// The directory's L3 rules (issue 6, docs/l3.md): which VRF and routed-VN configurations are
// coherent, and what an NVE needs of the overlay from the VNs it serves. Table-driven.
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_ROUTER_MAC,
  decideAnchors,
  decideRoute,
  decideVn,
  decideVrf,
  nveL3View,
  routesOf,
  vrfsOf,
} from '../../../src/nva/l3-rules.ts';
import { ANCHOR_WINDOW_MS, type Entry, type VnConfig } from '../../../src/nva/model.ts';

const MAC = DEFAULT_ROUTER_MAC;
const vrf1: VnConfig = {
  vni: 5001,
  routed: false,
  learning: 'provisioned',
  l3: { kind: 'vrf', vrf: 1, routerMac: MAC },
};
const vrf2: VnConfig = { ...vrf1, vni: 5002, l3: { kind: 'vrf', vrf: 2, routerMac: MAC } };
const routed = (vni: number, vrf: number, gateway4?: string, gateway6?: string): VnConfig => ({
  vni,
  routed: true,
  learning: 'provisioned',
  l3: { kind: 'gateway', vrf, gatewayMac: MAC, gateway4, gateway6, unreachable: false },
});
const plain: VnConfig = { vni: 400, routed: false, learning: 'open' };
const existing = [vrf1, vrf2, routed(100, 1, '10.1.0.1/24', 'fd01::1/64'), plain];

describe('decideVrf', () => {
  const cases: [string, Parameters<typeof decideVrf>[0], string | null][] = [
    ['a new VRF', { vrf: 3, l3Vni: 5003, routerMac: MAC }, null],
    ['the same VRF again (rename)', { vrf: 1, l3Vni: 5001, routerMac: MAC, name: 'red' }, null],
    ['VRF 0', { vrf: 0, l3Vni: 5003, routerMac: MAC }, 'VRF id must be'],
    ['a second L3 VNI for VRF 1', { vrf: 1, l3Vni: 5009, routerMac: MAC }, 'one L3 VNI per VRF'],
    ["another VRF's L3 VNI", { vrf: 3, l3Vni: 5002, routerMac: MAC }, 'L3 VNI of VRF 2'],
    ['a tenant VN as L3 VNI', { vrf: 3, l3Vni: 100, routerMac: MAC }, 'carries no VMs'],
    ['a multicast router MAC', { vrf: 3, l3Vni: 5003, routerMac: '01:00:5e:00:00:01' }, 'unicast'],
    ['VNI 0', { vrf: 3, l3Vni: 0, routerMac: MAC }, 'L3 VNI must be'],
  ];
  it.each(cases)('%s', (_name, cfg, refused) => {
    const d = decideVrf(cfg, existing);
    if (refused === null) {
      expect(d).toMatchObject({ ok: true, vn: { vni: cfg.l3Vni, l3: { kind: 'vrf' } } });
    } else {
      expect(d.ok).toBe(false);
      if (!d.ok) expect(d.reason).toContain(refused);
    }
  });
});

describe('decideVn', () => {
  const cases: [string, VnConfig, string | null][] = [
    ['a second subnet in VRF 1', routed(200, 1, '10.2.0.1/24', 'fd02::1/64'), null],
    ['IPv4 only', routed(200, 1, '10.2.0.1/24'), null],
    ['the same VN, new gateway', routed(100, 1, '10.1.0.254/24'), null],
    ['the same subnet in another VRF', routed(300, 2, '10.1.0.1/24'), null],
    ['an unknown VRF', routed(200, 9, '10.2.0.1/24'), 'VRF 9 does not exist'],
    ['no gateway', routed(200, 1), 'needs a gateway'],
    ['IPv6 where IPv4 goes', routed(200, 1, 'fd02::1/64'), 'not an IPv4'],
    ['no prefix length', routed(200, 1, '10.2.0.1'), 'not an IPv4'],
    ['a /32 gateway', routed(200, 1, '10.2.0.1/32'), 'needs a subnet length'],
    ['overlapping subnet', routed(200, 1, '10.1.0.129/25'), "overlaps VN 100's 10.1.0.1/24"],
    ['overlapping IPv6', routed(200, 1, undefined, 'fd01::9/48'), 'overlaps'],
    ['an L3 VNI as tenant VN', routed(5001, 1, '10.2.0.1/24'), 'is the L3 VNI of VRF 1'],
    ['an L3 VNI made plain', { vni: 5001, routed: false, learning: 'open' }, 'L3 VNI of VRF 1'],
    ['a plain VN', plain, null],
  ];
  it.each(cases)('%s', (_name, cfg, refused) => {
    const d = decideVn(cfg, existing);
    if (refused === null) expect(d.ok).toBe(true);
    else {
      expect(d.ok).toBe(false);
      if (!d.ok) expect(d.reason).toContain(refused);
    }
  });

  it('stores gateways in canonical text and marks the VN routed', () => {
    const d = decideVn(routed(200, 1, '10.2.0.1/24', 'FD02:0::1/64'), existing);
    expect(d).toMatchObject({
      ok: true,
      vn: { routed: true, l3: { gateway4: '10.2.0.1/24', gateway6: 'fd02::1/64' } },
    });
  });
});

describe('nveL3View', () => {
  const vns = [
    ...existing,
    routed(200, 1, '10.2.0.1/24'),
    routed(300, 2, '10.3.0.1/24'),
    routed(301, 2, '10.4.0.1/24'),
  ];
  it('an NVE of one routed VN gets its whole VRF: L3 VNI to join, other VNs route-only', () => {
    const v = nveL3View(vns, [100, 400]);
    expect(v.l3Vnis).toEqual([5001]);
    expect(v.routeVnis).toEqual([200]);
    expect(v.configs.map((c) => c.vni).sort()).toEqual([100, 200, 5001]);
  });
  it('two VRFs; a VN served is not route-only', () => {
    const v = nveL3View(vns, [100, 200, 300]);
    expect(v.l3Vnis.sort()).toEqual([5001, 5002]);
    expect(v.routeVnis).toEqual([301]);
  });
  it('an NVE of plain VNs only takes part in no VRF', () => {
    expect(nveL3View(vns, [400])).toEqual({ configs: [], l3Vnis: [], routeVnis: [] });
  });
  it('VRFs are listed from their L3 VNIs', () => {
    expect(vrfsOf(vns).map((v) => [v.vrf, v.l3Vni])).toEqual([
      [1, 5001],
      [2, 5002],
    ]);
  });
});

describe('decideRoute (static routes of a VRF)', () => {
  const cases: [string, number, string, string | undefined, string | null][] = [
    ['a default route', 1, '0.0.0.0/0', '10.1.0.50', null],
    ['an IPv6 prefix', 1, 'FD50:0::/48', 'fd01::50', null],
    ['host bits set', 1, '10.9.0.1/16', '10.1.0.50', 'host bits set'],
    ['not a prefix', 1, '10.9.0.0', '10.1.0.50', 'not an address/len'],
    ['next hop of the other family', 1, '10.9.0.0/16', 'fd01::50', "prefix's family"],
    ['unknown VRF', 9, '10.9.0.0/16', '10.1.0.50', 'VRF 9 does not exist'],
    ['delete what is not there', 1, '10.9.0.0/16', undefined, 'has no route'],
  ];
  it.each(cases)('%s', (_name, vrf, prefix, via, refused) => {
    const d = decideRoute(existing, vrf, prefix, via);
    if (refused === null) expect(d.ok).toBe(true);
    else {
      expect(d.ok).toBe(false);
      if (!d.ok) expect(d.reason).toContain(refused);
    }
  });

  it('add replaces the same prefix, delete removes it, renaming the VRF keeps them', () => {
    let vns = existing;
    const apply = (d: ReturnType<typeof decideRoute>) => {
      if (!d.ok) throw new Error(d.reason);
      vns = vns.map((v) => (v.vni === d.vn.vni ? d.vn : v));
    };
    apply(decideRoute(vns, 1, '0.0.0.0/0', '10.1.0.50'));
    apply(decideRoute(vns, 1, 'fd50::/48', 'FD01::50'));
    apply(decideRoute(vns, 1, '0.0.0.0/0', '10.1.0.51'));
    expect(routesOf(vns, 1)).toEqual([
      { prefix: '0.0.0.0/0', via: '10.1.0.51' },
      { prefix: 'fd50::/48', via: 'fd01::50' },
    ]);
    apply(decideVrf({ vrf: 1, l3Vni: 5001, routerMac: MAC, name: 'red' }, vns));
    expect(routesOf(vns, 1)).toHaveLength(2);
    apply(decideRoute(vns, 1, '0.0.0.0/0', undefined));
    expect(routesOf(vns, 1)).toEqual([{ prefix: 'fd50::/48', via: 'fd01::50' }]);
  });
});

describe('decideAnchors (a VM that changed subnet keeps its old addresses reachable)', () => {
  const NOW = 1_000_000;
  const old = (over: Partial<Entry> = {}): Entry => ({
    vni: 100,
    mac: '02:00:00:00:00:01',
    ips: [
      { ip: '10.1.0.5', seq: 1 },
      { ip: 'fd01::5', seq: 1 },
    ],
    nveId: 'nveA',
    nveAddr: '192.0.2.1',
    seq: 3,
    state: 'withdrawn',
    changedAt: NOW - 1000,
    history: [],
    ...over,
  });
  const anchor = (ip: string, since = NOW) => ({
    ip,
    fromVni: 100,
    nveId: 'nveA',
    nveAddr: '192.0.2.1',
    since,
  });
  const cases: [string, Parameters<typeof decideAnchors>, string[]][] = [
    [
      'just withdrawn from VN 100: both old addresses',
      [[], [old()], ['10.2.0.7'], NOW],
      ['10.1.0.5', 'fd01::5'],
    ],
    [
      'still live in VN 100 (hot move)',
      [[], [old({ state: 'active' })], ['10.2.0.7'], NOW],
      ['10.1.0.5', 'fd01::5'],
    ],
    [
      'withdrawn long ago: nothing',
      [[], [old({ changedAt: NOW - ANCHOR_WINDOW_MS - 1 })], ['10.2.0.7'], NOW],
      [],
    ],
    [
      'keeps an old address itself: no anchor for it',
      [[], [old()], ['10.2.0.7', 'fd01::5'], NOW],
      ['10.1.0.5'],
    ],
    ['anchors it had are kept', [[anchor('10.1.0.9', 5)], [], ['10.2.0.7'], NOW], ['10.1.0.9']],
    ['an anchor it takes back goes', [[anchor('10.1.0.9', 5)], [], ['10.1.0.9'], NOW], []],
  ];
  it.each(cases)('%s', (_name, args, ips) => {
    expect(
      decideAnchors(...args)
        .map((a) => a.ip)
        .sort(),
    ).toEqual(ips.sort());
  });
  it('an anchor names the NVE the VM had the address at, and keeps its age', () => {
    const [a] = decideAnchors([anchor('10.1.0.9', 5)], [old()], ['10.2.0.7'], NOW);
    expect(a).toEqual(anchor('10.1.0.9', 5));
    expect(decideAnchors([], [old()], [], NOW)[0]).toEqual(anchor('10.1.0.5'));
  });
});
