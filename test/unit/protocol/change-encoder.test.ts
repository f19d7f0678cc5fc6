// The hand-written Change encoder must give bytes that proto-loader (and the NVE's hand-written
// decoder) read as exactly the message proto-loader's own serializer would have sent.
import { describe, expect, it } from 'vitest';
import {
  encodeChangeMessage,
  encodeEntry,
  type EntryOut,
} from '../../../src/protocol/change-encoder.ts';
import { decodeChangeMessage } from '../../../src/protocol/change-decoder.ts';
import { deserializeNvaMessage, sampleEntry, serializeNvaMessage } from './stream-wire.ts';

const serialize = serializeNvaMessage;
const deserialize = deserializeNvaMessage;

const entry: EntryOut = { ...sampleEntry, anchors: [] };

interface ChangeCase {
  revision: number;
  vni: number;
  upserts: EntryOut[];
  deletes: { vni: number; mac: string }[];
  membersUpserted: { vni: number; nveId: string; nveAddr: string }[];
  membersRemoved: string[];
}

const none = { upserts: [], deletes: [], membersUpserted: [], membersRemoved: [] };

const cases: [string, ChangeCase][] = [
  [
    'a full change',
    {
      revision: 123_456,
      vni: 100,
      upserts: [entry, { ...entry, mac: '02:aa:00:00:00:02', ips: [], tsi: '' }],
      deletes: [{ vni: 100, mac: '02:aa:00:00:00:03' }],
      membersUpserted: [{ vni: 100, nveId: 'nve-2', nveAddr: 'fd00::2' }],
      membersRemoved: ['nve-3', ''],
    },
  ],
  ['an empty change (resume marker)', { revision: 9, vni: 1, ...none }],
  ['all defaults', { revision: 0, vni: 0, ...none }],
  [
    'an entry of defaults only',
    {
      revision: 1,
      vni: 2,
      ...none,
      upserts: [
        {
          vni: 0,
          mac: '',
          ips: [{ ip: '', seq: 0 }],
          nveId: '',
          nveAddr: '',
          seq: 0,
          state: 'ENTRY_STATE_UNSPECIFIED',
          changedAtMs: 0,
          tsi: '',
          anchors: [],
        },
      ],
    },
  ],
  [
    'the largest numbers (2^53 - 1 revisions and times, 24-bit VNIs)',
    {
      revision: Number.MAX_SAFE_INTEGER,
      vni: 0xffffff,
      ...none,
      upserts: [{ ...entry, seq: Number.MAX_SAFE_INTEGER, changedAtMs: Number.MAX_SAFE_INTEGER }],
    },
  ],
  [
    'anchors (a VM that changed subnet, issue 6)',
    {
      revision: 7,
      vni: 100,
      ...none,
      upserts: [
        {
          ...entry,
          anchors: [
            { ip: '10.1.0.5', fromVni: 200, nveId: 'nve-7', nveAddr: '192.0.2.7', sinceMs: 17e11 },
            { ip: 'fd01::5', fromVni: 0, nveId: '', nveAddr: 'fd00::7', sinceMs: 0 },
          ],
        },
      ],
    },
  ],
  [
    'non-ASCII text (a TSI name)',
    { revision: 3, vni: 5, ...none, upserts: [{ ...entry, tsi: 'tap-é€' }] },
  ],
];

describe('change encoder', () => {
  for (const [name, c] of cases) {
    it(`reads back as proto-loader's own encoding: ${name}`, () => {
      const bytes = encodeChangeMessage({ ...c, upserts: c.upserts.map(encodeEntry) });
      const reference = deserialize(serialize({ change: c }));
      expect(deserialize(bytes)).toEqual(reference);
      // The NVE's fast path reads it too, unless it hands non-ASCII text to proto-loader.
      const fast = decodeChangeMessage(bytes);
      if (fast !== null) expect(fast).toEqual(reference);
      else expect(name).toMatch(/non-ASCII/);
    });
  }

  it('leaves defaults out (canonical proto3): an empty change is its two numbers', () => {
    expect(encodeChangeMessage({ revision: 9, vni: 1, ...none })).toEqual(
      Buffer.from([0x12, 4, 0x08, 9, 0x10, 1]),
    );
  });

  it('refuses what the wire cannot carry', () => {
    expect(() => encodeEntry({ ...entry, state: 'ENTRY_STATE_GONE' })).toThrow(/EntryState/);
    expect(() => encodeEntry({ ...entry, seq: -1 })).toThrow(/uint64/);
    expect(() => encodeEntry({ ...entry, changedAtMs: 2 ** 60 })).toThrow(/uint64/);
    expect(() => encodeChangeMessage({ revision: 1.5, vni: 1, ...none })).toThrow(/uint64/);
  });
});
