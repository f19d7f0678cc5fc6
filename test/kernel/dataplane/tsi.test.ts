// XDP on a TSI (bpf/tsi.bpf.c) through BPF_PROG_TEST_RUN: frame in -> frame, verdict and
// counter out, for every path and drop reason. The ingress TSI is LO (VNI A, where VM1 lives).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { VerdictName } from '../../../src/dataplane/codecs.ts';
import {
  BROADCAST,
  ETH_P_ARP,
  ETH_P_IP,
  ETH_P_IPV6,
  ETH_P_RARP,
  arp,
  eth,
  ethVlan,
  icmp6Csum,
  macText,
  ndPacket,
  parseArp,
  parseOuter,
  solicitedNode,
  vmUdp,
} from './frames.ts';
import {
  LO,
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
  VM1,
  VM2,
  VM3,
  VM4,
  VM5,
  VM9,
  VM_BAD,
  VNI_A,
  VNI_B,
  installFixture,
} from './fixture.ts';

let dp: TestDataplane;
beforeAll(() => {
  dp = openDataplane('tsi');
});
afterAll(() => dp?.close());
beforeEach(() => {
  dp.reset();
  installFixture(dp);
});

const IPS: [string, string] = [VM1.ip4, VM2.ip4];

/** Runs the TSI program and checks the one verdict it counted. */
function runTsi(frame: Buffer, verdict: VerdictName, vni = VNI_A) {
  const before = dp.totalPackets();
  const r = dp.run(dp.tsi, frame);
  expect(dp.count(vni, verdict), `counter ${verdict} of VNI ${vni}`).toBe(1n);
  expect(dp.totalPackets() - before, 'exactly one verdict counted').toBe(1n);
  return r;
}

describe('unicast forwarding', () => {
  it('local VM: redirected unchanged to its TSI', () => {
    const f = vmUdp(VM2.mac, VM1.mac, IPS);
    const r = runTsi(f, 'local');
    expect(r.retval).toBe(XDP.REDIRECT);
    expect(r.data).toEqual(f);
    expect(dp.trace.read()).toEqual([{ ifindex: TSI_A2, vni: VNI_A, verdict: slot('local') }]);
  });

  it('remote VM over IPv4: VXLAN with correct outer headers, out the underlay', () => {
    const f = vmUdp(VM3.mac, VM1.mac, [VM1.ip4, VM3.ip4]);
    const r = runTsi(f, 'encap');
    expect(r.retval).toBe(XDP.REDIRECT);
    const o = parseOuter(r.data);
    expect(o).toMatchObject({
      dstMac: NVE_B.mac,
      srcMac: NVE.mac,
      family: 4,
      srcIp: NVE.ip4,
      dstIp: NVE_B.ip4,
      ttl: 64,
      df: true,
      ipCsumOk: true,
      ipLen: 20 + 8 + 8 + f.length,
      dport: 4789,
      udpLen: 8 + 8 + f.length,
      udpCsum: 0,
      vxFlags: 0x08000000,
      vni: VNI_A,
    });
    expect(o.sport).toBeGreaterThanOrEqual(49152);
    expect(o.inner).toEqual(f);
    expect(dp.trace.read()).toEqual([
      { ifindex: UNDERLAY_IFINDEX, vni: VNI_A, verdict: slot('encap'), remote: NVE_B.ip4 },
    ]);
  });

  it('remote VM over IPv6: IPv6 outer header, zero UDP checksum', () => {
    const f = vmUdp(VM5.mac, VM1.mac, [VM1.ip4, VM5.ip4]);
    const r = runTsi(f, 'encap');
    const o = parseOuter(r.data);
    expect(o).toMatchObject({
      dstMac: NVE_D.mac,
      family: 6,
      srcIp: NVE.ip6,
      dstIp: NVE_D.ip6,
      ttl: 64,
      ipLen: 40 + 8 + 8 + f.length,
      dport: 4789,
      udpCsum: 0,
      vni: VNI_A,
    });
    expect(o.inner).toEqual(f);
  });

  it.each([
    ['IPv4 ECT(0) over IPv4', VM3.mac, [VM1.ip4, VM3.ip4], 0xb8 | 2, 4, 2],
    ['IPv4 CE over IPv4', VM3.mac, [VM1.ip4, VM3.ip4], 3, 4, 3],
    ['IPv6 ECT(1) over IPv6', VM5.mac, [VM1.ip6, VM5.ip6], 0x28 | 1, 6, 1],
    ['IPv4 Not-ECT over IPv6', VM5.mac, [VM1.ip4, VM5.ip4], 0xb8, 6, 0],
  ] as const)('ECN (%s): copied to the outer header, DSCP not', (_n, dst, ips, tos, fam, ecn) => {
    const f = vmUdp(dst, VM1.mac, [ips[0], ips[1]], [1, 2], 80, tos);
    const o = parseOuter(runTsi(f, 'encap').data);
    expect(o.family).toBe(fam);
    expect(o.tos).toBe(ecn);
    expect(o.inner).toEqual(f);
  });

  it('a non-IP frame is tunnelled with ECN Not-ECT', () => {
    const f = eth(VM3.mac, VM1.mac, 0x88b5, Buffer.alloc(46, 7));
    const o = parseOuter(runTsi(f, 'encap').data);
    expect(o.tos).toBe(0);
    expect(o.inner).toEqual(f);
  });

  it('outer source port: stable per flow, spread across flows', () => {
    const sportOf = (p: number) =>
      parseOuter(dp.run(dp.tsi, vmUdp(VM3.mac, VM1.mac, IPS, [p, 53])).data).sport;
    const ports = Array.from({ length: 16 }, (_, i) => sportOf(1000 + i));
    expect(sportOf(1000)).toBe(ports[0]);
    expect(new Set(ports).size).toBeGreaterThan(8);
    for (const p of ports) expect(p).toBeGreaterThanOrEqual(49152);
  });

  it('MTU: a frame that fits exactly goes; one byte more is dropped, never truncated', () => {
    // outer IPv4 packet = inner frame + 36 bytes; MTU 1500 -> inner 1464 fits
    const fits = vmUdp(VM3.mac, VM1.mac, IPS, [1, 2], 1464);
    expect(runTsi(fits, 'encap').retval).toBe(XDP.REDIRECT);
    const big = vmUdp(VM3.mac, VM1.mac, IPS, [1, 2], 1465);
    const r = runTsi(big, 'drop-mtu');
    expect(r.retval).toBe(XDP.DROP);
  });

  it('MTU over IPv6: 20 bytes less room', () => {
    expect(runTsi(vmUdp(VM5.mac, VM1.mac, IPS, [1, 2], 1444), 'encap').retval).toBe(XDP.REDIRECT);
    dp.stats.clear();
    expect(runTsi(vmUdp(VM5.mac, VM1.mac, IPS, [1, 2], 1445), 'drop-mtu').retval).toBe(XDP.DROP);
  });

  it('no next hop for the NVE: dropped; with a gateway configured: sent to the gateway', () => {
    dp.tables.nexthops.deleteMany([NVE_B.ip4]);
    const f = vmUdp(VM3.mac, VM1.mac, IPS);
    expect(runTsi(f, 'drop-no-nexthop').retval).toBe(XDP.DROP);
    dp.tables.config.set(testConfig({ gatewayMac: '02:47:57:00:00:01' }));
    const r = dp.run(dp.tsi, f);
    expect(r.retval).toBe(XDP.REDIRECT);
    expect(parseOuter(r.data).dstMac).toBe('02:47:57:00:00:01');
  });

  it('underlay family not configured: dropped', () => {
    dp.tables.config.set(testConfig({ localIp6: undefined }));
    expect(runTsi(vmUdp(VM5.mac, VM1.mac, IPS), 'drop-no-underlay').retval).toBe(XDP.DROP);
  });

  it('moved VM: re-tunnelled to its new NVE while the hold time runs', () => {
    const f = vmUdp(VM4.mac, VM1.mac, IPS);
    const r = runTsi(f, 'retunnel');
    expect(r.retval).toBe(XDP.REDIRECT);
    const o = parseOuter(r.data);
    expect(o).toMatchObject({ dstIp: NVE_C.ip4, dstMac: NVE_C.mac, vni: VNI_A, ipCsumOk: true });
    expect(o.inner).toEqual(f);
    expect(dp.trace.read()[0]).toMatchObject({ verdict: slot('retunnel'), remote: NVE_C.ip4 });
  });

  it('moved VM after the hold time: dropped', () => {
    dp.tables.fdb.setMany([
      [
        { vni: VNI_A, mac: VM4.mac },
        { kind: 'moved', nve: NVE_C.ip4, untilNs: 1n },
      ],
    ]);
    expect(runTsi(vmUdp(VM4.mac, VM1.mac, IPS), 'drop-moved-expired').retval).toBe(XDP.DROP);
  });

  it('unknown unicast: dropped; flooded when the VNI says so', () => {
    const f = vmUdp('02:00:00:00:99:99', VM1.mac, IPS);
    expect(runTsi(f, 'drop-unknown-unicast').retval).toBe(XDP.DROP);
    dp.tables.vnis.setMany([[VNI_A, { floodUnknown: true }]]);
    const r = dp.run(dp.tsi, f);
    expect(r.retval).toBe(XDP.PASS);
    expect(dp.count(VNI_A, 'flood')).toBe(1n);
  });

  it("a destination in the same VNI but on another VNI's TSI is never delivered", () => {
    const r = runTsi(vmUdp(VM_BAD.mac, VM1.mac, IPS), 'drop-vni-mismatch');
    expect(r.retval).toBe(XDP.DROP);
    expect(dp.trace.read()).toEqual([]);
  });

  it('a MAC of another VNI is unknown here (isolation)', () => {
    expect(runTsi(vmUdp(VM9.mac, VM1.mac, IPS), 'drop-unknown-unicast').retval).toBe(XDP.DROP);
  });
});

describe('dual delivery (a VM migrating away)', () => {
  const toVm2 = () => vmUdp(VM2.mac, VM1.mac, IPS);
  beforeEach(() => {
    dp.tables.fdb.setMany([
      [
        { vni: VNI_A, mac: VM2.mac },
        { kind: 'dual', ifindex: TSI_A2, nve: NVE_C.ip4 },
      ],
    ]);
  });

  it('handed to TC unchanged (TC copies it to the TSI and the new NVE)', () => {
    const f = toVm2();
    const r = runTsi(f, 'dual');
    expect(r.retval).toBe(XDP.PASS);
    expect(r.data).toEqual(f);
  });

  it('without the TC programs: delivered locally only', () => {
    dp.tables.config.set(testConfig({ floodTc: false }));
    const r = runTsi(toVm2(), 'local');
    expect(r.retval).toBe(XDP.REDIRECT);
    expect(dp.trace.read()).toEqual([{ ifindex: TSI_A2, vni: VNI_A, verdict: slot('local') }]);
  });
});

describe('flood hand-off to TC', () => {
  it('broadcast: passed to TC unchanged (TC finds its VNI from the TSI)', () => {
    const f = vmUdp(BROADCAST, VM1.mac, IPS);
    const r = runTsi(f, 'flood');
    expect(r.retval).toBe(XDP.PASS);
    expect(r.data).toEqual(f);
  });

  it('without the TC programs nothing is passed to the host stack', () => {
    dp.tables.config.set(testConfig({ floodTc: false }));
    const r = runTsi(vmUdp(BROADCAST, VM1.mac, IPS), 'drop-no-flood-path');
    expect(r.retval).toBe(XDP.DROP);
  });
});

describe('drops', () => {
  const cases: [string, () => Buffer, VerdictName][] = [
    // (test_run refuses frames shorter than an Ethernet header: no driver delivers those)
    [
      'Ethernet header only',
      () => eth(VM2.mac, VM1.mac, ETH_P_IP, Buffer.alloc(0)),
      'drop-truncated',
    ],
    [
      '802.1Q tag',
      () => ethVlan(VM2.mac, VM1.mac, 5, ETH_P_IP, vmUdp(VM2.mac, VM1.mac, IPS).subarray(14)),
      'drop-vlan',
    ],
    ['multicast source MAC', () => vmUdp(VM2.mac, '03:00:00:00:00:01', IPS), 'drop-bad-src-mac'],
    ['zero source MAC', () => vmUdp(VM2.mac, '00:00:00:00:00:00', IPS), 'drop-bad-src-mac'],
    ['to itself (hairpin)', () => vmUdp(VM1.mac, VM1.mac, IPS), 'drop-hairpin'],
    [
      'truncated IPv4 header',
      () => eth(VM2.mac, VM1.mac, ETH_P_IP, Buffer.alloc(10)),
      'drop-truncated',
    ],
    [
      'truncated IPv6 header',
      () => eth(VM2.mac, VM1.mac, ETH_P_IPV6, Buffer.alloc(30)),
      'drop-truncated',
    ],
    ['truncated ARP', () => eth(BROADCAST, VM1.mac, ETH_P_ARP, Buffer.alloc(20)), 'drop-truncated'],
    [
      'ARP not Ethernet/IPv4',
      () => {
        const a = arp({ op: 1, sha: VM1.mac, spa: VM1.ip4, tha: BROADCAST, tpa: VM2.ip4 });
        a.writeUInt16BE(6, 0); // IEEE 802 hardware
        return eth(BROADCAST, VM1.mac, ETH_P_ARP, a);
      },
      'drop-bad-arp',
    ],
  ];
  it.each(cases)('%s', (_name, frame, verdict) => {
    const r = runTsi(frame(), verdict);
    expect(r.retval).toBe(XDP.DROP);
    expect(dp.trace.read()).toEqual([]);
  });

  it('ingress interface that is not a TSI: dropped, counted under VNI 0', () => {
    dp.tables.tsis.deleteMany([LO]);
    expect(runTsi(vmUdp(VM2.mac, VM1.mac, IPS), 'drop-not-tsi', 0).retval).toBe(XDP.DROP);
  });

  it('strict TSI: an unknown source MAC is dropped (and reported)', () => {
    dp.tables.tsis.setMany([[LO, { vni: VNI_A, strictSource: true }]]);
    const r = runTsi(vmUdp(VM2.mac, '02:00:00:00:77:77', IPS), 'drop-src-not-allowed');
    expect(r.retval).toBe(XDP.DROP);
    expect(dp.takeEvents()).toMatchObject([{ kind: 'new-mac', mac: '02:00:00:00:77:77' }]);
  });
});

describe('ARP', () => {
  const request = (tpa: string, spa = VM1.ip4) =>
    eth(
      BROADCAST,
      VM1.mac,
      ETH_P_ARP,
      arp({ op: 1, sha: VM1.mac, spa, tha: '00:00:00:00:00:00', tpa }),
    );

  it('request for a known IP: answered in place, redirected back out the asking TSI', () => {
    const r = runTsi(request(VM2.ip4), 'arp-reply');
    expect(r.retval).toBe(XDP.REDIRECT);
    expect(dp.trace.read()).toEqual([{ ifindex: LO, vni: VNI_A, verdict: slot('arp-reply') }]);
    expect(macText(r.data, 0)).toBe(VM1.mac);
    expect(macText(r.data, 6)).toBe(VM2.mac);
    expect(r.data.readUInt16BE(12)).toBe(ETH_P_ARP);
    expect(parseArp(r.data)).toEqual({
      op: 2,
      sha: VM2.mac,
      spa: VM2.ip4,
      tha: VM1.mac,
      tpa: VM1.ip4,
    });
    expect(dp.takeEvents()).toEqual([]);
  });

  it('request for a remote VM is answered too (no flood reaches the underlay)', () => {
    const r = runTsi(request(VM3.ip4), 'arp-reply');
    expect(parseArp(r.data).sha).toBe(VM3.mac);
  });

  it('request for an unknown IP: flooded', () => {
    expect(runTsi(request('192.168.0.200'), 'flood').retval).toBe(XDP.PASS);
  });

  it('request for an IP of another VNI: not answered (flooded within its own VNI)', () => {
    expect(runTsi(request(VM9.ip4), 'flood').retval).toBe(XDP.PASS);
  });

  it('probe for its own address (RFC 5227): not answered', () => {
    expect(runTsi(request(VM1.ip4, '0.0.0.0'), 'flood').retval).toBe(XDP.PASS);
  });

  it.each([
    ['request', 1],
    ['reply', 2],
  ])('gratuitous ARP (%s form): reported and flooded', (_n, op) => {
    const f = eth(
      BROADCAST,
      VM1.mac,
      ETH_P_ARP,
      arp({ op, sha: VM1.mac, spa: VM1.ip4, tha: BROADCAST, tpa: VM1.ip4 }),
    );
    expect(runTsi(f, 'flood').retval).toBe(XDP.PASS);
    expect(dp.takeEvents()).toMatchObject([
      { kind: 'garp', ifindex: LO, vni: VNI_A, mac: VM1.mac, ip: VM1.ip4 },
    ]);
  });
});

describe('RARP', () => {
  const rarpRequest = (mac: string) =>
    eth(
      BROADCAST,
      mac,
      ETH_P_RARP,
      arp({ op: 3, sha: mac, spa: '0.0.0.0', tha: mac, tpa: '0.0.0.0' }),
    );

  it('request for a known MAC: answered with the IPv4 address in its FDB entry, and reported', () => {
    dp.tables.fdb.setMany([
      [
        { vni: VNI_A, mac: VM2.mac },
        { kind: 'local', ifindex: LO, rarpIp4: VM2.ip4 },
      ],
    ]);
    const r = runTsi(rarpRequest(VM2.mac), 'rarp-reply');
    expect(r.retval).toBe(XDP.REDIRECT);
    expect(dp.trace.read()).toEqual([{ ifindex: LO, vni: VNI_A, verdict: slot('rarp-reply') }]);
    expect(macText(r.data, 0)).toBe(VM2.mac);
    expect(r.data.readUInt16BE(12)).toBe(ETH_P_RARP);
    expect(parseArp(r.data)).toMatchObject({ op: 4, tha: VM2.mac, tpa: VM2.ip4 });
    expect(dp.takeEvents()).toMatchObject([{ kind: 'rarp', mac: VM2.mac, vni: VNI_A }]);
  });

  it('a known MAC whose FDB entry has no IPv4: reported and consumed, not answered', () => {
    dp.tables.fdb.setMany([
      [
        { vni: VNI_A, mac: VM2.mac },
        { kind: 'local', ifindex: LO },
      ],
    ]);
    const r = runTsi(rarpRequest(VM2.mac), 'announce');
    expect(r.retval).toBe(XDP.DROP);
    expect(dp.takeEvents()).toMatchObject([{ kind: 'rarp', mac: VM2.mac, vni: VNI_A }]);
  });

  it("QEMU's announce for an unknown MAC: reported and consumed", () => {
    const mac = '52:54:00:12:34:56';
    const r = runTsi(rarpRequest(mac), 'announce');
    expect(r.retval).toBe(XDP.DROP);
    const ev = dp.takeEvents();
    // the RARP event; the unknown source MAC is reported too
    expect(ev.map((e) => e.kind).sort()).toEqual(['new-mac', 'rarp']);
    expect(ev.every((e) => e.mac === mac && e.ifindex === LO && e.vni === VNI_A)).toBe(true);
  });
});

describe('IPv6 neighbour discovery', () => {
  const sn = solicitedNode(VM2.ip6);
  const ns = (src: string, withOpt: boolean, hop = 255) =>
    eth(
      sn.mac,
      VM1.mac,
      ETH_P_IPV6,
      ndPacket(src, sn.ip, 135, 0, VM2.ip6, withOpt ? { type: 1, mac: VM1.mac } : undefined, hop),
    );

  it.each([
    ['with source link-layer option', true],
    ['without options', false],
  ])('NS for a known target (%s): solicited NA built in place', (_n, withOpt) => {
    const r = runTsi(ns(VM1.ip6, withOpt), 'nd-reply');
    expect(r.retval).toBe(XDP.REDIRECT);
    expect(dp.trace.read()).toEqual([{ ifindex: LO, vni: VNI_A, verdict: slot('nd-reply') }]);
    const d = r.data;
    expect(d.length).toBe(14 + 40 + 32);
    expect(macText(d, 0)).toBe(VM1.mac);
    expect(macText(d, 6)).toBe(VM2.mac);
    expect(d.readUInt16BE(12)).toBe(ETH_P_IPV6);
    expect(d.readUInt16BE(18)).toBe(32); // payload length
    expect(d[20]).toBe(58);
    expect(d[21]).toBe(255);
    const icmp = Buffer.from(d.subarray(54));
    expect(icmp[0]).toBe(136);
    expect(icmp[4]).toBe(0x60); // Solicited + Override
    expect(icmp.subarray(8, 24)).toEqual(d.subarray(22, 38)); // target = our source
    expect(icmp[24]).toBe(2); // target link-layer address option
    expect(icmp[25]).toBe(1);
    expect(macText(icmp, 26)).toBe(VM2.mac);
    const sum = icmp.readUInt16BE(2);
    icmp.writeUInt16BE(0, 2);
    expect(icmp6Csum(VM2.ip6, VM1.ip6, icmp)).toBe(sum);
  });

  it('DAD NS (unspecified source): not answered, flooded', () => {
    expect(runTsi(ns('::', false), 'flood').retval).toBe(XDP.PASS);
  });

  it('NS with a hop limit other than 255 is not ND: flooded as multicast', () => {
    expect(runTsi(ns(VM1.ip6, true, 64), 'flood').retval).toBe(XDP.PASS);
  });

  it('unsolicited NA (Override, to all-nodes): reported and flooded', () => {
    const f = eth(
      '33:33:00:00:00:01',
      VM1.mac,
      ETH_P_IPV6,
      ndPacket(VM1.ip6, 'ff02::1', 136, 0x20, VM1.ip6, { type: 2, mac: VM1.mac }),
    );
    expect(runTsi(f, 'flood').retval).toBe(XDP.PASS);
    expect(dp.takeEvents()).toMatchObject([{ kind: 'unsolicited-na', mac: VM1.mac, ip: VM1.ip6 }]);
  });

  it('solicited NA: not an announcement', () => {
    const f = eth(VM2.mac, VM1.mac, ETH_P_IPV6, ndPacket(VM1.ip6, VM2.ip6, 136, 0x60, VM1.ip6));
    expect(runTsi(f, 'local').retval).toBe(XDP.REDIRECT);
    expect(dp.takeEvents()).toEqual([]);
  });
});

describe('source learning events', () => {
  it('an unknown source MAC is reported once per token and still forwarded', () => {
    const mac = '02:00:00:00:55:55';
    const r = runTsi(vmUdp(BROADCAST, mac, IPS), 'flood');
    expect(r.retval).toBe(XDP.PASS);
    const [ev, ...rest] = dp.takeEvents();
    expect(rest).toEqual([]);
    expect(ev).toMatchObject({ kind: 'new-mac', mac, ifindex: LO, vni: VNI_A });
    expect(ev?.ip).toBeUndefined();
    const now = process.hrtime.bigint();
    expect(ev?.timeNs).toBeLessThanOrEqual(now);
    expect(now - (ev?.timeNs ?? 0n)).toBeLessThan(5_000_000_000n);
  });

  it('a known MAC seen on another TSI (a VM that moved here) is reported', () => {
    dp.tables.fdb.setMany([
      [
        { vni: VNI_A, mac: VM1.mac },
        { kind: 'remote', nve: NVE_B.ip4 },
      ],
    ]);
    dp.run(dp.tsi, vmUdp(BROADCAST, VM1.mac, IPS));
    expect(dp.takeEvents()).toMatchObject([{ kind: 'new-mac', mac: VM1.mac }]);
  });

  it('rate limit: a burst of 4 per MAC, then one per refill interval', () => {
    const mac = '02:00:00:00:66:66';
    for (let i = 0; i < 50; i++) dp.run(dp.tsi, vmUdp(BROADCAST, mac, IPS));
    expect(dp.takeEvents()).toHaveLength(4);
    // another MAC has its own bucket
    dp.run(dp.tsi, vmUdp(BROADCAST, '02:00:00:00:66:67', IPS));
    expect(dp.takeEvents()).toHaveLength(1);
  });

  it('rate limit per TSI: a VM spraying source MACs gets 16 bursts, not one per MAC', () => {
    // a slow refill (TSI bucket: one token per 625 ms) so the count is exact
    dp.tables.config.set(testConfig({ eventRefillNs: 10_000_000_000n }));
    for (let i = 0; i < 300; i++) {
      const mac = `02:00:00:01:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
      dp.run(dp.tsi, vmUdp(BROADCAST, mac, IPS));
    }
    expect(dp.takeEvents()).toHaveLength(4 * 16);
    // the budget is the TSI's, whatever the VNI
    dp.tables.tsis.setMany([[LO, { vni: VNI_B, strictSource: false }]]);
    dp.run(dp.tsi, vmUdp(BROADCAST, '02:00:00:02:00:01', IPS));
    expect(dp.takeEvents()).toHaveLength(0); // same ifindex: still out of budget
  });

  it('no events for a GARP claiming a broadcast sender MAC', () => {
    const f = eth(
      BROADCAST,
      VM1.mac,
      ETH_P_ARP,
      arp({ op: 1, sha: BROADCAST, spa: VM1.ip4, tha: BROADCAST, tpa: VM1.ip4 }),
    );
    dp.run(dp.tsi, f);
    expect(dp.takeEvents()).toEqual([]);
  });

  it('rate limit follows the configured burst and refill', async () => {
    dp.tables.config.set(testConfig({ eventBurst: 2, eventRefillNs: 20_000_000n }));
    const mac = '02:00:00:00:66:68';
    for (let i = 0; i < 10; i++) dp.run(dp.tsi, vmUdp(BROADCAST, mac, IPS));
    expect(dp.takeEvents()).toHaveLength(2);
    await new Promise((r) => setTimeout(r, 50));
    for (let i = 0; i < 10; i++) dp.run(dp.tsi, vmUdp(BROADCAST, mac, IPS));
    expect(dp.takeEvents()).toHaveLength(2);
  });

  it('a VM migrating away (dual) is still known on its TSI: no event', () => {
    dp.tables.fdb.setMany([
      [
        { vni: VNI_A, mac: VM1.mac },
        { kind: 'dual', ifindex: LO, nve: NVE_C.ip4 },
      ],
    ]);
    dp.run(dp.tsi, vmUdp(BROADCAST, VM1.mac, IPS));
    expect(dp.takeEvents()).toEqual([]);
  });

  it('unicast data frames are sampled: a new MAC is reported within 16 of them', () => {
    const mac = '02:00:00:00:77:01';
    for (let i = 0; i < 16; i++) dp.run(dp.tsi, vmUdp(VM2.mac, mac, IPS));
    const n = dp.takeEvents().length;
    // one sample point in 16 frames (two if the process moved CPUs in between)
    expect(n).toBeGreaterThanOrEqual(1);
    expect(n).toBeLessThanOrEqual(2);
  });

  it('unicast ARP from an unknown MAC is always checked', () => {
    const f = eth(
      VM2.mac,
      '02:00:00:00:77:02',
      ETH_P_ARP,
      arp({ op: 2, sha: '02:00:00:00:77:02', spa: '192.168.0.77', tha: VM2.mac, tpa: VM2.ip4 }),
    );
    dp.run(dp.tsi, f);
    expect(dp.takeEvents()).toMatchObject([{ kind: 'new-mac', mac: '02:00:00:00:77:02' }]);
  });

  it('no events for known local sources', () => {
    for (let i = 0; i < 5; i++) dp.run(dp.tsi, vmUdp(BROADCAST, VM1.mac, IPS));
    expect(dp.takeEvents()).toEqual([]);
  });
});

describe('an announcement places the VM here at once (before the agent reads its event)', () => {
  const KEY = { vni: VNI_A, mac: VM1.mac };
  const garp = (sha = VM1.mac) =>
    eth(
      BROADCAST,
      VM1.mac,
      ETH_P_ARP,
      arp({ op: 1, sha, spa: VM1.ip4, tha: BROADCAST, tpa: VM1.ip4 }),
    );
  beforeEach(() => {
    // VM1 was at NVE B until it moved here
    dp.tables.fdb.setMany([[KEY, { kind: 'remote', nve: NVE_B.ip4 }]]);
  });

  it('GARP: the fdb entry becomes local on the announcing TSI', () => {
    runTsi(garp(), 'flood');
    expect(dp.tables.fdb.get(KEY)).toEqual({ kind: 'local', ifindex: LO });
    expect(dp.takeEvents().map((e) => e.kind)).toContain('garp');
  });

  it("RARP (QEMU's announce after a live migration): local too", () => {
    const f = eth(
      BROADCAST,
      VM1.mac,
      ETH_P_RARP,
      arp({ op: 3, sha: VM1.mac, spa: '0.0.0.0', tha: VM1.mac, tpa: '0.0.0.0' }),
    );
    dp.run(dp.tsi, f);
    expect(dp.tables.fdb.get(KEY)).toEqual({ kind: 'local', ifindex: LO });
  });

  it('the IPv4 for RARP answers the agent wrote into the entry stays in the local one', () => {
    dp.tables.fdb.setMany([[KEY, { kind: 'remote', nve: NVE_B.ip4, rarpIp4: VM1.ip4 }]]);
    runTsi(garp(), 'flood');
    expect(dp.tables.fdb.get(KEY)).toEqual({ kind: 'local', ifindex: LO, rarpIp4: VM1.ip4 });
  });

  it('unsolicited NA: local too', () => {
    const f = eth(
      '33:33:00:00:00:01',
      VM1.mac,
      ETH_P_IPV6,
      ndPacket(VM1.ip6, 'ff02::1', 136, 0x20, VM1.ip6),
    );
    dp.run(dp.tsi, f);
    expect(dp.tables.fdb.get(KEY)).toEqual({ kind: 'local', ifindex: LO });
  });

  it("a GARP announcing another frame sender's MAC: reported, not installed", () => {
    runTsi(garp('02:00:00:00:77:03'), 'flood');
    expect(dp.tables.fdb.get(KEY)).toEqual({ kind: 'remote', nve: NVE_B.ip4 });
    expect(dp.tables.fdb.get({ vni: VNI_A, mac: '02:00:00:00:77:03' })).toBeUndefined();
  });

  it('rate-limited (no event for the agent): not installed either', () => {
    dp.tables.config.set(testConfig({ eventBurst: 1, eventRefillNs: 10_000_000_000n }));
    dp.run(dp.tsi, vmUdp(BROADCAST, VM1.mac, IPS)); // new-mac event: the only token
    expect(dp.takeEvents()).toHaveLength(1);
    dp.run(dp.tsi, garp());
    expect(dp.takeEvents()).toEqual([]);
    expect(dp.tables.fdb.get(KEY)).toEqual({ kind: 'remote', nve: NVE_B.ip4 });
  });

  it('a TSI configured for another MAC: reported (the agent decides), not installed', () => {
    dp.tables.tsis.setMany([[LO, { vni: VNI_A, strictSource: false, mac: VM2.mac }]]);
    runTsi(garp(), 'flood');
    expect(dp.takeEvents().map((e) => e.kind)).toContain('garp');
    expect(dp.tables.fdb.get(KEY)).toEqual({ kind: 'remote', nve: NVE_B.ip4 });
  });

  it('a TSI configured for this MAC: installed', () => {
    dp.tables.tsis.setMany([[LO, { vni: VNI_A, strictSource: false, mac: VM1.mac }]]);
    runTsi(garp(), 'flood');
    expect(dp.tables.fdb.get(KEY)).toEqual({ kind: 'local', ifindex: LO });
  });

  it('a VM migrating away (dual) that announces on its TSI stays dual', () => {
    const dual = { kind: 'dual', ifindex: LO, nve: NVE_C.ip4 } as const;
    dp.tables.fdb.setMany([[KEY, dual]]);
    runTsi(garp(), 'flood');
    expect(dp.tables.fdb.get(KEY)).toEqual(dual);
  });
});

describe('VNI B TSI', () => {
  it('frames of a VNI B VM stay in VNI B', () => {
    dp.tables.tsis.setMany([[LO, { vni: VNI_B, strictSource: false }]]);
    dp.tables.fdb.setMany([
      [
        { vni: VNI_B, mac: VM1.mac },
        { kind: 'local', ifindex: LO },
      ],
    ]);
    // VM2 lives in VNI A: unknown in B
    expect(runTsi(vmUdp(VM2.mac, VM1.mac, IPS), 'drop-unknown-unicast', VNI_B).retval).toBe(
      XDP.DROP,
    );
    dp.stats.clear();
    const r = runTsi(vmUdp(VM9.mac, VM1.mac, IPS), 'local', VNI_B);
    expect(r.retval).toBe(XDP.REDIRECT);
    expect(dp.trace.read()).toEqual([{ ifindex: TSI_B1, vni: VNI_B, verdict: slot('local') }]);
  });
});
