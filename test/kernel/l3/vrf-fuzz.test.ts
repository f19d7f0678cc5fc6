// VRF isolation under random and mutated frames: VRF 2 holds routes for addresses VRF 1 also
// uses and for its own; thousands of frames from a VRF 1 TSI and on VRF 1's L3 VNI, built from
// those addresses and then mutated byte by byte, must never leave towards a VRF 2 target, and
// every frame must land in exactly one counter.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { vmUdp, vxlan } from '../dataplane/frames.ts';
import { NVE, NVE_B, XDP, openDataplane, type TestDataplane } from '../dataplane/harness.ts';
import { TSI_B1, VM1, VNI_B } from '../dataplane/fixture.ts';
import {
  GW_MAC,
  L3VNI_1,
  L3VNI_2,
  VMR_LOCAL,
  VMR_REMOTE,
  VRF2_ONLY,
  installL3Fixture,
  openL3,
  resetL3,
  type L3Dataplane,
} from './l3-fixture.ts';
import { echo4, echo6 } from './l3-frames.ts';

const FRAMES = 3000;
/** Deterministic PRNG (mulberry32) so a failure can be replayed from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let dp: TestDataplane;
let l3: L3Dataplane;
beforeAll(() => {
  dp = openDataplane('l3fuzz');
  l3 = openL3(dp);
});
afterAll(() => {
  for (const m of l3?.maps ?? []) m.close();
  dp?.close();
});
beforeEach(() => {
  dp.reset();
  resetL3(l3);
  installL3Fixture(dp, l3, true);
});

const TARGETS = [
  VRF2_ONLY,
  '172.16.200.1',
  '172.31.0.9',
  VMR_LOCAL.ip4,
  VMR_REMOTE.ip4,
  VMR_LOCAL.ip6,
  'fd90::5',
];

function seedFrame(next: () => number): Buffer {
  const dst = TARGETS[Math.floor(next() * TARGETS.length)] ?? VRF2_ONLY;
  const v6 = dst.includes(':');
  const pick = next();
  if (pick < 0.2)
    return v6 ? echo6(GW_MAC, VM1.mac, VM1.ip6, dst) : echo4(GW_MAC, VM1.mac, VM1.ip4, dst);
  return vmUdp(
    GW_MAC,
    VM1.mac,
    [v6 ? VM1.ip6 : VM1.ip4, dst],
    [1, 2],
    60 + Math.floor(next() * 200),
  );
}

function mutate(f: Buffer, next: () => number): Buffer {
  const out = Buffer.from(f);
  const n = Math.floor(next() * 4);
  for (let i = 0; i < n; i++) {
    // keep the gateway MAC most of the time so the frames reach the router
    const at = 12 + Math.floor(next() * (out.length - 12));
    out[at] = Math.floor(next() * 256);
  }
  // test_run needs at least an Ethernet header
  if (next() < 0.1) return out.subarray(0, 14 + Math.floor(next() * (out.length - 14)));
  return out;
}

function leaks(): unknown[] {
  return dp.trace
    .read()
    .filter((t) => t.ifindex === TSI_B1 || t.vni === VNI_B || t.vni === L3VNI_2);
}

describe('no frame crosses from VRF 1 into VRF 2', () => {
  it(`${FRAMES} mutated frames from a VRF 1 TSI`, () => {
    const seed = randomBytes(4).readUInt32LE(0);
    const next = rng(seed);
    for (let i = 0; i < FRAMES; i++) {
      dp.trace.clear();
      const r = dp.run(dp.tsi, mutate(seedFrame(next), next));
      expect(r.retval, `seed ${seed} frame ${i}`).not.toBe(XDP.ABORTED);
      expect(leaks(), `seed ${seed} frame ${i}`).toEqual([]);
    }
    expect(dp.totalPackets()).toBe(BigInt(FRAMES));
  });

  it(`${FRAMES} mutated frames on VRF 1's L3 VNI`, () => {
    const seed = randomBytes(4).readUInt32LE(0);
    const next = rng(seed);
    for (let i = 0; i < FRAMES; i++) {
      dp.trace.clear();
      const inner = mutate(seedFrame(next), next);
      const f = vxlan(
        { srcMac: NVE_B.mac, dstMac: NVE.mac, srcIp: NVE_B.ip4, dstIp: NVE.ip4, vni: L3VNI_1 },
        inner,
      );
      const r = dp.run(dp.underlay, f);
      expect(r.retval, `seed ${seed} frame ${i}`).not.toBe(XDP.ABORTED);
      expect(leaks(), `seed ${seed} frame ${i}`).toEqual([]);
    }
    expect(dp.totalPackets()).toBe(BigInt(FRAMES));
  });

  it('the leak check does see a delivery into VRF 2 (from a VRF 2 TSI)', () => {
    dp.tables.tsis.setMany([[1, { vni: VNI_B, strictSource: false }]]);
    dp.run(dp.tsi, vmUdp(GW_MAC, VM1.mac, [VM1.ip4, VRF2_ONLY]));
    dp.run(dp.tsi, vmUdp(GW_MAC, VM1.mac, [VM1.ip4, VMR_LOCAL.ip4]));
    expect(leaks().length).toBe(2);
  });
});
