// routed_mask, the per-VNI presence bitmap in front of routed_vnis (bpf/lib/route-maps.h): the
// routedVnis table sets a VNI's bit before its entry appears and clears it once no entry maps
// to it, and the TSI program skips the L3 stage of a VNI whose bit is clear (that is the
// saving: no routed_vnis hash lookup for a VN that is not routed).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BROADCAST, ETH_P_ARP, arp, eth } from '../dataplane/frames.ts';
import { XDP, openDataplane, type TestDataplane } from '../dataplane/harness.ts';
import { VM1, VNI_A } from '../dataplane/fixture.ts';
import { u32 } from '../../../src/dataplane/codecs.ts';
import { routedVni, type RoutedVni } from '../../../src/dataplane/l3-codecs.ts';
import { TypedMap } from '../../../src/bpf/typed-map.ts';
import type { BpfMap } from '../../../src/bpf/map.ts';
import { GW_A, installL3Fixture, openL3, resetL3, type L3Dataplane } from './l3-fixture.ts';

let dp: TestDataplane;
let l3: L3Dataplane;
let mask: BpfMap;

function maskWord(word: number): bigint {
  const k = Buffer.alloc(4);
  k.writeUInt32LE(word, 0);
  const v = Buffer.alloc(8);
  if (!mask.lookupInto(k, v)) throw new Error(`routed_mask has no word ${word}`);
  return v.readBigUInt64LE(0);
}

const TENANT: RoutedVni = { kind: 'l3', vrf: 9, routerMac: '02:00:5e:00:09:09' };

beforeAll(() => {
  dp = openDataplane('l3mask');
  l3 = openL3(dp);
  const m = l3.maps.find((x) => x.name === 'routed_mask');
  if (!m) throw new Error('routed_mask is not pinned');
  mask = m;
});
afterAll(() => {
  for (const m of l3?.maps ?? []) m.close();
  dp?.close();
});
beforeEach(() => {
  dp.reset();
  resetL3(l3);
});

describe('routed_mask', () => {
  it('a bit is set with its entry and cleared when the last entry of its bit goes', () => {
    const t = l3.tables.routedVnis;
    // 64 and 65 share word 1; 130 is in word 2; 2^24 + 65 aliases to the bit of 65
    t.setMany([
      [64, TENANT],
      [65, TENANT],
      [130, TENANT],
      [2 ** 24 + 65, TENANT],
    ]);
    expect(maskWord(1)).toBe(0b11n);
    expect(maskWord(2)).toBe(1n << 2n);
    t.deleteMany([64, 65]);
    expect(maskWord(1)).toBe(0b10n); // 2^24 + 65 still has its entry
    t.deleteMany([2 ** 24 + 65, 130]);
    expect(maskWord(1)).toBe(0n);
    expect(maskWord(2)).toBe(0n);
  });

  it('the TSI program answers for the gateway only while the VN is routed through the table', () => {
    installL3Fixture(dp, l3);
    const req = eth(
      BROADCAST,
      VM1.mac,
      ETH_P_ARP,
      arp({ op: 1, sha: VM1.mac, spa: VM1.ip4, tha: '00:00:00:00:00:00', tpa: GW_A.ip4 }),
    );
    expect(dp.run(dp.tsi, req).retval).toBe(XDP.REDIRECT);
    const entry = l3.tables.routedVnis.get(VNI_A);
    if (!entry) throw new Error('fixture: VNI A is not routed');
    l3.tables.routedVnis.deleteMany([VNI_A]);
    expect(dp.run(dp.tsi, req).retval).toBe(XDP.PASS); // flooded as plain L2
    // written around the table the entry has no bit: the programs do not see it
    new TypedMap(
      l3.maps.find((x) => x.name === 'routed_vnis')!,
      u32,
      routedVni,
    ).setMany([[VNI_A, entry]]);
    expect(dp.run(dp.tsi, req).retval).toBe(XDP.PASS);
    l3.tables.routedVnis.setMany([[VNI_A, entry]]);
    expect(dp.run(dp.tsi, req).retval).toBe(XDP.REDIRECT);
  });
});
