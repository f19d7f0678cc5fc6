// TC flood programs (bpf/flood.bpf.c) through BPF_PROG_TEST_RUN with tracing on: the program
// records each copy it would send (test_run would really send clones) and ends with the last
// copy's headers in the skb, which the tests parse.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { VerdictName } from '../../../src/dataplane/codecs.ts';
import { BROADCAST, parseOuter, vmUdp } from './frames.ts';
import {
  LO,
  NVE,
  NVE_B,
  NVE_C,
  NVE_D,
  TC_ACT,
  UNDERLAY_IFINDEX,
  openDataplane,
  slot,
  withFloodShim,
  type TestDataplane,
} from './harness.ts';
import { TSI_A2, TSI_A3, TSI_B1, VM1, VM2, VNI_A, installFixture } from './fixture.ts';

let dp: TestDataplane;
beforeAll(() => {
  dp = openDataplane('flood');
});
afterAll(() => dp?.close());
beforeEach(() => {
  dp.reset();
  installFixture(dp);
});

const BCAST = vmUdp(BROADCAST, VM1.mac, [VM1.ip4, '255.255.255.255']);
const local = (ifindex: number) => ({ ifindex, vni: VNI_A, verdict: slot('flood-local') });
const remote = (ip: string) => ({
  ifindex: UNDERLAY_IFINDEX,
  vni: VNI_A,
  verdict: slot('flood-remote'),
  remote: ip,
});

function count(verdict: VerdictName, vni = VNI_A): bigint {
  return dp.count(vni, verdict);
}

describe('flood from a TSI', () => {
  it('broadcast: every other local TSI, then every remote NVE (IPv4 first, then IPv6)', () => {
    const r = dp.run(dp.floodTsi, BCAST);
    expect(r.retval).toBe(TC_ACT.SHOT);
    expect(dp.trace.read()).toEqual([
      local(TSI_A2),
      local(TSI_A3),
      remote(NVE_B.ip4),
      remote(NVE_C.ip4),
      remote(NVE_D.ip6),
    ]);
    expect(count('flood-local')).toBe(2n);
    expect(count('flood-remote')).toBe(3n);
    expect(count('flood-done')).toBe(1n);
    // the skb holds the last copy: IPv6 VXLAN to D around the original frame
    const o = parseOuter(r.data);
    expect(o).toMatchObject({
      family: 6,
      srcMac: NVE.mac,
      dstMac: NVE_D.mac,
      srcIp: NVE.ip6,
      dstIp: NVE_D.ip6,
      dport: 4789,
      vni: VNI_A,
      vxFlags: 0x08000000,
      udpLen: 16 + BCAST.length,
    });
    expect(o.sport).toBeGreaterThanOrEqual(49152);
    expect(o.inner).toEqual(BCAST);
  });

  it('copies carry the inner ECN field in their outer header', () => {
    dp.tables.flood.setMany([[VNI_A, { local: [], remote: [NVE_B.ip4] }]]);
    const f = vmUdp(BROADCAST, VM1.mac, [VM1.ip4, '255.255.255.255'], [1, 2], 60, 2);
    expect(parseOuter(dp.run(dp.floodTsi, f).data).tos).toBe(2);
  });

  it('IPv4-only list: the last copy carries a correct IPv4 header', () => {
    dp.tables.flood.setMany([[VNI_A, { local: [LO], remote: [NVE_B.ip4] }]]);
    const r = dp.run(dp.floodTsi, BCAST);
    expect(dp.trace.read()).toEqual([remote(NVE_B.ip4)]);
    expect(parseOuter(r.data)).toMatchObject({
      family: 4,
      dstIp: NVE_B.ip4,
      ipCsumOk: true,
      df: true,
      ipLen: 36 + BCAST.length,
    });
  });

  it('a TSI of another VNI in the list is skipped and counted', () => {
    dp.tables.flood.setMany([[VNI_A, { local: [TSI_B1, TSI_A2], remote: [] }]]);
    dp.run(dp.floodTsi, BCAST);
    expect(dp.trace.read()).toEqual([local(TSI_A2)]);
    expect(count('drop-vni-mismatch')).toBe(1n);
  });

  it('a remote NVE without next hop is skipped; the others still get their copy', () => {
    dp.tables.nexthops.deleteMany([NVE_C.ip4]);
    dp.run(dp.floodTsi, BCAST);
    expect(dp.trace.read().filter((t) => t.verdict === slot('flood-remote'))).toEqual([
      remote(NVE_B.ip4),
      remote(NVE_D.ip6),
    ]);
    expect(count('drop-no-nexthop')).toBe(1n);
  });

  it('too big to encapsulate: local copies only, remote ones counted as MTU drops', () => {
    const big = vmUdp(BROADCAST, VM1.mac, [VM1.ip4, '255.255.255.255'], [1, 2], 1465);
    dp.run(dp.floodTsi, big);
    expect(dp.trace.read()).toEqual([local(TSI_A2), local(TSI_A3)]);
    expect(count('drop-mtu')).toBe(3n);
  });

  it('unknown unicast in a VNI that floods it', () => {
    dp.tables.vnis.setMany([[VNI_A, { floodUnknown: true }]]);
    dp.run(dp.floodTsi, vmUdp('02:00:00:00:99:99', VM1.mac, [VM1.ip4, VM2.ip4]));
    expect(dp.trace.read()).toHaveLength(5);
  });

  const refused: [string, () => void, Buffer, VerdictName, number][] = [
    [
      'known unicast',
      () => undefined,
      vmUdp(VM2.mac, VM1.mac, [VM1.ip4, VM2.ip4]),
      'drop-unknown-unicast',
      VNI_A,
    ],
    [
      'unknown unicast, VNI does not flood',
      () => undefined,
      vmUdp('02:00:00:00:99:99', VM1.mac, [VM1.ip4, VM2.ip4]),
      'drop-unknown-unicast',
      VNI_A,
    ],
    [
      'no flood list',
      () => dp.tables.flood.deleteMany([VNI_A]),
      BCAST,
      'drop-no-flood-list',
      VNI_A,
    ],
    ['not a TSI', () => dp.tables.tsis.deleteMany([LO]), BCAST, 'drop-not-tsi', 0],
  ];
  it.each(refused)('%s: consumed, nothing sent', (_n, setup, frame, verdict, vni) => {
    setup();
    const r = dp.run(dp.floodTsi, frame);
    expect(r.retval).toBe(TC_ACT.SHOT);
    expect(dp.trace.read()).toEqual([]);
    expect(count(verdict, vni)).toBe(1n);
  });
});

describe('dual delivery from a TSI', () => {
  const dual = (ifindex: number) =>
    dp.tables.fdb.setMany([
      [
        { vni: VNI_A, mac: VM2.mac },
        { kind: 'dual', ifindex, nve: NVE_C.ip4 },
      ],
    ]);
  const copy = { vni: VNI_A, verdict: slot('dual-copy') };

  it("one copy to the VM's TSI, one tunnelled to its new NVE", () => {
    dual(TSI_A2);
    const f = vmUdp(VM2.mac, VM1.mac, [VM1.ip4, VM2.ip4]);
    const r = dp.run(dp.floodTsi, f);
    expect(r.retval).toBe(TC_ACT.SHOT);
    expect(dp.trace.read()).toEqual([
      { ...copy, ifindex: TSI_A2 },
      { ...copy, ifindex: UNDERLAY_IFINDEX, remote: NVE_C.ip4 },
    ]);
    const o = parseOuter(r.data);
    expect(o).toMatchObject({ dstIp: NVE_C.ip4, dstMac: NVE_C.mac, vni: VNI_A, ipCsumOk: true });
    expect(o.inner).toEqual(f);
    expect(count('dual-copy')).toBe(2n);
    expect(count('flood-done')).toBe(1n);
  });

  it('no copy back to the TSI the frame came from', () => {
    dual(LO);
    dp.run(dp.floodTsi, vmUdp(VM2.mac, VM1.mac, [VM1.ip4, VM2.ip4]));
    expect(dp.trace.read()).toEqual([{ ...copy, ifindex: UNDERLAY_IFINDEX, remote: NVE_C.ip4 }]);
  });

  it('a dual entry on a TSI of another VNI: only the tunnelled copy', () => {
    dual(TSI_B1);
    dp.run(dp.floodTsi, vmUdp(VM2.mac, VM1.mac, [VM1.ip4, VM2.ip4]));
    expect(dp.trace.read()).toEqual([{ ...copy, ifindex: UNDERLAY_IFINDEX, remote: NVE_C.ip4 }]);
    expect(count('drop-vni-mismatch')).toBe(1n);
  });
});

describe('flood from the underlay', () => {
  it("a frame without a flood shim is the host's: left alone, not counted", () => {
    const r = dp.run(dp.floodUnderlay, BCAST);
    expect(r.retval).toBe(TC_ACT.OK);
    expect(r.data).toEqual(BCAST);
    expect(dp.totalPackets()).toBe(0n);
    expect(dp.trace.read()).toEqual([]);
  });

  it("a shim without this NVE's secret is the host's too (the wire cannot pose as XDP)", () => {
    const forged = withFloodShim(BCAST, VNI_A, 0x1234);
    const r = dp.run(dp.floodUnderlay, forged);
    expect(r.retval).toBe(TC_ACT.OK);
    expect(r.data).toEqual(forged);
    expect(dp.totalPackets()).toBe(0n);
    expect(dp.trace.read()).toEqual([]);
  });

  it('broadcast: shim taken out, every local TSI of the VNI, no remote NVE (split horizon)', () => {
    const r = dp.run(dp.floodUnderlay, withFloodShim(BCAST, VNI_A));
    expect(r.retval).toBe(TC_ACT.SHOT);
    expect(dp.trace.read()).toEqual([local(LO), local(TSI_A2), local(TSI_A3)]);
    expect(r.data).toEqual(BCAST);
    expect(count('flood-done')).toBe(1n);
  });

  it("dual: one copy to the VM's TSI, one tunnelled to its new NVE, without the shim", () => {
    dp.tables.fdb.setMany([
      [
        { vni: VNI_A, mac: VM2.mac },
        { kind: 'dual', ifindex: TSI_A2, nve: NVE_C.ip4 },
      ],
    ]);
    const f = vmUdp(VM2.mac, VM1.mac, [VM1.ip4, VM2.ip4]);
    const r = dp.run(dp.floodUnderlay, withFloodShim(f, VNI_A));
    expect(r.retval).toBe(TC_ACT.SHOT);
    const copy = { vni: VNI_A, verdict: slot('dual-copy') };
    expect(dp.trace.read()).toEqual([
      { ...copy, ifindex: TSI_A2 },
      { ...copy, ifindex: UNDERLAY_IFINDEX, remote: NVE_C.ip4 },
    ]);
    expect(parseOuter(r.data).inner).toEqual(f);
  });
});
