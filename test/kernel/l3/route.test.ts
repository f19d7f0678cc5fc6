// Routing in XDP (bpf/lib/route.h) through BPF_PROG_TEST_RUN: a frame to the anycast gateway
// MAC is routed by (VRF, destination IP) to a local VM (MACs rewritten) or, over the VRF's L3
// VNI, to the NVE that serves it; tunnelled L3-VNI frames are delivered to the local VM or
// re-tunnelled straight to a moved VM's current NVE. TTL / hop limit and checksums verified.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseOuter, vmUdp, vxlan, type OuterFields } from '../dataplane/frames.ts';
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
  type TestDataplane,
} from '../dataplane/harness.ts';
import { TSI_A2, TSI_B1, VM1, VM2, VNI_A, VNI_B } from '../dataplane/fixture.ts';
import {
  GW_MAC,
  L3VNI_1,
  L3VNI_2,
  TSI_R1,
  VMR_LOCAL,
  VMR_MOVED,
  VMR_REMOTE,
  VNI_R,
  VRF_1,
  installL3Fixture,
  openL3,
  resetL3,
  type L3Dataplane,
} from './l3-fixture.ts';
import { parseIp } from './l3-frames.ts';
import type { RouteEntry } from '../../../src/dataplane/l3-codecs.ts';

let dp: TestDataplane;
let l3: L3Dataplane;
beforeAll(() => {
  dp = openDataplane('l3route');
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

/** A UDP frame from VM1 (VN A) to the gateway MAC, for dst (IPv4 TTL set by ttlFrame). */
function routed(dst: string, hop?: number): Buffer {
  const f = vmUdp(GW_MAC, VM1.mac, [dst.includes(':') ? VM1.ip6 : VM1.ip4, dst], [4000, 53], 80);
  if (hop !== undefined) f[21] = hop;
  return f;
}

/** An IPv4 frame from VM1 to the gateway MAC with this TTL (header checksum recomputed). */
function ttlFrame(dst: string, ttl: number): Buffer {
  const f = vmUdp(GW_MAC, VM1.mac, [VM1.ip4, dst], [4000, 53], 80);
  f[22] = ttl;
  f.writeUInt16BE(0, 24);
  let sum = 0;
  for (let i = 14; i < 34; i += 2) sum += f.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  f.writeUInt16BE(~sum & 0xffff, 24);
  return f;
}

describe('TSI: routed to a local VM', () => {
  it.each([
    ['IPv4', VMR_LOCAL.ip4],
    ['IPv6', VMR_LOCAL.ip6],
  ])('%s: MACs rewritten, TTL - 1, checksum valid, out the VM TSI', (_n, dst) => {
    const f = routed(dst);
    const r = dp.run(dp.tsi, f);
    expect(r.retval).toBe(XDP.REDIRECT);
    const p = parseIp(r.data);
    expect(p).toMatchObject({
      dstMac: VMR_LOCAL.mac,
      srcMac: GW_MAC,
      dst,
      ttl: 63,
      ipCsumOk: true,
    });
    // only MACs, TTL and the IPv4 checksum changed
    expect(r.data.subarray(14 + (dst.includes(':') ? 40 : 20))).toEqual(
      f.subarray(14 + (dst.includes(':') ? 40 : 20)),
    );
    expect(dp.count(VNI_A, 'routed-local')).toBe(1n);
    expect(dp.trace.read()).toEqual([
      { ifindex: TSI_R1, vni: VNI_R, verdict: slot('routed-local') },
    ]);
  });

  it('a route back to the ingress TSI is a hairpin drop', () => {
    const r = dp.run(dp.tsi, routed(VM1.ip4));
    expect(r.retval).toBe(XDP.DROP);
    expect(dp.count(VNI_A, 'drop-hairpin')).toBe(1n);
  });

  it('an L2 frame in a routed VN is still bridged', () => {
    const r = dp.run(dp.tsi, vmUdp(VM2.mac, VM1.mac, [VM1.ip4, VM2.ip4]));
    expect(r.retval).toBe(XDP.REDIRECT);
    expect(dp.trace.read()).toEqual([{ ifindex: TSI_A2, vni: VNI_A, verdict: slot('local') }]);
  });
});

describe('TSI: routed to a remote NVE over the L3 VNI', () => {
  it.each([
    ['IPv4 host route', VMR_REMOTE.ip4, NVE_B.ip4],
    ['IPv6 host route', VMR_REMOTE.ip6, NVE_B.ip4],
    ['moved VM: straight to its current NVE', VMR_MOVED.ip4, NVE_C.ip4],
    ['prefix /16', '10.99.7.7', NVE_C.ip4],
    ['longer prefix /24 wins', '10.99.1.7', NVE_B.ip4],
    ['IPv6 prefix, IPv6 underlay', 'fd99::1:5', NVE_D.ip6],
  ])('%s', (_n, dst, nve) => {
    const f = routed(dst);
    const r = dp.run(dp.tsi, f);
    if (r.retval !== XDP.REDIRECT)
      console.log(
        'DBG',
        JSON.stringify(dp.stats.read(), (_k, v) => (typeof v === 'bigint' ? String(v) : v)),
      );
    const o = parseOuter(r.data);
    expect(o).toMatchObject({
      srcIp: nve.includes(':') ? NVE.ip6 : NVE.ip4,
      dstIp: nve,
      vni: L3VNI_1,
      ipCsumOk: true,
    });
    const inner = parseIp(o.inner);
    expect(inner).toMatchObject({ dstMac: GW_MAC, srcMac: GW_MAC, dst, ttl: 63, ipCsumOk: true });
    expect(dp.count(VNI_A, 'routed-remote')).toBe(1n);
    expect(dp.trace.read()).toEqual([
      { ifindex: UNDERLAY_IFINDEX, vni: L3VNI_1, verdict: slot('routed-remote'), remote: nve },
    ]);
  });
});

describe('TSI: TTL and misses', () => {
  it.each([1, 0])('TTL %i is passed to the kernel unchanged (ICMP time exceeded)', (ttl) => {
    const f = ttlFrame(VMR_LOCAL.ip4, ttl);
    const r = dp.run(dp.tsi, f);
    expect(r.retval).toBe(XDP.PASS);
    expect(r.data).toEqual(f);
    expect(dp.count(VNI_A, 'ttl-expired')).toBe(1n);
  });

  it('hop limit 1 too', () => {
    const r = dp.run(dp.tsi, routed(VMR_LOCAL.ip6, 1));
    expect(r.retval).toBe(XDP.PASS);
    expect(dp.count(VNI_A, 'ttl-expired')).toBe(1n);
  });

  it('TTL 2 is routed with TTL 1', () => {
    const r = dp.run(dp.tsi, ttlFrame(VMR_LOCAL.ip4, 2));
    expect(r.retval).toBe(XDP.REDIRECT);
    expect(parseIp(r.data)).toMatchObject({ ttl: 1, ipCsumOk: true });
  });

  it('the checksum is right for every TTL (incremental update, carry included)', () => {
    for (let ttl = 2; ttl <= 255; ttl++) {
      const r = dp.run(dp.tsi, ttlFrame(VMR_LOCAL.ip4, ttl));
      const p = parseIp(r.data);
      expect(p.ttl).toBe(ttl - 1);
      expect(p.ipCsumOk, `ttl ${ttl}`).toBe(true);
    }
  });
});

describe('VRF isolation', () => {
  it('an address routed only in VRF 2 is no route from VRF 1', () => {
    const r = dp.run(dp.tsi, routed('172.16.5.5'));
    expect(r.retval).toBe(XDP.DROP);
    expect(dp.count(VNI_A, 'drop-no-route')).toBe(1n);
  });

  it('the same address in VRF 2 goes to VRF 2 targets only', () => {
    dp.tables.tsis.setMany([[LO, { vni: VNI_B, strictSource: false }]]);
    const r = dp.run(dp.tsi, routed(VMR_LOCAL.ip4));
    expect(r.retval).toBe(XDP.REDIRECT);
    expect(dp.trace.read()).toEqual([
      { ifindex: TSI_B1, vni: VNI_B, verdict: slot('routed-local') },
    ]);
  });

  it('a VRF 1 route pointing at a VM of VRF 2 is refused', () => {
    l3.tables.hostRoutes.setMany([
      [
        { vrf: VRF_1, ip: '192.168.3.99' },
        { kind: 'local', vni: VNI_B, ifindex: TSI_B1, mac: '02:00:00:00:09:99' },
      ],
    ]);
    expect(dp.run(dp.tsi, routed('192.168.3.99')).retval).toBe(XDP.DROP);
    expect(dp.count(VNI_A, 'drop-vrf-mismatch')).toBe(1n);
  });

  it("a VRF 1 route over VRF 2's L3 VNI is refused", () => {
    l3.tables.hostRoutes.setMany([
      [
        { vrf: VRF_1, ip: '192.168.3.98' },
        { kind: 'remote', l3Vni: L3VNI_2, nve: NVE_B.ip4 },
      ],
    ]);
    expect(dp.run(dp.tsi, routed('192.168.3.98')).retval).toBe(XDP.DROP);
    expect(dp.count(VNI_A, 'drop-vrf-mismatch')).toBe(1n);
  });

  it('a local route whose TSI is in another VN than the route says is refused', () => {
    l3.tables.hostRoutes.setMany([
      [
        { vrf: VRF_1, ip: '192.168.3.97' },
        { kind: 'local', vni: VNI_R, ifindex: TSI_B1, mac: '02:00:00:00:09:97' },
      ],
    ]);
    expect(dp.run(dp.tsi, routed('192.168.3.97')).retval).toBe(XDP.DROP);
    expect(dp.count(VNI_A, 'drop-vni-mismatch')).toBe(1n);
  });
});

/** A VXLAN frame from nve on vni carrying a routed (router-to-router) frame for dst. */
function l3Frame(from: { mac: string; ip4: string }, vni: number, dst: string, ttl = 63): Buffer {
  const inner = vmUdp(GW_MAC, GW_MAC, [dst.includes(':') ? VM1.ip6 : VM1.ip4, dst], [4000, 53], 80);
  if (dst.includes(':')) inner[21] = ttl;
  else {
    inner[22] = ttl;
    inner.writeUInt16BE(0, 24);
    let sum = 0;
    for (let i = 14; i < 34; i += 2) sum += inner.readUInt16BE(i);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    inner.writeUInt16BE(~sum & 0xffff, 24);
  }
  const o: OuterFields = {
    srcMac: from.mac,
    dstMac: NVE.mac,
    srcIp: from.ip4,
    dstIp: NVE.ip4,
    vni,
  };
  return vxlan(o, inner);
}

describe('anchored addresses (issue 6 item 4): the lookup flags their use', () => {
  const key = { vrf: VRF_1, ip: VMR_LOCAL.ip4 };
  it('an anchored local route is marked used by the first packet, and routed as before', () => {
    const plain = l3.tables.hostRoutes.get(key);
    expect(plain).toMatchObject({ kind: 'local' });
    l3.tables.hostRoutes.setMany([[key, { ...plain!, anchor: true } as RouteEntry]]);
    const r = dp.run(dp.underlay, l3Frame(NVE_B, L3VNI_1, VMR_LOCAL.ip4));
    expect(r.retval).toBe(XDP.REDIRECT);
    expect(parseIp(r.data)).toMatchObject({ dstMac: VMR_LOCAL.mac, dst: VMR_LOCAL.ip4 });
    expect(l3.tables.hostRoutes.get(key)).toEqual({ ...plain, anchor: true, used: true });
    // the agent clears the bit; the next packet sets it again
    l3.tables.hostRoutes.setMany([[key, { ...plain!, anchor: true } as RouteEntry]]);
    dp.run(dp.tsi, routed(VMR_LOCAL.ip4));
    expect(l3.tables.hostRoutes.get(key)).toEqual({ ...plain, anchor: true, used: true });
  });
  it('a route that is no anchor is never written by the dataplane', () => {
    const plain = l3.tables.hostRoutes.get(key);
    dp.run(dp.underlay, l3Frame(NVE_B, L3VNI_1, VMR_LOCAL.ip4));
    expect(l3.tables.hostRoutes.get(key)).toEqual(plain);
    expect(plain).not.toHaveProperty('used');
  });
});

describe('underlay: L3 VNI arrivals', () => {
  it.each([
    ['IPv4', VMR_LOCAL.ip4],
    ['IPv6', VMR_LOCAL.ip6],
  ])('%s to a local VM: decapsulated, MACs rewritten, TTL kept (one logical router)', (_n, dst) => {
    const r = dp.run(dp.underlay, l3Frame(NVE_B, L3VNI_1, dst));
    expect(r.retval).toBe(XDP.REDIRECT);
    expect(parseIp(r.data)).toMatchObject({
      dstMac: VMR_LOCAL.mac,
      srcMac: GW_MAC,
      dst,
      ttl: 63,
      ipCsumOk: true,
    });
    expect(dp.count(L3VNI_1, 'routed-local')).toBe(1n);
    expect(dp.trace.read()).toEqual([
      { ifindex: TSI_R1, vni: VNI_R, verdict: slot('routed-local') },
    ]);
  });

  it('a VM that moved A -> B -> C: re-tunnelled from here straight to C, in one hop', () => {
    const r = dp.run(dp.underlay, l3Frame(NVE_B, L3VNI_1, VMR_MOVED.ip4));
    expect(r.retval).toBe(XDP.REDIRECT);
    const o = parseOuter(r.data);
    expect(o).toMatchObject({ srcIp: NVE.ip4, dstIp: NVE_C.ip4, vni: L3VNI_1, ipCsumOk: true });
    expect(parseIp(o.inner)).toMatchObject({ dst: VMR_MOVED.ip4, ttl: 62, ipCsumOk: true });
    expect(dp.count(L3VNI_1, 'retunnel')).toBe(1n);
  });

  it('back to the NVE that sent it (stale on both sides): dropped, no ping-pong', () => {
    const r = dp.run(dp.underlay, l3Frame(NVE_C, L3VNI_1, VMR_MOVED.ip4));
    expect(r.retval).toBe(XDP.DROP);
    expect(dp.count(L3VNI_1, 'drop-retunnel-loop')).toBe(1n);
  });

  it('a re-tunnel with TTL 1 left ends the loop', () => {
    expect(dp.run(dp.underlay, l3Frame(NVE_B, L3VNI_1, VMR_MOVED.ip4, 1)).retval).toBe(XDP.DROP);
    expect(dp.count(L3VNI_1, 'drop-retunnel-loop')).toBe(1n);
  });

  it('no route in the VRF: dropped', () => {
    expect(dp.run(dp.underlay, l3Frame(NVE_B, L3VNI_1, '172.16.5.5')).retval).toBe(XDP.DROP);
    expect(dp.count(L3VNI_1, 'drop-no-route')).toBe(1n);
  });

  it("VRF 2's L3 VNI sees only VRF 2 routes", () => {
    const r = dp.run(dp.underlay, l3Frame(NVE_B, L3VNI_2, VMR_LOCAL.ip4));
    expect(r.retval).toBe(XDP.REDIRECT);
    expect(dp.trace.read()).toEqual([
      { ifindex: TSI_B1, vni: VNI_B, verdict: slot('routed-local') },
    ]);
  });

  it('an NVE not a peer of the L3 VNI cannot inject', () => {
    expect(dp.run(dp.underlay, l3Frame(NVE_C, L3VNI_2, VMR_LOCAL.ip4)).retval).toBe(XDP.DROP);
    expect(dp.count(L3VNI_2, 'drop-peer-not-allowed')).toBe(1n);
  });

  it('tenant VNIs on the underlay stay L2 (VM1 decapsulated by its MAC)', () => {
    const o: OuterFields = {
      srcMac: NVE_B.mac,
      dstMac: NVE.mac,
      srcIp: NVE_B.ip4,
      dstIp: NVE.ip4,
      vni: VNI_A,
    };
    const r = dp.run(
      dp.underlay,
      vxlan(o, vmUdp(VM1.mac, '02:00:00:00:00:03', ['192.168.0.3', VM1.ip4])),
    );
    expect(r.retval).toBe(XDP.REDIRECT);
    expect(dp.count(VNI_A, 'decap')).toBe(1n);
  });
});
