// The agent's L3 tables (issue 6, docs/l3.md) derived from the directory and the VMs here:
// routed_vnis for the routed VNs served and their VRF's L3 VNI, one host route per VM address of
// the VRF (local -> TSI, elsewhere -> its NVE over the L3 VNI), routes that follow moves, and no
// L2 rows for the VRF's VNs this NVE does not serve.
import { describe, expect, it } from 'vitest';
import { NveState } from '../../../src/nve/nve-state.ts';
import { Reconciler } from '../../../src/nve/reconciler.ts';
import { memoryTables } from '../../../src/nve/tables.ts';
import type { DirEntry, RoutedVnConfig } from '../../../src/nve/nva-port.ts';

const ME = { id: 'nve1', addr: '192.0.2.1' };
const NVE2 = { id: 'nve2', addr: '192.0.2.2' };
const NVE3 = { id: 'nve3', addr: '192.0.2.3' };
const GW_MAC = '02:00:5e:00:01:01';
const L3VNI = 5001;

const routedVns: RoutedVnConfig[] = [
  {
    vni: 100,
    vrf: 1,
    l3: false,
    gatewayMac: GW_MAC,
    gatewayIp4: '10.1.0.1/24',
    gatewayIp6: 'fd01::1/64',
    unreachable: false,
  },
  {
    vni: 200,
    vrf: 1,
    l3: false,
    gatewayMac: GW_MAC,
    gatewayIp4: '10.2.0.1/24',
    gatewayIp6: '',
    unreachable: true,
  },
  {
    vni: L3VNI,
    vrf: 1,
    l3: true,
    routes: [
      { prefix: '0.0.0.0/0', via: '10.1.0.30' },
      { prefix: '192.168.0.0/16', via: '10.1.0.10' },
      { prefix: '172.16.0.0/12', via: '10.9.9.9' },
    ],
    gatewayMac: GW_MAC,
    gatewayIp4: '',
    gatewayIp6: '',
    unreachable: false,
  },
];

function entry(
  vni: number,
  mac: string,
  at: { id: string; addr: string },
  ips: string[],
  seq = 1,
): DirEntry {
  return {
    vni,
    mac,
    ips: ips.map((ip) => ({ ip, seq })),
    nveId: at.id,
    nveAddr: at.addr,
    seq,
    state: 'active',
  };
}

const A = '02:00:00:00:00:0a';
const B = '02:00:00:00:00:0b';
const C = '02:00:00:00:00:0c';

function setup() {
  // serves VN 100 only: VN 200 of the same VRF is route-only here
  const state = new NveState(ME.id, ME.addr, new Set([100]));
  const tables = memoryTables();
  const rec = new Reconciler(tables, state);
  state.l3.load(routedVns);
  state.setLocal({
    vni: 100,
    mac: A,
    ips: ['10.1.0.10', 'fd01::10'],
    ifindex: 7,
    tsi: 'tap-a',
    seq: 1,
    active: true,
    confirmed: true,
  });
  state.setTsi(100, 7, true);
  state.loadSnapshot(
    5,
    [100, 200, L3VNI],
    [
      entry(100, A, ME, ['10.1.0.10', 'fd01::10']),
      entry(200, B, NVE2, ['10.2.0.20']),
      entry(100, C, NVE3, ['10.1.0.30']),
    ],
    [
      { vni: 100, nveId: ME.id, nveAddr: ME.addr },
      { vni: 100, nveId: NVE3.id, nveAddr: NVE3.addr },
      { vni: 200, nveId: NVE2.id, nveAddr: NVE2.addr },
      { vni: L3VNI, nveId: NVE2.id, nveAddr: NVE2.addr },
      { vni: L3VNI, nveId: NVE3.id, nveAddr: NVE3.addr },
    ],
  );
  rec.resync();
  const route = (ip: string) => tables.l3.hostRoutes.get({ vrf: 1, ip });
  return { state, tables, rec, route };
}

describe('L3 tables from the directory', () => {
  it('routed_vnis: the routed VN served here and the L3 VNI; not the route-only VN', () => {
    const { tables } = setup();
    expect(Object.fromEntries(tables.l3.routedVnis.entries())).toEqual({
      100: {
        kind: 'tenant',
        vrf: 1,
        gatewayMac: GW_MAC,
        gatewayIp4: '10.1.0.1',
        gatewayIp6: 'fd01::1',
        unreachable: false,
      },
      [L3VNI]: { kind: 'l3', vrf: 1, routerMac: GW_MAC },
    });
  });

  it('a host route per VM address: local to the TSI, remote over the L3 VNI', () => {
    const { route } = setup();
    expect(route('10.1.0.10')).toEqual({ kind: 'local', vni: 100, ifindex: 7, mac: A });
    expect(route('fd01::10')).toEqual({ kind: 'local', vni: 100, ifindex: 7, mac: A });
    expect(route('10.1.0.30')).toEqual({ kind: 'remote', l3Vni: L3VNI, nve: NVE3.addr });
    expect(route('10.2.0.20')).toEqual({ kind: 'remote', l3Vni: L3VNI, nve: NVE2.addr });
  });

  it('a route-only VN gets host routes but no FDB, neighbour, flood or peer rows', () => {
    const { tables } = setup();
    expect([...tables.fdb.entries()].map(([k]) => k.vni)).not.toContain(200);
    expect([...tables.neigh.entries()].map(([k]) => k.vni)).not.toContain(200);
    expect([...tables.flood.entries()].map(([k]) => k)).not.toContain(200);
    const peers = [...tables.peers.entries()].map(([k]) => `${k.vni}/${k.vtep}`).sort();
    expect(peers).toEqual([`100/${NVE3.addr}`, `${L3VNI}/${NVE2.addr}`, `${L3VNI}/${NVE3.addr}`]);
  });

  it('routes follow moves: a remote VM moved on, a local VM gone to another NVE', () => {
    const { state, rec, route } = setup();
    state.upsertEntry(entry(200, B, NVE3, ['10.2.0.20'], 2));
    rec.apply();
    expect(route('10.2.0.20')).toEqual({ kind: 'remote', l3Vni: L3VNI, nve: NVE3.addr });
    // A left for NVE 2: the move machinery marks it moved, its routes point at NVE 2 at once
    state.deleteLocal(`100/${A}`);
    state.setMoved(
      { vni: 100, mac: A },
      { vtep: NVE2.addr, toNve: NVE2.id, untilMs: Date.now() + 30_000 },
    );
    state.upsertEntry(entry(100, A, NVE2, ['10.1.0.10', 'fd01::10'], 2));
    rec.apply();
    expect(route('10.1.0.10')).toEqual({ kind: 'remote', l3Vni: L3VNI, nve: NVE2.addr });
    expect(route('fd01::10')).toEqual({ kind: 'remote', l3Vni: L3VNI, nve: NVE2.addr });
    // withdrawn for good: its routes go
    state.deleteMoved(`100/${A}`);
    state.deleteEntry({ vni: 100, mac: A });
    rec.apply();
    expect(route('10.1.0.10')).toBeUndefined();
  });

  it('a resync writes nothing when nothing changed', () => {
    const { rec } = setup();
    const r = rec.resync();
    expect(r.hostRoutes).toMatchObject({ set: 0, deleted: 0 });
    expect(r.routedVnis).toMatchObject({ set: 0, deleted: 0 });
  });

  it('static routes go where their next hop goes, and follow it', () => {
    const { state, rec, tables } = setup();
    const prefix = (p: string) => tables.l3.prefixRoutes.get({ vrf: 1, prefix: p });
    expect(prefix('0.0.0.0/0')).toEqual({ kind: 'remote', l3Vni: L3VNI, nve: NVE3.addr });
    expect(prefix('192.168.0.0/16')).toEqual({ kind: 'local', vni: 100, ifindex: 7, mac: A });
    expect(prefix('172.16.0.0/12')).toBeUndefined(); // next hop unknown: no route
    state.upsertEntry(entry(100, C, NVE2, ['10.1.0.30'], 2));
    rec.apply();
    expect(prefix('0.0.0.0/0')).toEqual({ kind: 'remote', l3Vni: L3VNI, nve: NVE2.addr });
    state.deleteEntry({ vni: 100, mac: C });
    rec.apply();
    // withdrawn: lingers to its last NVE (the move machinery's 5 s), then goes with the host route
    state.setLinger(`100/${C}`, false);
    rec.apply();
    expect(prefix('0.0.0.0/0')).toBeUndefined();
  });

  it('an anchored address: local and flagged where the VM is, to the VM from the anchor NVE, to the anchor elsewhere', () => {
    // D (VN 200) lives at NVE 2 and had 10.1.0.40 in VN 100 at NVE 3 (the anchor)
    const D = '02:00:00:00:00:0d';
    const withAnchor = (at: { id: string; addr: string }): DirEntry => ({
      ...entry(200, D, at, ['10.2.0.40']),
      anchors: [{ ip: '10.1.0.40', fromVni: 100, nveId: NVE3.id, nveAddr: NVE3.addr }],
    });
    // here (NVE 1) is neither: to the anchor NVE
    const { state, rec, route } = setup();
    state.upsertEntry(withAnchor(NVE2));
    rec.apply();
    expect(route('10.1.0.40')).toEqual({ kind: 'remote', l3Vni: L3VNI, nve: NVE3.addr });
    expect(route('10.2.0.40')).toEqual({ kind: 'remote', l3Vni: L3VNI, nve: NVE2.addr });
    // the VM comes here: local, flagged as an anchor (the dataplane reports its use)
    state.upsertEntry(withAnchor(ME));
    state.setLocal({
      vni: 200,
      mac: D,
      ips: ['10.2.0.40'],
      ifindex: 9,
      tsi: 'tap-d',
      seq: 2,
      active: true,
      confirmed: true,
    });
    rec.apply();
    expect(route('10.1.0.40')).toEqual({
      kind: 'local',
      vni: 200,
      ifindex: 9,
      mac: D,
      anchor: true,
    });
    // a VM that registers the old address for itself wins over the anchor
    state.upsertEntry(entry(100, '02:00:00:00:00:0e', NVE2, ['10.1.0.40']));
    rec.apply();
    expect(route('10.1.0.40')).toEqual({ kind: 'remote', l3Vni: L3VNI, nve: NVE2.addr });
    // released: only that VM's route remains; without it, none
    state.deleteEntry({ vni: 100, mac: '02:00:00:00:00:0e' });
    state.setLinger(`100/02:00:00:00:00:0e`, false);
    state.upsertEntry({ ...withAnchor(ME), anchors: [] });
    rec.apply();
    expect(route('10.1.0.40')).toBeUndefined();
  });

  it("at the anchor NVE the old address goes straight to the VM's NVE", () => {
    const D = '02:00:00:00:00:0d';
    const { state, rec, route } = setup();
    state.upsertEntry({
      ...entry(200, D, NVE2, ['10.2.0.40']),
      anchors: [{ ip: '10.1.0.40', fromVni: 100, nveId: ME.id, nveAddr: ME.addr }],
    });
    rec.apply();
    expect(route('10.1.0.40')).toEqual({ kind: 'remote', l3Vni: L3VNI, nve: NVE2.addr });
    // a snapshot rebuilds the anchors (resync): same route, nothing written
    expect(rec.resync().hostRoutes).toMatchObject({ set: 0, deleted: 0 });
  });
});
