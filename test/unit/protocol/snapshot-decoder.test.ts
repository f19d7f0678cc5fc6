// The packed Snapshot decoder must give what proto-loader + the schema's validation give (entry
// for entry), and hand back null for whatever the schema would refuse or it does not handle, so
// the fallback decides and says why.
import { describe, expect, it } from 'vitest';
import {
  DeferredSnapshot,
  packSnapshot,
  type PackedEntriesBuilder,
} from '../../../src/protocol/packed-snapshot.ts';
import { parseNvaMessage, type SnapshotMsg } from '../../../src/protocol/schema.ts';
import {
  SINK_CHUNK_ENTRIES,
  SnapshotRefused,
  decodeSnapshotMessage,
  withSnapshotDecoder,
} from '../../../src/protocol/snapshot-decoder.ts';
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
  [
    'the common entry form and its edges (read by the fast path or left to the general one)',
    {
      revision: 3,
      entries: [
        { ...plain, seq: 0, ips: [{ ip: '10.0.0.3', seq: 0 }] },
        { ...plain, mac: '02:AB:CD:EF:00:05', seq: 2 ** 40, changedAtMs: 17e11 },
        { ...plain, mac: '02:aa:00:00:00:06', seq: 2 ** 52, ips: [{ ip: '10.0.0.6', seq: 300 }] },
        { ...plain, mac: '02:aa:00:00:00:07', vni: 0xffffff, ips: [] },
        { ...plain, mac: '02:aa:00:00:00:08', ips: [{ ip: '255.255.255.255', seq: 127 }] },
        { ...plain, mac: '02:aa:00:00:00:09', ips: [{ ip: 'fd00::9', seq: 1 }] },
        { ...plain, mac: '02:aa:00:00:00:0a', tsi: 'tap0' },
      ],
    },
  ],
  [
    'an NVE in several VNs (its address validated once)',
    {
      revision: 4,
      members: [100, 200, 300].map((vni) => ({ vni, nveId: 'nve-1', nveAddr: 'FD00:0::1' })),
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
  [
    'a member of VNI 0 after a good one of the same NVE',
    {
      members: [
        { vni: 100, nveId: 'nve-1', nveAddr: '192.0.2.1' },
        { vni: 0, nveId: 'nve-1', nveAddr: '192.0.2.1' },
      ],
    },
  ],
  ['VNI past 24 bits', { entries: [{ ...plain, vni: 0x1000000 }] }],
  ['MAC with dashes', { entries: [{ ...plain, mac: '02-aa-00-00-00-02' }] }],
  ['MAC not hex', { entries: [{ ...plain, mac: '02:ag:00:00:00:02' }] }],
  ['IPv4 past 255', { entries: [{ ...plain, ips: [{ ip: '10.0.0.256', seq: 1 }] }] }],
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

describe('deserializer: entries decoded when taken', () => {
  const deserialize = withSnapshotDecoder(deserializeNvaMessage);
  const many = Array.from({ length: SINK_CHUNK_ENTRIES * 2 + 3 }, (_, i) => ({
    ...plain,
    mac: `02:aa:00:${[i >> 8, i & 0xff, 7].map((x) => x.toString(16).padStart(2, '0')).join(':')}`,
  }));
  const take = (buf: Buffer): DeferredSnapshot => {
    const s = (deserialize(buf) as { snapshot: unknown }).snapshot;
    expect(s).toBeInstanceOf(DeferredSnapshot);
    return s as DeferredSnapshot;
  };

  it('hands over the small parts at once and the entries, as decodeSnapshotMessage gives them, to a sink chunk by chunk', () => {
    const buf = encode({ snapshot: { revision: 9, entries: many, members: [] } });
    const s = take(buf);
    expect(s.revision).toBe(9);
    expect(s.entryCount).toBe(many.length);
    expect(s.decoded).toBe(false);
    const chunks: [number, number][] = [];
    const packed = s.decodeEntries({
      decoded: (_b: PackedEntriesBuilder, from: number, to: number) => chunks.push([from, to]),
    });
    expect(chunks).toEqual([
      [0, SINK_CHUNK_ENTRIES],
      [SINK_CHUNK_ENTRIES, SINK_CHUNK_ENTRIES * 2],
      [SINK_CHUNK_ENTRIES * 2, many.length],
    ]);
    expect(s.decoded).toBe(true);
    expect(s.packed).toBe(packed);
    expect(packed.entries()).toEqual(decodeSnapshotMessage(buf)!.snapshot.packed.entries());
  });

  it('entries the fast decoder leaves go to the fallback; the sink has seen only those before', () => {
    const odd = [...many];
    odd[SINK_CHUNK_ENTRIES + 5] = { ...plain, mac: '02:bb:00:00:00:01', tsi: 'tæp' };
    const buf = encode({ snapshot: { revision: 2, entries: odd } });
    const ref = parseNvaMessage(deserializeNvaMessage(buf));
    expect(ref.ok).toBe(true);
    let seen = 0;
    const packed = take(buf).decodeEntries({ decoded: (_b, _from, to) => (seen = to) });
    expect(seen).toBe(SINK_CHUNK_ENTRIES);
    expect(packed.entries()).toEqual(
      packSnapshot((ref as { value: { snapshot: SnapshotMsg } }).value.snapshot).packed.entries(),
    );
  });

  it('a snapshot the schema refuses throws SnapshotRefused (with its reason) where it is taken', () => {
    const bad = [...many];
    bad[10] = { ...plain, mac: '02:aa:00:00:00:zz' };
    const s = take(encode({ snapshot: { revision: 3, entries: bad } }));
    expect(() => s.packed).toThrow(SnapshotRefused);
    expect(() => s.packed).toThrow(/snapshot refused: .*mac/i);
    expect(s.decoded).toBe(false);
  });

  it('a snapshot whose small parts are refused is left to the fallback at once', () => {
    const buf = encode({ snapshot: { revision: 1, vnis: [0] } });
    expect((deserialize(buf) as { snapshot: unknown }).snapshot).not.toBeInstanceOf(
      DeferredSnapshot,
    );
  });
});
