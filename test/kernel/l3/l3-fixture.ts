// The routed world the L3 packet tests share, on top of the L2 fixture: VRF 1 with tenant VNs
// A (VNI 100, the test's ingress TSI) and R (VNI 300) and L3 VNI 5001; VRF 2 with tenant VN B
// (VNI 200) and L3 VNI 5002, holding the SAME addresses as VRF 1 elsewhere, so any leak
// between VRFs shows. Tables are filled through the typed L3 tables as the agent would.
import { BpfMap } from '../../../src/bpf/map.ts';
import { openL3Tables, L3_MAP_NAMES, type L3Tables } from '../../../src/dataplane/routes.ts';
import { NVE_B, NVE_C, NVE_D, type TestDataplane } from '../dataplane/harness.ts';
import { TSI_B1, VNI_A, VNI_B, VM1, installFixture } from '../dataplane/fixture.ts';

export const VRF_1 = 1;
export const VRF_2 = 2;
export const VNI_R = 300;
export const L3VNI_1 = 5001;
export const L3VNI_2 = 5002;
/** TSI of VN R (a number: test_run does not send). */
export const TSI_R1 = 31;
/** The anycast gateway: one MAC for every routed VN, one address pair per subnet. */
export const GW_MAC = '02:00:5e:00:01:01';
export const GW_A = { ip4: '192.168.0.254', ip6: 'fd10::fe' };
export const GW_R = { ip4: '192.168.3.254', ip6: 'fd30::fe' };
export const GW_B = { ip4: '192.168.9.254', ip6: 'fd90::fe' };
/** VMs of VN R: local on TSI_R1, remote at NVE B, and one that moved A -> B -> C. */
export const VMR_LOCAL = { mac: '02:00:00:00:03:10', ip4: '192.168.3.10', ip6: 'fd30::10' };
export const VMR_REMOTE = { mac: '02:00:00:00:03:20', ip4: '192.168.3.20', ip6: 'fd30::20' };
export const VMR_MOVED = { mac: '02:00:00:00:03:30', ip4: '192.168.3.30', ip6: 'fd30::30' };
/** A VRF 2 address that VRF 1 does not know. */
export const VRF2_ONLY = '172.16.5.5';
/** Prefix routes of VRF 1: a /16 to NVE C, a more specific /24 inside it to NVE B, IPv6 to D. */
export const PREFIX_WIDE = '10.99.0.0/16';
export const PREFIX_NARROW = '10.99.1.0/24';
export const PREFIX_V6 = 'fd99::/32';

export interface L3Dataplane {
  tables: L3Tables;
  maps: BpfMap[];
}

/** The L3 tables of a test dataplane, from its pin root. */
export function openL3(dp: TestDataplane): L3Dataplane {
  const maps = L3_MAP_NAMES.map((n) => BpfMap.fromPinned(`${dp.pinRoot}/${n}`));
  const byName = new Map(L3_MAP_NAMES.map((n, i) => [n, maps[i] as BpfMap]));
  return { tables: openL3Tables((n) => byName.get(n) as BpfMap), maps };
}

/** Empties the L3 maps (dp.reset() knows only the L2 ones). */
export function resetL3(l3: L3Dataplane): void {
  // routed_mask is an array (nothing to delete): the routedVnis table clears its bits
  l3.tables.routedVnis.deleteMany([...l3.tables.routedVnis.entries()].map(([vni]) => vni));
  for (const m of l3.maps) {
    if (m.name !== 'routed_mask') for (const k of [...m.keys()]) m.delete(k);
  }
}

/** Installs the L2 fixture, then the routed one (after dp.reset() and resetL3()). */
export function installL3Fixture(dp: TestDataplane, l3: L3Dataplane, unreachable = false): void {
  installFixture(dp);
  const t = l3.tables;
  dp.tables.tsis.setMany([[TSI_R1, { vni: VNI_R, strictSource: false }]]);
  dp.tables.vnis.setMany([
    [VNI_R, { floodUnknown: false }],
    [L3VNI_1, { floodUnknown: false }],
    [L3VNI_2, { floodUnknown: false }],
  ]);
  dp.tables.peers.setMany([
    [{ vni: L3VNI_1, nve: NVE_B.ip4 }, true],
    [{ vni: L3VNI_1, nve: NVE_C.ip4 }, true],
    [{ vni: L3VNI_2, nve: NVE_B.ip4 }, true],
  ]);
  t.routedVnis.setMany([
    [
      VNI_A,
      {
        kind: 'tenant',
        vrf: VRF_1,
        gatewayMac: GW_MAC,
        gatewayIp4: GW_A.ip4,
        gatewayIp6: GW_A.ip6,
        unreachable,
      },
    ],
    [
      VNI_R,
      {
        kind: 'tenant',
        vrf: VRF_1,
        gatewayMac: GW_MAC,
        gatewayIp4: GW_R.ip4,
        gatewayIp6: GW_R.ip6,
        unreachable,
      },
    ],
    [
      VNI_B,
      {
        kind: 'tenant',
        vrf: VRF_2,
        gatewayMac: GW_MAC,
        gatewayIp4: GW_B.ip4,
        gatewayIp6: GW_B.ip6,
        unreachable,
      },
    ],
    [L3VNI_1, { kind: 'l3', vrf: VRF_1, routerMac: GW_MAC }],
    [L3VNI_2, { kind: 'l3', vrf: VRF_2, routerMac: GW_MAC }],
  ]);
  const local = { kind: 'local', vni: VNI_R, ifindex: TSI_R1, mac: VMR_LOCAL.mac } as const;
  const atB = { kind: 'remote', l3Vni: L3VNI_1, nve: NVE_B.ip4 } as const;
  const atC = { kind: 'remote', l3Vni: L3VNI_1, nve: NVE_C.ip4 } as const;
  t.hostRoutes.setMany([
    [{ vrf: VRF_1, ip: VMR_LOCAL.ip4 }, local],
    [{ vrf: VRF_1, ip: VMR_LOCAL.ip6 }, local],
    [
      { vrf: VRF_1, ip: VM1.ip4 },
      { kind: 'local', vni: VNI_A, ifindex: 1, mac: VM1.mac },
    ],
    [{ vrf: VRF_1, ip: VMR_REMOTE.ip4 }, atB],
    [{ vrf: VRF_1, ip: VMR_REMOTE.ip6 }, atB],
    // moved A -> B -> C: the entry here points straight at C, never at B
    [{ vrf: VRF_1, ip: VMR_MOVED.ip4 }, atC],
    [{ vrf: VRF_1, ip: VMR_MOVED.ip6 }, atC],
    // VRF 2 reuses VRF 1's addresses elsewhere, and has one of its own
    [
      { vrf: VRF_2, ip: VMR_LOCAL.ip4 },
      { kind: 'local', vni: VNI_B, ifindex: TSI_B1, mac: '02:00:00:00:09:10' },
    ],
    [
      { vrf: VRF_2, ip: VMR_REMOTE.ip4 },
      { kind: 'remote', l3Vni: L3VNI_2, nve: NVE_B.ip4 },
    ],
    [
      { vrf: VRF_2, ip: VRF2_ONLY },
      { kind: 'remote', l3Vni: L3VNI_2, nve: NVE_B.ip4 },
    ],
  ]);
  t.prefixRoutes.setMany([
    [{ vrf: VRF_1, prefix: PREFIX_WIDE }, atC],
    [{ vrf: VRF_1, prefix: PREFIX_NARROW }, atB],
    [
      { vrf: VRF_1, prefix: PREFIX_V6 },
      { kind: 'remote', l3Vni: L3VNI_1, nve: NVE_D.ip6 },
    ],
    [
      { vrf: VRF_2, prefix: '172.16.0.0/12' },
      { kind: 'remote', l3Vni: L3VNI_2, nve: NVE_B.ip4 },
    ],
  ]);
  dp.tables.peers.setMany([[{ vni: L3VNI_1, nve: NVE_D.ip6 }, true]]);
}
