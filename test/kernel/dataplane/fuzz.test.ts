// Random and mutated frames through all three programs (seeded, so a failure reproduces):
// truncated at every offset, bytes flipped, lengths bent, odd ethertypes, VLAN tags, IP
// options and fragments. Whatever comes in, every frame ends in exactly one counted verdict,
// nothing aborts, and no frame ever leaves into a VNI other than the one it belongs to.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FLOOD_SHIM_MAGIC } from '../../../src/dataplane/codecs.ts';
import {
  BROADCAST,
  ETH_P_ARP,
  ETH_P_IP,
  ETH_P_IPV6,
  ETH_P_RARP,
  arp,
  eth,
  ethVlan,
  ipv4,
  ndPacket,
  macText,
  parseOuter,
  solicitedNode,
  udp,
  vmUdp,
  vxlan,
  type OuterFields,
} from './frames.ts';
import {
  TEST_FLOOD_SECRET,
  splitFloodShim,
  LO,
  NVE,
  NVE_B,
  NVE_C,
  NVE_D,
  TC_ACT,
  UNDERLAY_IFINDEX,
  XDP,
  openDataplane,
  slot,
  type TestDataplane,
} from './harness.ts';
import {
  TSI_A2,
  TSI_A3,
  TSI_B1,
  VM1,
  VM2,
  VM3,
  VM4,
  VM5,
  VM6,
  VM9,
  VNI_A,
  VNI_B,
  installFixture,
} from './fixture.ts';

/** Mutated variants per seed frame. */
const MUTATIONS_PER_SEED = 150;
const RANDOM_FRAMES = 400;
/** The smallest frame test_run accepts (an Ethernet header). */
const MIN_FRAME = 14;

/** mulberry32: a small deterministic PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(f: Buffer, rnd: () => number): Buffer {
  const b = Buffer.from(f);
  const int = (n: number) => Math.floor(rnd() * n);
  switch (int(6)) {
    case 0: // flip a few bytes, mostly in the headers
      for (let i = int(4) + 1; i > 0; i--) b[int(Math.min(b.length, 96))] = int(256);
      return b;
    case 1: // bend a 16-bit length field somewhere in the first 80 bytes
      if (b.length > 20)
        b.writeUInt16BE(int(65536), 12 + 2 * int(Math.min(34, (b.length - 14) / 2)));
      return b;
    case 2: // odd ethertype
      b.writeUInt16BE([0x0000, 0x05dc, 0x88cc, 0x8847, 0x88a8, 0x8100, 0xffff][int(7)] ?? 0, 12);
      return b;
    case 3: // junk appended
      return Buffer.concat([b, Buffer.from(Array.from({ length: int(64) }, () => int(256)))]);
    case 4: // cut anywhere
      return b.subarray(0, Math.max(MIN_FRAME, int(b.length + 1)));
    default: {
      // one bit
      const at = int(b.length);
      b[at] = (b[at] ?? 0) ^ (1 << int(8));
      return b;
    }
  }
}

function randomFrame(rnd: () => number): Buffer {
  const n = MIN_FRAME + Math.floor(rnd() * 200);
  return Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)));
}

/** Every prefix of f from an Ethernet header up, plus mutations and random frames. */
function corpus(seeds: Buffer[], seed: number): Buffer[] {
  const rnd = prng(seed);
  const out: Buffer[] = [];
  for (const s of seeds) {
    out.push(s);
    for (let len = MIN_FRAME; len < s.length; len++) out.push(s.subarray(0, len));
    for (let i = 0; i < MUTATIONS_PER_SEED; i++) out.push(mutate(s, rnd));
  }
  for (let i = 0; i < RANDOM_FRAMES; i++) out.push(randomFrame(rnd));
  return out;
}

/** Who may answer ARP/ND/RARP on a VNI A TSI: its VMs, or the RARP responder. */
const REPLIES = [slot('arp-reply'), slot('nd-reply'), slot('rarp-reply')];
const ANSWERING_MACS = [VM1, VM2, VM3, VM4, VM5].map((v) => v.mac).concat('02:72:6f:61:6d:00');

/** test_run cannot build an skb whose IPv4/IPv6 header is shorter than the fixed header. */
function skbTestRunAccepts(f: Buffer): boolean {
  const type = f.readUInt16BE(12);
  if (type === ETH_P_IP) return f.length >= 14 + 20;
  if (type === ETH_P_IPV6) return f.length >= 14 + 40;
  return true;
}

const TSI_VNI = new Map([
  [TSI_A2, VNI_A],
  [TSI_A3, VNI_A],
  [TSI_B1, VNI_B],
]);

let dp: TestDataplane;
beforeAll(() => {
  dp = openDataplane('fuzz');
});
afterAll(() => dp?.close());
beforeEach(() => {
  dp.reset();
  installFixture(dp);
  dp.tables.vnis.setMany([[VNI_A, { floodUnknown: true }]]);
});

/** Runs one frame; returns what came out and where it would have left. (Reading every
 * counter per frame is too slow here: the caller checks one verdict per frame over the corpus;
 * the path tests check it frame by frame.) */
function runTraced(prog: TestDataplane['tsi'], f: Buffer) {
  dp.trace.clear();
  const r = dp.run(prog, f);
  expect(r.retval, 'never aborted').not.toBe(XDP.ABORTED);
  return { r, trace: dp.trace.read() };
}

describe('TSI program (ingress in VNI A)', () => {
  const sn = solicitedNode(VM2.ip6);
  const seeds = [
    vmUdp(VM2.mac, VM1.mac, [VM1.ip4, VM2.ip4]),
    vmUdp(VM3.mac, VM1.mac, [VM1.ip4, VM3.ip4]),
    vmUdp(VM4.mac, VM1.mac, [VM1.ip4, VM4.ip4]),
    vmUdp(VM5.mac, VM1.mac, [VM1.ip4, VM5.ip4]),
    vmUdp(VM9.mac, VM1.mac, [VM1.ip4, VM9.ip4]),
    vmUdp(BROADCAST, VM1.mac, [VM1.ip4, '255.255.255.255']),
    eth(
      BROADCAST,
      VM1.mac,
      ETH_P_ARP,
      arp({ op: 1, sha: VM1.mac, spa: VM1.ip4, tha: BROADCAST, tpa: VM2.ip4 }),
    ),
    eth(
      BROADCAST,
      VM1.mac,
      ETH_P_ARP,
      arp({ op: 1, sha: VM1.mac, spa: VM1.ip4, tha: BROADCAST, tpa: VM1.ip4 }),
    ),
    eth(
      BROADCAST,
      VM1.mac,
      ETH_P_RARP,
      arp({ op: 3, sha: VM2.mac, spa: '0.0.0.0', tha: VM2.mac, tpa: '0.0.0.0' }),
    ),
    eth(
      sn.mac,
      VM1.mac,
      ETH_P_IPV6,
      ndPacket(VM1.ip6, sn.ip, 135, 0, VM2.ip6, { type: 1, mac: VM1.mac }),
    ),
    eth('33:33:00:00:00:01', VM1.mac, ETH_P_IPV6, ndPacket(VM1.ip6, 'ff02::1', 136, 0x20, VM1.ip6)),
    ethVlan(VM2.mac, VM1.mac, 3, ETH_P_IP, ipv4(VM1.ip4, VM2.ip4, 17, udp(1, 2, Buffer.alloc(10)))),
    eth(
      VM3.mac,
      VM1.mac,
      ETH_P_IP,
      ipv4(VM1.ip4, VM3.ip4, 17, udp(1, 2, Buffer.alloc(10)), {
        options: Buffer.from([1, 1, 1, 0, 7, 3, 4, 0]),
      }),
    ),
    eth(
      VM3.mac,
      VM1.mac,
      ETH_P_IP,
      ipv4(VM1.ip4, VM3.ip4, 17, udp(1, 2, Buffer.alloc(10)), { fragOff: 0x2000 }),
    ),
  ];

  it('every frame: one verdict; leaves only within VNI A, encapsulated with VNI A', () => {
    const frames = corpus(seeds, 0x7351);
    const seen = new Set<number>();
    let replies = 0;
    const before = dp.totalPackets();
    for (const f of frames) {
      const { r, trace } = runTraced(dp.tsi, f);
      if (trace[0]?.ifindex === LO) replies++;
      seen.add(r.retval);
      const hex = f.toString('hex');
      if (r.retval === XDP.REDIRECT) {
        expect(trace, hex).toHaveLength(1);
        const t = trace[0];
        expect(t?.vni, hex).toBe(VNI_A);
        if (t?.ifindex === UNDERLAY_IFINDEX) {
          const o = parseOuter(r.data);
          expect(o.vni, hex).toBe(VNI_A);
          expect(o.inner, hex).toEqual(f);
          if (o.family === 4) expect(o.ipCsumOk, hex).toBe(true);
        } else if (t?.ifindex === LO) {
          // an answer, back out the asking TSI: it speaks for a VM of VNI A only
          expect(REPLIES, hex).toContain(t.verdict);
          expect(ANSWERING_MACS, hex).toContain(macText(r.data, 6));
        } else {
          expect(TSI_VNI.get(t?.ifindex ?? 0), hex).toBe(VNI_A);
          expect(r.data, hex).toEqual(f);
        }
      } else {
        expect(trace, hex).toEqual([]);
      }
      // handed to TC unchanged: TC finds the VNI from the TSI
      if (r.retval === XDP.PASS) expect(r.data, hex).toEqual(f);
    }
    expect(frames.length).toBeGreaterThan(2000);
    expect(dp.totalPackets() - before, 'one counted verdict per frame').toBe(BigInt(frames.length));
    // the corpus reached every kind of outcome
    expect([...seen].sort()).toEqual([XDP.DROP, XDP.PASS, XDP.REDIRECT]);
    expect(replies, 'some frames were answered').toBeGreaterThan(0);
  });
});

describe('underlay program', () => {
  const FROM_B: OuterFields = {
    srcMac: NVE_B.mac,
    dstMac: NVE.mac,
    srcIp: NVE_B.ip4,
    dstIp: NVE.ip4,
    vni: VNI_A,
  };
  const FROM_C_B: OuterFields = { ...FROM_B, srcIp: NVE_C.ip4, vni: VNI_B };
  const FROM_D: OuterFields = {
    srcMac: NVE_D.mac,
    dstMac: NVE.mac,
    srcIp: NVE_D.ip6,
    dstIp: NVE.ip6,
    vni: VNI_A,
  };
  const seeds = [
    vxlan(FROM_B, vmUdp(VM2.mac, VM3.mac, [VM3.ip4, VM2.ip4])),
    vxlan(FROM_D, vmUdp(VM2.mac, VM3.mac, [VM3.ip4, VM2.ip4])),
    vxlan(FROM_B, vmUdp(VM4.mac, VM3.mac, [VM3.ip4, VM4.ip4])),
    vxlan(FROM_B, vmUdp(VM6.mac, VM3.mac, [VM3.ip4, VM6.ip4])),
    vxlan(FROM_B, vmUdp(VM9.mac, VM3.mac, [VM3.ip4, VM9.ip4])),
    vxlan(FROM_C_B, vmUdp(VM9.mac, VM3.mac, [VM3.ip4, VM9.ip4])),
    vxlan(FROM_C_B, vmUdp(VM2.mac, VM3.mac, [VM3.ip4, VM2.ip4])),
    vxlan(FROM_B, vmUdp(BROADCAST, VM3.mac, [VM3.ip4, '255.255.255.255'])),
    vxlan(
      { ...FROM_B, ipv4: { tos: 3 } },
      vmUdp(VM2.mac, VM3.mac, [VM3.ip4, VM2.ip4], [1, 2], 60, 2),
    ),
    vxlan(
      { ...FROM_B, ipv4: { options: Buffer.from([1, 1, 1, 0]) } },
      vmUdp(VM2.mac, VM3.mac, [VM3.ip4, VM2.ip4]),
    ),
    vxlan({ ...FROM_B, ipv4: { fragOff: 0x2000 } }, vmUdp(VM2.mac, VM3.mac, [VM3.ip4, VM2.ip4])),
    eth(
      NVE.mac,
      NVE_B.mac,
      ETH_P_IP,
      ipv4(NVE_B.ip4, NVE.ip4, 17, udp(5000, 53, Buffer.alloc(20))),
    ),
  ];

  it('every frame: one verdict; delivered only into the VNI its header names', () => {
    const frames = corpus(seeds, 0xdeca);
    const seen = new Set<number>();
    const before = dp.totalPackets();
    for (const f of frames) {
      const { r, trace } = runTraced(dp.underlay, f);
      seen.add(r.retval);
      const hex = f.toString('hex');
      if (r.retval === XDP.REDIRECT || (r.retval === XDP.PASS && !r.data.equals(f))) {
        // it was taken as VXLAN to us: the header's VNI decides where it may go
        const inVni = parseOuter(f).vni;
        // a CE mark on the outer header may legitimately rewrite the inner ECN bits (and the
        // IPv4 checksum): then only the inner Ethernet header and length must be unchanged
        const ce = (parseOuter(f).tos & 3) === 3;
        const expectInner = (got: Buffer) => {
          const inner = parseOuter(f).inner;
          if (!ce) return expect(got, hex).toEqual(inner);
          expect(got.length, hex).toBe(inner.length);
          expect(got.subarray(0, 14), hex).toEqual(inner.subarray(0, 14));
        };
        if (r.retval === XDP.PASS) {
          const { frame, shim } = splitFloodShim(r.data);
          expect(shim, hex).toEqual({
            magic: FLOOD_SHIM_MAGIC,
            secret: TEST_FLOOD_SECRET,
            vni: inVni,
            ethType: parseOuter(f).inner.readUInt16BE(12),
          });
          expectInner(frame);
          continue;
        }
        expect(trace, hex).toHaveLength(1);
        const t = trace[0];
        expect(t?.vni, hex).toBe(inVni);
        if (t?.ifindex === UNDERLAY_IFINDEX) {
          expect(t.verdict, hex).toBe(slot('retunnel'));
          const o = parseOuter(r.data);
          expect(o.vni, hex).toBe(inVni);
          expectInner(o.inner);
        } else {
          expect(TSI_VNI.get(t?.ifindex ?? 0), hex).toBe(inVni);
          expectInner(r.data);
        }
      } else {
        expect(trace, hex).toEqual([]);
      }
    }
    expect([...seen].sort()).toEqual([XDP.DROP, XDP.PASS, XDP.REDIRECT]);
    expect(dp.totalPackets() - before, 'one counted verdict per frame').toBe(BigInt(frames.length));
  });
});

describe('TC flood program (ingress TSI in VNI A)', () => {
  const seeds = [
    vmUdp(BROADCAST, VM1.mac, [VM1.ip4, '255.255.255.255']),
    vmUdp('02:00:00:00:99:99', VM1.mac, [VM1.ip4, VM2.ip4]),
    eth(
      BROADCAST,
      VM1.mac,
      ETH_P_ARP,
      arp({ op: 1, sha: VM1.mac, spa: VM1.ip4, tha: BROADCAST, tpa: '192.168.0.77' }),
    ),
  ];

  it('every copy goes to a VNI A TSI or carries VNI A to a remote NVE', () => {
    const frames = corpus(seeds, 0xf100d).filter(skbTestRunAccepts);
    // every original ends in exactly one of these (copies are counted on top)
    const finals = ['flood-done', 'drop-truncated', 'drop-unknown-unicast', 'drop-no-flood-list'];
    const finalCount = () =>
      dp.stats
        .read()
        .filter((row) => finals.includes(row.verdict))
        .reduce((n, row) => n + row.packets, 0n);
    const before = finalCount();
    for (const f of frames) {
      dp.trace.clear();
      const r = dp.run(dp.floodTsi, f);
      const hex = f.toString('hex');
      expect(r.retval, hex).toBe(TC_ACT.SHOT);
      const trace = dp.trace.read();
      for (const t of trace) {
        expect(t.vni, hex).toBe(VNI_A);
        if (t.ifindex !== UNDERLAY_IFINDEX) expect(TSI_VNI.get(t.ifindex), hex).toBe(VNI_A);
        expect([slot('flood-local'), slot('flood-remote'), slot('dual-copy')]).toContain(t.verdict);
      }
      if (trace.length > 0 && trace[trace.length - 1]?.ifindex === UNDERLAY_IFINDEX) {
        const o = parseOuter(r.data);
        expect(o.vni, hex).toBe(VNI_A);
        expect(o.inner, hex).toEqual(f);
      }
    }
    expect(finalCount() - before, 'one final verdict per frame').toBe(BigInt(frames.length));
  });
});
