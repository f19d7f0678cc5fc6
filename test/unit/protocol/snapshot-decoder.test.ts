// The packed Snapshot decoder must give what proto-loader + the schema's validation give (entry
// for entry), and hand back null for whatever the schema would refuse or it does not handle, so
// the fallback decides and says why.
import { describe, expect, it } from 'vitest';
import { packSnapshot } from '../../../src/protocol/packed-snapshot.ts';
import { parseNvaMessage, type SnapshotMsg } from '../../../src/protocol/schema.ts';
import { decodeSnapshotMessage } from '../../../src/protocol/snapshot-decoder.ts';
import { deserializeNvaMessage, sampleEntry, serializeNvaMessage } from './stream-wire.ts';

const encode = serializeNvaMessage;

/** The full sample entry, written as a sender might: upper-case MAC, a long IPv6 form (normalised). */
const entry = {
  ...sampleEntry,
  mac: '02:AA:00:00:00:01',
  ips: [
    { ip: '10.0.0.1', seq: 1 },
    { ip: 'FD00:0::1', seq: 2 },
  ],
};
const plain = { ...entry, mac: '02:aa:00:00:00:02', ips: [{ ip: '10.0.0.2', seq: 1 }], tsi: '' };
const anchored = {
  ...plain,
  mac: '02:aa:00:00:00:03',
  anchors: [{ ip: '10.1.0.5', fromVni: 200, nveId: 'nve-7', nveAddr: '192.0.2.7', sinceMs: 17e11 }],
};
const accepted: [string, object][] = [
  [
    'entries, members, routed VNs',
    {
      revision: 7,
      vnis: [100, 200],
      entries: [
        entry,
        plain,
        anchored,
        { ...plain, mac: '02:aa:00:00:00:04', nveId: 'n2', nveAddr: 'fd00::2', ips: [] },
      ],
      members: [{ vni: 100, nveId: 'nve-1', nveAddr: '192.0.2.1' }],
      routedVns: [
        {
          vni: 100,
          vrf: 1,
          l3: false,
          gatewayMac: '02:00:00:00:00:fe',
          gatewayIp4: '10.0.0.254/24',
          gatewayIp6: '',
          unreachable: true,
        },
        {
          vni: 9000,
          vrf: 1,
          l3: true,
          gatewayMac: '02:00:00:00:00:fd',
          routes: [{ prefix: '0.0.0.0/0', via: '10.0.0.2' }],
        },
      ],
    },
  ],
  ['empty', { revision: 1 }],
  [
    'every state',
    {
      revision: 2,
      entries: [1, 2, 3, 4].map((state, i) => ({ ...plain, mac: `02:aa:00:00:01:0${i}`, state })),
    },
  ],
];
const refused: [string, object][] = [
  ['unspecified state', { entries: [{ ...plain, state: 0 }] }],
  ['bad MAC', { entries: [{ ...plain, mac: '02:aa:00:00:00' }] }],
  ['bad IP', { entries: [{ ...plain, ips: [{ ip: '10.0.0.01', seq: 1 }] }] }],
  ['VNI 0', { entries: [{ ...plain, vni: 0 }] }],
  ['bad NVE id', { entries: [{ ...plain, nveId: 'a b' }] }],
  [
    'too many IPs',
    {
      entries: [
        { ...plain, ips: Array.from({ length: 17 }, (_, i) => ({ ip: `10.0.1.${i}`, seq: 1 })) },
      ],
    },
  ],
];

describe('packed Snapshot decoder', () => {
  for (const [name, snap] of accepted) {
    it(`agrees with proto-loader and the schema: ${name}`, () => {
      const buf = encode({ snapshot: snap });
      const ref = parseNvaMessage(deserializeNvaMessage(buf));
      expect(ref.ok).toBe(true);
      const want = packSnapshot((ref as { value: { snapshot: SnapshotMsg } }).value.snapshot);
      const got = decodeSnapshotMessage(buf);
      expect(got).not.toBeNull();
      const s = got!.snapshot;
      expect(s.packed.entries()).toEqual(want.packed.entries());
      expect({ ...s, packed: undefined }).toEqual({ ...want, packed: undefined });
      expect(s.packed.keyBytes.subarray(0, s.packed.count * 12)).toEqual(
        want.packed.keyBytes.subarray(0, want.packed.count * 12),
      );
    });
  }
  for (const [name, snap] of refused) {
    it(`leaves to the fallback what the schema refuses: ${name}`, () => {
      const buf = encode({ snapshot: { revision: 1, ...snap } });
      expect(parseNvaMessage(deserializeNvaMessage(buf)).ok).toBe(false);
      expect(decodeSnapshotMessage(buf)).toBeNull();
    });
  }
  it('leaves non-ASCII text to the fallback (which accepts it)', () => {
    const buf = encode({ snapshot: { revision: 1, entries: [{ ...plain, tsi: 'tæp' }] } });
    expect(parseNvaMessage(deserializeNvaMessage(buf)).ok).toBe(true);
    expect(decodeSnapshotMessage(buf)).toBeNull();
  });
  it('leaves other messages alone', () => {
    expect(decodeSnapshotMessage(encode({ change: { revision: 1, vni: 1 } }))).toBeNull();
  });
});
