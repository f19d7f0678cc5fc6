// The hand-written Change decoder must give exactly what proto-loader's deserializer gives, and
// hand back (null) whatever it does not handle, so the fallback decides.
import { describe, expect, it } from 'vitest';
import { decodeChangeMessage } from '../../../src/protocol/change-decoder.ts';
import { deserializeNvaMessage, sampleEntry, serializeNvaMessage } from './stream-wire.ts';

const encode = serializeNvaMessage;
const reference = deserializeNvaMessage;

const entry = sampleEntry;
const full = {
  revision: 123_456,
  vni: 100,
  upserts: [entry, { ...entry, mac: '02:aa:00:00:00:02', ips: [], tsi: '' }],
  deletes: [{ vni: 100, mac: '02:aa:00:00:00:03' }],
  membersUpserted: [{ vni: 100, nveId: 'nve-2', nveAddr: 'fd00::2' }],
  membersRemoved: ['nve-3', 'nve-4'],
};

const decoded: [string, object][] = [
  ['full change', { change: full }],
  ['empty change (resume marker)', { change: { revision: 9, vni: 1 } }],
  ['all defaults', { change: {} }],
  ['entry with defaults only', { change: { revision: 1, vni: 2, upserts: [{}] } }],
  ['largest safe revision', { change: { revision: Number.MAX_SAFE_INTEGER, vni: 0xffffff } }],
  ['largest VNI field', { change: { vni: 0xffffffff } }],
  [
    'entry with anchors (a VM that changed subnet, issue 6)',
    {
      change: {
        upserts: [
          {
            ...entry,
            anchors: [
              {
                ip: '10.1.0.5',
                fromVni: 200,
                nveId: 'nve-7',
                nveAddr: '192.0.2.7',
                sinceMs: 17e11,
              },
              { ip: 'fd01::5', fromVni: 200, nveId: 'nve-7', nveAddr: 'fd00::7', sinceMs: 0 },
            ],
          },
          { ...entry, anchors: [{}] },
        ],
      },
    },
  ],
  [
    'every entry state',
    {
      change: { upserts: [0, 1, 2, 3, 4].map((n) => ({ ...entry, state: n })) },
    },
  ],
];
const fallback: [string, object][] = [
  ['snapshot', { snapshot: { revision: 1, vnis: [1], entries: [entry], members: [] } }],
  ['accepted', { accepted: { requestId: 1, revision: 2, seq: 3, outcome: 'new' } }],
  ['move hint', { moveHint: { vni: 1, mac: entry.mac, fromNve: 'a', toNve: 'b' } }],
  ['non-ASCII tsi', { change: { upserts: [{ ...entry, tsi: 'tæp' }] } }],
  ['unknown entry state', { change: { upserts: [{ ...entry, state: 9 }] } }],
];

describe('Change decoder agrees with proto-loader', () => {
  for (const [name, msg] of decoded) {
    it(`decodes: ${name}`, () => {
      const buf = encode(msg);
      const fast = decodeChangeMessage(buf);
      expect(fast).not.toBeNull();
      expect(fast).toStrictEqual(reference(buf));
    });
  }
  for (const [name, msg] of fallback) {
    it(`hands back: ${name}`, () => {
      expect(decodeChangeMessage(encode(msg))).toBeNull();
    });
  }
  it('hands back truncated bytes, unknown top-level fields and an empty buffer', () => {
    const buf = encode({ change: full });
    for (const cut of [1, 2, 10, buf.length - 1]) {
      expect(decodeChangeMessage(buf.subarray(0, cut))).toBeNull();
    }
    expect(decodeChangeMessage(Buffer.concat([buf, Buffer.from([0x08, 0x01])]))).toBeNull();
    expect(decodeChangeMessage(Buffer.alloc(0))).toBeNull();
  });
  it('skips unknown fields inside a Change as protobufjs does', () => {
    const buf = encode({ change: { revision: 5, vni: 7 } });
    // Append field 15 (varint) inside the Change: grow its length prefix by 2.
    const inner = Buffer.concat([buf.subarray(2), Buffer.from([0x78, 0x2a])]);
    const patched = Buffer.concat([Buffer.from([0x12, inner.length]), inner]);
    expect(decodeChangeMessage(patched)).toStrictEqual(reference(patched));
  });
  it('hands back a sub-message whose field runs past its own end (entries are read in place)', () => {
    // IpBinding{ip: "10.0.0.1"} declared 5 bytes long inside an Entry that has the bytes.
    const ip = Buffer.from([0x0a, 0x08, ...Buffer.from('10.0.0.1')]);
    const entry = Buffer.concat([Buffer.from([0x1a, 5]), ip]);
    const change = Buffer.concat([Buffer.from([0x1a, entry.length]), entry]);
    const msg = Buffer.concat([Buffer.from([0x12, change.length]), change]);
    expect(decodeChangeMessage(msg)).toBeNull();
    // The same bytes with the right length decode as proto-loader does.
    const good = Buffer.from(msg);
    good[good.indexOf(0x1a, 2 + 1) + 1] = ip.length;
    expect(decodeChangeMessage(good)).toStrictEqual(reference(good));
  });
});
