// The tenant world the packet tests share: two VNIs, VMs local and remote, NVEs B/C (IPv4)
// and D (IPv6), installed through the typed tables exactly as the agent would.
import { NVE_B, NVE_C, NVE_D, LO, testConfig, type TestDataplane } from './harness.ts';

export const VNI_A = 100;
export const VNI_B = 200;
/** Other TSIs (numbers only: test_run does not send). */
export const TSI_A2 = 11;
export const TSI_A3 = 12;
export const TSI_B1 = 21;

/** VMs: where they live and their addresses. */
export const VM1 = { mac: '02:00:00:00:00:01', ip4: '192.168.0.1', ip6: 'fd10::1' }; // on LO, VNI A
export const VM2 = { mac: '02:00:00:00:00:02', ip4: '192.168.0.2', ip6: 'fd10::2' }; // on TSI_A2
export const VM3 = { mac: '02:00:00:00:00:03', ip4: '192.168.0.3', ip6: 'fd10::3' }; // at NVE B
export const VM4 = { mac: '02:00:00:00:00:04', ip4: '192.168.0.4', ip6: 'fd10::4' }; // moved to C
export const VM5 = { mac: '02:00:00:00:00:05', ip4: '192.168.0.5', ip6: 'fd10::5' }; // at NVE D (v6)
export const VM6 = { mac: '02:00:00:00:00:06', ip4: '192.168.0.6', ip6: 'fd10::6' }; // migrating: TSI_A3 + C
export const VM9 = { mac: '02:00:00:00:00:09', ip4: '192.168.9.9', ip6: 'fd90::9' }; // VNI B, TSI_B1
/** A MAC in VNI A whose fdb entry wrongly points at a TSI of VNI B. */
export const VM_BAD = { mac: '02:00:00:00:00:0b' };

export const HOLD_NS = 10_000_000_000n;

/** Installs the fixture (after dp.reset()). */
export function installFixture(dp: TestDataplane): void {
  const t = dp.tables;
  const now = process.hrtime.bigint();
  t.config.set(testConfig());
  t.tsis.setMany([
    [LO, { vni: VNI_A, strictSource: false }],
    [TSI_A2, { vni: VNI_A, strictSource: false }],
    [TSI_A3, { vni: VNI_A, strictSource: false }],
    [TSI_B1, { vni: VNI_B, strictSource: false }],
  ]);
  t.vnis.setMany([
    [VNI_A, { floodUnknown: false }],
    [VNI_B, { floodUnknown: false }],
  ]);
  t.fdb.setMany([
    [
      { vni: VNI_A, mac: VM1.mac },
      { kind: 'local', ifindex: LO },
    ],
    [
      { vni: VNI_A, mac: VM2.mac },
      { kind: 'local', ifindex: TSI_A2, rarpIp4: VM2.ip4 },
    ],
    [
      { vni: VNI_A, mac: VM3.mac },
      { kind: 'remote', nve: NVE_B.ip4 },
    ],
    [
      { vni: VNI_A, mac: VM4.mac },
      { kind: 'moved', nve: NVE_C.ip4, untilNs: now + HOLD_NS },
    ],
    [
      { vni: VNI_A, mac: VM5.mac },
      { kind: 'remote', nve: NVE_D.ip6 },
    ],
    [
      { vni: VNI_A, mac: VM_BAD.mac },
      { kind: 'local', ifindex: TSI_B1 },
    ],
    [
      { vni: VNI_B, mac: VM9.mac },
      { kind: 'local', ifindex: TSI_B1 },
    ],
  ]);
  t.neigh.setMany(
    [VM1, VM2, VM3, VM4, VM5].flatMap((vm) => [
      [{ vni: VNI_A, ip: vm.ip4 }, vm.mac] as const,
      [{ vni: VNI_A, ip: vm.ip6 }, vm.mac] as const,
    ]),
  );
  t.neigh.setMany([[{ vni: VNI_B, ip: VM9.ip4 }, VM9.mac]]);
  t.peers.setMany([
    [{ vni: VNI_A, nve: NVE_B.ip4 }, true],
    [{ vni: VNI_A, nve: NVE_C.ip4 }, true],
    [{ vni: VNI_A, nve: NVE_D.ip6 }, true],
    [{ vni: VNI_B, nve: NVE_C.ip4 }, true],
  ]);
  t.nexthops.setMany([
    [NVE_B.ip4, NVE_B.mac],
    [NVE_C.ip4, NVE_C.mac],
    [NVE_D.ip6, NVE_D.mac],
  ]);
  t.flood.setMany([
    [VNI_A, { local: [LO, TSI_A2, TSI_A3], remote: [NVE_B.ip4, NVE_D.ip6, NVE_C.ip4] }],
    [VNI_B, { local: [TSI_B1], remote: [NVE_C.ip4] }],
  ]);
}
