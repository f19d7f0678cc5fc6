// The anycast gateway in XDP on a TSI (bpf/lib/gateway.h) through BPF_PROG_TEST_RUN: ARP and
// NS for the gateway answered with the gateway MAC, echo answered, no route answered with
// ICMP / ICMPv6 unreachable where the VN asks for it. Frame in, frame and verdict out, with
// every checksum the program writes verified.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  BROADCAST,
  ETH_P_ARP,
  arp,
  eth,
  macText,
  ndPacket,
  parseArp,
  solicitedNode,
  vmUdp,
} from '../dataplane/frames.ts';
import { LO, XDP, openDataplane, slot, type TestDataplane } from '../dataplane/harness.ts';
import { VM1, VM2, VNI_A } from '../dataplane/fixture.ts';
import { readIp } from '../../../src/dataplane/ip-address.ts';
import { GW_A, GW_MAC, installL3Fixture, openL3, resetL3, type L3Dataplane } from './l3-fixture.ts';
import { echo4, echo6, parseIp, IPPROTO_ICMP, IPPROTO_ICMPV6 } from './l3-frames.ts';

let dp: TestDataplane;
let l3: L3Dataplane;
beforeAll(() => {
  dp = openDataplane('l3gw');
  l3 = openL3(dp);
});
afterAll(() => {
  for (const m of l3?.maps ?? []) m.close();
  dp?.close();
});
beforeEach(() => {
  dp.reset();
  resetL3(l3);
  installL3Fixture(dp, l3);
});

describe('ARP for the gateway', () => {
  it('a broadcast request is answered with the gateway MAC, back out the TSI', () => {
    const req = eth(
      BROADCAST,
      VM1.mac,
      ETH_P_ARP,
      arp({ op: 1, sha: VM1.mac, spa: VM1.ip4, tha: '00:00:00:00:00:00', tpa: GW_A.ip4 }),
    );
    const r = dp.run(dp.tsi, req);
    expect(r.retval).toBe(XDP.REDIRECT);
    expect(macText(r.data, 0)).toBe(VM1.mac);
    expect(macText(r.data, 6)).toBe(GW_MAC);
    expect(parseArp(r.data)).toEqual({
      op: 2,
      sha: GW_MAC,
      spa: GW_A.ip4,
      tha: VM1.mac,
      tpa: VM1.ip4,
    });
    expect(dp.count(VNI_A, 'gw-arp-reply')).toBe(1n);
    expect(dp.trace.read()).toEqual([{ ifindex: LO, vni: VNI_A, verdict: slot('gw-arp-reply') }]);
  });

  it('a unicast request to the gateway MAC (cache refresh) is answered too', () => {
    const req = eth(
      GW_MAC,
      VM1.mac,
      ETH_P_ARP,
      arp({ op: 1, sha: VM1.mac, spa: VM1.ip4, tha: GW_MAC, tpa: GW_A.ip4 }),
    );
    expect(dp.run(dp.tsi, req).retval).toBe(XDP.REDIRECT);
    expect(dp.count(VNI_A, 'gw-arp-reply')).toBe(1n);
  });

  it('a request for a VM is still the L2 answer (not the gateway)', () => {
    const req = eth(
      BROADCAST,
      VM1.mac,
      ETH_P_ARP,
      arp({ op: 1, sha: VM1.mac, spa: VM1.ip4, tha: '00:00:00:00:00:00', tpa: VM2.ip4 }),
    );
    const r = dp.run(dp.tsi, req);
    expect(r.retval).toBe(XDP.REDIRECT);
    expect(parseArp(r.data).sha).toBe(VM2.mac);
    expect(dp.count(VNI_A, 'arp-reply')).toBe(1n);
    expect(dp.count(VNI_A, 'gw-arp-reply')).toBe(0n);
  });
});

describe('NS for the gateway', () => {
  it('a multicast NS is answered with a solicited NA from the gateway MAC', () => {
    const sn = solicitedNode(GW_A.ip6);
    const ns = eth(
      sn.mac,
      VM1.mac,
      0x86dd,
      ndPacket(VM1.ip6, sn.ip, 135, 0, GW_A.ip6, { type: 1, mac: VM1.mac }),
    );
    const r = dp.run(dp.tsi, ns);
    expect(r.retval).toBe(XDP.REDIRECT);
    const p = parseIp(r.data);
    expect(p).toMatchObject({
      dstMac: VM1.mac,
      srcMac: GW_MAC,
      src: GW_A.ip6,
      dst: VM1.ip6,
      ttl: 255,
      proto: IPPROTO_ICMPV6,
      icmpCsumOk: true,
    });
    expect(p.payload[0]).toBe(136);
    expect(p.payload[4]).toBe(0x80 | 0x40 | 0x20); // Router, Solicited, Override
    expect(readIp(6, p.payload, 8)).toBe(GW_A.ip6);
    expect(macText(p.payload, 26)).toBe(GW_MAC);
    expect(dp.count(VNI_A, 'gw-nd-reply')).toBe(1n);
  });

  it('a unicast NS (reachability check) is answered; DAD is not', () => {
    const nud = eth(GW_MAC, VM1.mac, 0x86dd, ndPacket(VM1.ip6, GW_A.ip6, 135, 0, GW_A.ip6));
    expect(dp.run(dp.tsi, nud).retval).toBe(XDP.REDIRECT);
    const sn = solicitedNode(GW_A.ip6);
    const dad = eth(sn.mac, VM1.mac, 0x86dd, ndPacket('::', sn.ip, 135, 0, GW_A.ip6));
    dp.run(dp.tsi, dad);
    expect(dp.count(VNI_A, 'gw-nd-reply')).toBe(1n);
  });
});

describe('echo to the gateway', () => {
  it('IPv4: answered in place, addresses swapped, both checksums valid', () => {
    const r = dp.run(dp.tsi, echo4(GW_MAC, VM1.mac, VM1.ip4, GW_A.ip4, 17));
    expect(r.retval).toBe(XDP.REDIRECT);
    const p = parseIp(r.data);
    expect(p).toMatchObject({
      dstMac: VM1.mac,
      srcMac: GW_MAC,
      src: GW_A.ip4,
      dst: VM1.ip4,
      ttl: 64,
      proto: IPPROTO_ICMP,
      ipCsumOk: true,
      icmpCsumOk: true,
    });
    expect(p.payload[0]).toBe(0);
    expect(p.payload.readUInt32BE(4)).toBe(0x12340007);
    expect(dp.count(VNI_A, 'gw-echo')).toBe(1n);
  });

  it('IPv6: answered in place, checksum valid', () => {
    const r = dp.run(dp.tsi, echo6(GW_MAC, VM1.mac, VM1.ip6, GW_A.ip6));
    expect(r.retval).toBe(XDP.REDIRECT);
    const p = parseIp(r.data);
    expect(p).toMatchObject({
      dstMac: VM1.mac,
      srcMac: GW_MAC,
      src: GW_A.ip6,
      dst: VM1.ip6,
      ttl: 64,
      icmpCsumOk: true,
    });
    expect(p.payload[0]).toBe(129);
    expect(dp.count(VNI_A, 'gw-echo')).toBe(1n);
  });

  it('other traffic to the gateway address is dropped (nothing else listens there)', () => {
    const r = dp.run(dp.tsi, vmUdp(GW_MAC, VM1.mac, [VM1.ip4, GW_A.ip4]));
    expect(r.retval).toBe(XDP.DROP);
    expect(dp.count(VNI_A, 'drop-no-route')).toBe(1n);
  });
});

describe('no route', () => {
  it('is dropped and counted by default', () => {
    const r = dp.run(dp.tsi, vmUdp(GW_MAC, VM1.mac, [VM1.ip4, '203.0.113.9']));
    expect(r.retval).toBe(XDP.DROP);
    expect(dp.count(VNI_A, 'drop-no-route')).toBe(1n);
  });

  it('IPv4, VN configured to answer: ICMP host unreachable quoting the packet', () => {
    resetL3(l3);
    installL3Fixture(dp, l3, true);
    const orig = vmUdp(GW_MAC, VM1.mac, [VM1.ip4, '203.0.113.9'], [1234, 80], 100);
    const r = dp.run(dp.tsi, orig);
    expect(r.retval).toBe(XDP.REDIRECT);
    const p = parseIp(r.data);
    expect(p).toMatchObject({
      dstMac: VM1.mac,
      srcMac: GW_MAC,
      src: GW_A.ip4,
      dst: VM1.ip4,
      proto: IPPROTO_ICMP,
      ipCsumOk: true,
      icmpCsumOk: true,
    });
    expect([p.payload[0], p.payload[1]]).toEqual([3, 1]);
    expect(p.payload.subarray(8)).toEqual(orig.subarray(14, 14 + 28));
    expect(r.data.length).toBe(14 + 20 + 8 + 28);
    expect(dp.count(VNI_A, 'unreach-reply')).toBe(1n);
  });

  it('IPv4, a packet shorter than the quote: the quote is zero-padded', () => {
    resetL3(l3);
    installL3Fixture(dp, l3, true);
    const orig = vmUdp(GW_MAC, VM1.mac, [VM1.ip4, '203.0.113.9'], [1234, 80], 42);
    const r = dp.run(dp.tsi, orig);
    expect(r.retval).toBe(XDP.REDIRECT);
    const p = parseIp(r.data);
    expect(p.icmpCsumOk).toBe(true);
    expect(p.payload.subarray(8)).toEqual(orig.subarray(14, 14 + 28));
  });

  it('IPv6, VN configured to answer: ICMPv6 address unreachable', () => {
    resetL3(l3);
    installL3Fixture(dp, l3, true);
    const orig = vmUdp(GW_MAC, VM1.mac, [VM1.ip6, '2001:db8::9'], [1234, 80], 120);
    const r = dp.run(dp.tsi, orig);
    expect(r.retval).toBe(XDP.REDIRECT);
    const p = parseIp(r.data);
    expect(p).toMatchObject({
      dstMac: VM1.mac,
      srcMac: GW_MAC,
      src: GW_A.ip6,
      dst: VM1.ip6,
      proto: IPPROTO_ICMPV6,
      icmpCsumOk: true,
    });
    expect([p.payload[0], p.payload[1]]).toEqual([1, 3]);
    expect(p.payload.subarray(8)).toEqual(orig.subarray(14, 14 + 48));
    expect(dp.count(VNI_A, 'unreach-reply')).toBe(1n);
  });

  it('never answers an ICMP error with an error', () => {
    resetL3(l3);
    installL3Fixture(dp, l3, true);
    const err = echo4(GW_MAC, VM1.mac, VM1.ip4, '203.0.113.9');
    err[14 + 20] = 3; // make it an unreachable (checksum no longer matters: it is dropped)
    expect(dp.run(dp.tsi, err).retval).toBe(XDP.DROP);
    expect(dp.count(VNI_A, 'drop-no-route')).toBe(1n);
    expect(dp.count(VNI_A, 'unreach-reply')).toBe(0n);
  });
});
