// XDP on the underlay (bpf/underlay.bpf.c) through BPF_PROG_TEST_RUN: VXLAN to us is checked,
// decapsulated and delivered, re-tunnelled for moved VMs, handed to TC for flooding, or
// dropped with a reason; anything else passes to the kernel untouched.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  FLOOD_SHIM_MAGIC,
  nexthopHomeSlot,
  peerHomeSlot,
  SLOT_PROBES,
  type PeerKey,
  type VerdictName,
} from '../../../src/dataplane/codecs.ts';
import type { SlotTable } from '../../../src/dataplane/slot-table.ts';
import {
  BROADCAST,
  ETH_P_ARP,
  ETH_P_IP,
  arp,
  eth,
  csum16,
  ethVlan,
  ipv4,
  ipv6,
  parseOuter,
  udp,
  vmUdp,
  vxlan,
  type OuterFields,
} from './frames.ts';
import {
  TEST_FLOOD_SECRET,
  splitFloodShim,
  NVE,
  NVE_B,
  NVE_C,
  NVE_D,
  UNDERLAY_IFINDEX,
  XDP,
  openDataplane,
  slot,
  testConfig,
  type TestDataplane,
} from './harness.ts';
import {
  TSI_A2,
  TSI_B1,
  VM2,
  VM3,
  VM4,
  VM9,
  VM_BAD,
  VNI_A,
  VNI_B,
  installFixture,
} from './fixture.ts';

let dp: TestDataplane;
beforeAll(() => {
  dp = openDataplane('underlay');
});
afterAll(() => dp?.close());
beforeEach(() => {
  dp.reset();
  installFixture(dp);
});

const FROM_B: OuterFields = {
  srcMac: NVE_B.mac,
  dstMac: NVE.mac,
  srcIp: NVE_B.ip4,
  dstIp: NVE.ip4,
  vni: VNI_A,
};
const FROM_D: OuterFields = {
  srcMac: NVE_D.mac,
  dstMac: NVE.mac,
  srcIp: NVE_D.ip6,
  dstIp: NVE.ip6,
  vni: VNI_A,
};
/** VM3 (at NVE B) to VM2 (local on TSI_A2). */
const INNER = vmUdp(VM2.mac, VM3.mac, [VM3.ip4, VM2.ip4]);
/** The shim of a VNI_A frame handed to TC. */
const shimOf = (f: Buffer) => ({
  magic: FLOOD_SHIM_MAGIC,
  secret: TEST_FLOOD_SECRET,
  vni: VNI_A,
  ethType: f.readUInt16BE(12),
});

function runUnderlay(frame: Buffer, verdict: VerdictName, vni = VNI_A) {
  const before = dp.totalPackets();
  const r = dp.run(dp.underlay, frame);
  expect(dp.count(vni, verdict), `counter ${verdict} of VNI ${vni}`).toBe(1n);
  expect(dp.totalPackets() - before, 'exactly one verdict counted').toBe(1n);
  return r;
}

describe('decapsulation', () => {
  it.each([
    ['IPv4 underlay', FROM_B],
    ['IPv6 underlay', FROM_D],
    ['IPv4 with options', { ...FROM_B, ipv4: { options: Buffer.from([1, 1, 1, 0]) } }],
  ])('%s: inner frame delivered to the local TSI', (_n, outer) => {
    const r = runUnderlay(vxlan(outer, INNER), 'decap');
    expect(r.retval).toBe(XDP.REDIRECT);
    expect(r.data).toEqual(INNER);
    expect(dp.trace.read()).toEqual([{ ifindex: TSI_A2, vni: VNI_A, verdict: slot('decap') }]);
  });

  it('reserved VXLAN bits other than I are ignored on receipt (RFC 7348)', () => {
    const r = runUnderlay(vxlan({ ...FROM_B, flags: 0x0c0000ff }, INNER), 'decap');
    expect(r.data).toEqual(INNER);
  });

  it('VNI B traffic reaches only VNI B; the same frame tagged VNI A finds no such MAC', () => {
    const inner = vmUdp(VM9.mac, '02:00:00:00:0c:01', ['10.9.0.1', VM9.ip4]);
    const r = runUnderlay(
      vxlan({ ...FROM_B, srcIp: NVE_C.ip4, vni: VNI_B }, inner),
      'decap',
      VNI_B,
    );
    expect(r.data).toEqual(inner);
    expect(dp.trace.read()).toEqual([{ ifindex: TSI_B1, vni: VNI_B, verdict: slot('decap') }]);
    dp.trace.clear();
    runUnderlay(vxlan({ ...FROM_B, srcIp: NVE_C.ip4 }, inner), 'drop-unknown-unicast');
    expect(dp.trace.read()).toEqual([]);
  });
});

describe('ECN on decapsulation (RFC 6040)', () => {
  const v4 = (tos: number) => vmUdp(VM2.mac, VM3.mac, [VM3.ip4, VM2.ip4], [1, 2], 60, tos);
  const v6 = (tc: number) => vmUdp(VM2.mac, VM3.mac, [VM3.ip6, VM2.ip6], [1, 2], 80, tc);

  it('outer CE onto inner IPv4 ECT(0): inner becomes CE, checksum still right', () => {
    const r = runUnderlay(vxlan({ ...FROM_B, ipv4: { tos: 3 } }, v4(0xb8 | 2)), 'decap');
    expect(r.data[15]).toBe(0xb8 | 3);
    expect(csum16(r.data.subarray(14, 34))).toBe(0);
    // only the ECN bits and the header checksum (bytes 24-25) changed
    const before = v4(0xb8 | 2);
    expect(r.data.subarray(16, 24)).toEqual(before.subarray(16, 24));
    expect(r.data.subarray(26)).toEqual(before.subarray(26));
    expect(r.data.readUInt16BE(24)).not.toBe(before.readUInt16BE(24));
  });

  it('outer CE onto inner IPv6 ECT(1) (over an IPv6 underlay): inner becomes CE', () => {
    const r = runUnderlay(vxlan({ ...FROM_D, trafficClass: 3 }, v6(1)), 'decap');
    expect((r.data.readUInt32BE(14) >>> 20) & 0xff).toBe(3);
  });

  it('outer CE around a Not-ECT packet: dropped', () => {
    const r = runUnderlay(vxlan({ ...FROM_B, ipv4: { tos: 3 } }, v4(0)), 'drop-ecn');
    expect(r.retval).toBe(XDP.DROP);
  });

  it.each([
    ['outer ECT(0), inner ECT(0)', 2, 2],
    ['outer Not-ECT, inner CE', 0, 3],
    ['outer CE, inner CE', 3, 3],
  ])('%s: inner unchanged', (_n, outer, inner) => {
    const r = runUnderlay(vxlan({ ...FROM_B, ipv4: { tos: outer } }, v4(inner)), 'decap');
    expect(r.data).toEqual(v4(inner));
  });

  it('outer CE around a non-IP frame: delivered as is', () => {
    const inner = eth(VM2.mac, VM3.mac, 0x88b5, Buffer.alloc(46, 7));
    const r = runUnderlay(vxlan({ ...FROM_B, ipv4: { tos: 3 } }, inner), 'decap');
    expect(r.data).toEqual(inner);
  });

  it('re-tunnelled frames keep the congestion mark', () => {
    const inner = vmUdp(VM4.mac, VM3.mac, [VM3.ip4, VM4.ip4], [1, 2], 60, 2);
    const r = runUnderlay(vxlan({ ...FROM_B, ipv4: { tos: 3 } }, inner), 'retunnel');
    const o = parseOuter(r.data);
    expect(o.tos).toBe(3);
    expect(o.inner[15]).toBe(3);
  });
});

describe('not VXLAN to us: passed untouched, counted as pass', () => {
  const cases: [string, () => Buffer][] = [
    [
      'ARP on the underlay',
      () =>
        eth(
          BROADCAST,
          NVE_B.mac,
          ETH_P_ARP,
          arp({ op: 1, sha: NVE_B.mac, spa: NVE_B.ip4, tha: BROADCAST, tpa: NVE.ip4 }),
        ),
    ],
    ['UDP to another port', () => vxlan({ ...FROM_B, dport: 4790 }, INNER)],
    ['VXLAN to another address', () => vxlan({ ...FROM_B, dstIp: '10.0.0.77' }, INNER)],
    ['VXLAN to another IPv6 address', () => vxlan({ ...FROM_D, dstIp: 'fd00::77' }, INNER)],
    [
      'TCP to us',
      () => eth(NVE.mac, NVE_B.mac, ETH_P_IP, ipv4(NVE_B.ip4, NVE.ip4, 6, Buffer.alloc(20))),
    ],
    [
      'IPv6 with an extension header before UDP',
      () =>
        eth(
          NVE.mac,
          NVE_D.mac,
          0x86dd,
          ipv6(
            NVE_D.ip6,
            NVE.ip6,
            0,
            Buffer.concat([Buffer.from([17, 0, 0, 0, 0, 0, 0, 0]), udp(1, 4789, Buffer.alloc(30))]),
          ),
        ),
    ],
    ['a later fragment', () => vxlan({ ...FROM_B, ipv4: { fragOff: 0x0010 } }, INNER)],
    [
      'a VLAN-tagged underlay frame',
      () => ethVlan(NVE.mac, NVE_B.mac, 7, ETH_P_IP, vxlan(FROM_B, INNER).subarray(14)),
    ],
    ['an Ethernet header alone', () => eth(NVE.mac, NVE_B.mac, ETH_P_IP, Buffer.alloc(0))],
  ];
  it.each(cases)('%s', (_n, frame) => {
    const f = frame();
    const r = runUnderlay(f, 'pass', 0);
    expect(r.retval).toBe(XDP.PASS);
    expect(r.data).toEqual(f);
  });

  it('with no IPv4 underlay address configured, IPv4 VXLAN is not ours', () => {
    dp.tables.config.set(testConfig({ localIp4: undefined }));
    expect(runUnderlay(vxlan(FROM_B, INNER), 'pass', 0).retval).toBe(XDP.PASS);
  });
});

describe('drops', () => {
  const cases: [string, () => Buffer, VerdictName, number][] = [
    ['a VNI we do not serve', () => vxlan({ ...FROM_B, vni: 999 }, INNER), 'drop-unknown-vni', 0],
    [
      'an NVE not in the VNI',
      () => vxlan({ ...FROM_B, srcIp: '10.0.0.99' }, INNER),
      'drop-peer-not-allowed',
      VNI_A,
    ],
    [
      'an NVE allowed in another VNI only',
      () => vxlan({ ...FROM_B, vni: VNI_B }, INNER),
      'drop-peer-not-allowed',
      VNI_B,
    ],
    [
      'a spoofed IPv6 NVE',
      () => vxlan({ ...FROM_D, srcIp: 'fd00::66' }, INNER),
      'drop-peer-not-allowed',
      VNI_A,
    ],
    ['VXLAN without the I flag', () => vxlan({ ...FROM_B, flags: 0 }, INNER), 'drop-bad-vxlan', 0],
    [
      'VXLAN header cut short',
      () => vxlan(FROM_B, Buffer.alloc(0)).subarray(0, 14 + 20 + 8 + 4),
      'drop-truncated',
      0,
    ],
    [
      'no room for an inner Ethernet header',
      () => vxlan(FROM_B, Buffer.alloc(6)),
      'drop-truncated',
      0,
    ],
    [
      'first fragment of VXLAN to us',
      () => vxlan({ ...FROM_B, ipv4: { fragOff: 0x2000 } }, INNER),
      'drop-fragment',
      0,
    ],
    [
      'inner VLAN tag',
      () => vxlan(FROM_B, ethVlan(VM2.mac, VM3.mac, 9, ETH_P_IP, INNER.subarray(14))),
      'drop-vlan',
      VNI_A,
    ],
    [
      'inner multicast source',
      () => vxlan(FROM_B, vmUdp(VM2.mac, '01:00:5e:00:00:01', ['1.1.1.1', '2.2.2.2'])),
      'drop-bad-src-mac',
      VNI_A,
    ],
    [
      'inner destination is remote too (split horizon)',
      () => vxlan(FROM_B, vmUdp(VM3.mac, '02:00:00:00:0c:01', ['1.1.1.1', '2.2.2.2'])),
      'drop-not-local',
      VNI_A,
    ],
    [
      'unknown inner destination',
      () => vxlan(FROM_B, vmUdp('02:00:00:00:99:99', VM3.mac, ['1.1.1.1', '2.2.2.2'])),
      'drop-unknown-unicast',
      VNI_A,
    ],
    [
      'fdb entry on a TSI of another VNI',
      () => vxlan(FROM_B, vmUdp(VM_BAD.mac, VM3.mac, ['1.1.1.1', '2.2.2.2'])),
      'drop-vni-mismatch',
      VNI_A,
    ],
  ];
  it.each(cases)('%s', (_n, frame, verdict, vni) => {
    const r = runUnderlay(frame(), verdict, vni);
    expect(r.retval).toBe(XDP.DROP);
    expect(dp.trace.read()).toEqual([]);
  });
});

describe('moved VMs: in-flight frames re-tunnelled to the new NVE', () => {
  const toVm4 = vmUdp(VM4.mac, VM3.mac, [VM3.ip4, VM4.ip4]);

  it('IPv4 in, IPv4 out to the new NVE, inner frame intact', () => {
    const r = runUnderlay(vxlan(FROM_B, toVm4), 'retunnel');
    expect(r.retval).toBe(XDP.REDIRECT);
    const o = parseOuter(r.data);
    expect(o).toMatchObject({
      srcMac: NVE.mac,
      dstMac: NVE_C.mac,
      srcIp: NVE.ip4,
      dstIp: NVE_C.ip4,
      ipCsumOk: true,
      df: true,
      vni: VNI_A,
      vxFlags: 0x08000000,
    });
    expect(o.inner).toEqual(toVm4);
    expect(dp.trace.read()).toEqual([
      { ifindex: UNDERLAY_IFINDEX, vni: VNI_A, verdict: slot('retunnel'), remote: NVE_C.ip4 },
    ]);
  });

  it('IPv6 in, IPv4 out', () => {
    const r = runUnderlay(vxlan(FROM_D, toVm4), 'retunnel');
    const o = parseOuter(r.data);
    expect(o).toMatchObject({ family: 4, dstIp: NVE_C.ip4 });
    expect(o.inner).toEqual(toVm4);
  });

  it('moved to the very NVE that sent it (stale on both sides): dropped, no ping-pong', () => {
    dp.tables.fdb.setMany([
      [
        { vni: VNI_A, mac: VM4.mac },
        { kind: 'moved', nve: NVE_B.ip4, untilNs: 1n << 62n },
      ],
    ]);
    const r = runUnderlay(vxlan(FROM_B, toVm4), 'drop-retunnel-loop');
    expect(r.retval).toBe(XDP.DROP);
    expect(dp.trace.read()).toEqual([]);
  });

  it('after the hold time: dropped', () => {
    dp.tables.fdb.setMany([
      [
        { vni: VNI_A, mac: VM4.mac },
        { kind: 'moved', nve: NVE_C.ip4, untilNs: 1n },
      ],
    ]);
    expect(runUnderlay(vxlan(FROM_B, toVm4), 'drop-moved-expired').retval).toBe(XDP.DROP);
  });
});

describe('dual delivery (a VM migrating away)', () => {
  beforeEach(() => {
    dp.tables.fdb.setMany([
      [
        { vni: VNI_A, mac: VM2.mac },
        { kind: 'dual', ifindex: TSI_A2, nve: NVE_C.ip4 },
      ],
    ]);
  });

  it('decapsulated and handed to TC with a flood shim', () => {
    const r = runUnderlay(vxlan(FROM_B, INNER), 'dual');
    expect(r.retval).toBe(XDP.PASS);
    expect(splitFloodShim(r.data)).toEqual({ frame: INNER, shim: shimOf(INNER) });
  });

  it('without the TC programs: delivered to the local TSI only', () => {
    dp.tables.config.set(testConfig({ floodTc: false }));
    const r = runUnderlay(vxlan(FROM_B, INNER), 'decap');
    expect(r.retval).toBe(XDP.REDIRECT);
    expect(r.data).toEqual(INNER);
    expect(dp.trace.read()).toEqual([{ ifindex: TSI_A2, vni: VNI_A, verdict: slot('decap') }]);
  });
});

describe('flood hand-off', () => {
  it('broadcast: decapsulated and passed to TC with a flood shim', () => {
    const inner = vmUdp(BROADCAST, VM3.mac, [VM3.ip4, '255.255.255.255']);
    const r = runUnderlay(vxlan(FROM_B, inner), 'flood');
    expect(r.retval).toBe(XDP.PASS);
    expect(splitFloodShim(r.data)).toEqual({ frame: inner, shim: shimOf(inner) });
  });

  it('unknown unicast in a VNI that floods it', () => {
    dp.tables.vnis.setMany([[VNI_A, { floodUnknown: true }]]);
    const inner = vmUdp('02:00:00:00:99:99', VM3.mac, ['1.1.1.1', '2.2.2.2']);
    const r = runUnderlay(vxlan(FROM_B, inner), 'flood');
    expect(splitFloodShim(r.data)).toEqual({ frame: inner, shim: shimOf(inner) });
  });

  it('without the TC programs: dropped, never passed to the host decapsulated', () => {
    dp.tables.config.set(testConfig({ floodTc: false }));
    const inner = vmUdp(BROADCAST, VM3.mac, [VM3.ip4, '255.255.255.255']);
    expect(runUnderlay(vxlan(FROM_B, inner), 'drop-no-flood-path').retval).toBe(XDP.DROP);
  });
});

describe('peers and next hops in their slot arrays (bpf/lib/slots.h)', () => {
  const peers = () => dp.tables.peers as SlotTable<PeerKey, true>;
  const nexthops = () => dp.tables.nexthops as SlotTable<string, string>;
  const toVm4 = vmUdp(VM4.mac, VM3.mac, [VM3.ip4, VM4.ip4]);

  /** `n` IPv4 addresses other than `not` whose home slot is `home`. */
  function colliders(n: number, home: number, homeOf: (ip: string) => number, not: string) {
    const out: string[] = [];
    for (let i = 1; out.length < n; i++) {
      const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      if (ip !== not && homeOf(ip) === home) out.push(ip);
    }
    return out;
  }

  it('are read from their slots: the home slot hash is the kernel one, the spill maps stay empty', () => {
    expect(peers().spilled()).toBe(0);
    expect(nexthops().spilled()).toBe(0);
    expect([...dp.map('peers').keys()]).toEqual([]);
    expect([...dp.map('nexthops').keys()]).toEqual([]);
    expect(runUnderlay(vxlan(FROM_B, INNER), 'decap').data).toEqual(INNER);
    dp.stats.clear();
    expect(runUnderlay(vxlan(FROM_D, INNER), 'decap').data).toEqual(INNER);
    dp.stats.clear();
    expect(parseOuter(runUnderlay(vxlan(FROM_B, toVm4), 'retunnel').data).dstMac).toBe(NVE_C.mac);
  });

  it('a peer whose slots are all taken is found in the spill map; deleted, it is refused', () => {
    const key = { vni: VNI_A, nve: NVE_B.ip4 };
    const others = colliders(
      SLOT_PROBES,
      peerHomeSlot(key),
      (ip) => peerHomeSlot({ vni: VNI_A, nve: ip }),
      NVE_B.ip4,
    );
    dp.tables.peers.deleteMany([key]);
    dp.tables.peers.setMany(others.map((nve) => [{ vni: VNI_A, nve }, true]));
    dp.tables.peers.setMany([[key, true]]);
    expect(peers().spilled()).toBe(1);
    expect(dp.tables.peers.get(key)).toBe(true);
    expect(runUnderlay(vxlan(FROM_B, INNER), 'decap').data).toEqual(INNER);
    dp.tables.peers.deleteMany([key]);
    expect(peers().spilled()).toBe(0);
    runUnderlay(vxlan(FROM_B, INNER), 'drop-peer-not-allowed');
  });

  it('a next hop whose slots are all taken is found in the spill map', () => {
    const others = colliders(SLOT_PROBES, nexthopHomeSlot(NVE_C.ip4), nexthopHomeSlot, NVE_C.ip4);
    dp.tables.nexthops.deleteMany([NVE_C.ip4]);
    dp.tables.nexthops.setMany(others.map((nve) => [nve, '02:00:00:00:99:99']));
    dp.tables.nexthops.setMany([[NVE_C.ip4, '02:00:00:00:c0:0c']]);
    expect(nexthops().spilled()).toBe(1);
    const r = runUnderlay(vxlan(FROM_B, toVm4), 'retunnel');
    expect(parseOuter(r.data).dstMac).toBe('02:00:00:00:c0:0c');
  });
});
