// The fast checks must accept exactly what zod accepts (or less: zod then decides) and return
// the same values; a case zod refuses must never pass the fast path.
import { describe, expect, it } from 'vitest';
import {
  fastAck,
  fastChange,
  fastEntry,
  fastRegister,
  fastSnapshot,
} from '../../../src/protocol/fast-check.ts';
import { ack, change, entry, register, snapshot } from '../../../src/protocol/schema.ts';

const good = {
  vni: 100,
  mac: '02:AA:00:00:00:01',
  ips: [
    { ip: '10.0.0.1', seq: 1 },
    { ip: 'fd00::1', seq: 2 },
  ],
  nveId: 'nve-1.a_b',
  nveAddr: '192.0.2.1',
  seq: 3,
  state: 'ENTRY_STATE_ACTIVE',
  changedAtMs: 1_700_000_000_000,
  tsi: 'tap0',
};

const variants: [string, object][] = [
  ['valid', {}],
  ['no tsi', { tsi: undefined }],
  ['state by number', { state: 3 }],
  ['state short name', { state: 'moving' }],
  ['state 0', { state: 0 }],
  ['state unknown', { state: 'ENTRY_STATE_PIGEON' }],
  ['VNI 0', { vni: 0 }],
  ['VNI too big', { vni: 1 << 24 }],
  ['VNI fraction', { vni: 1.5 }],
  ['bad MAC', { mac: '02:00:00:00:00' }],
  ['MAC too long', { mac: '02:00:00:00:00:01:02' }],
  ['bad IP', { ips: [{ ip: '10.0.0.256', seq: 1 }] }],
  ['IPv6 not in canonical text', { ips: [{ ip: 'FD00:0::1', seq: 1 }] }],
  ['underlay IPv6 not in canonical text', { nveAddr: 'FD00:0:0::9' }],
  ['IP seq negative', { ips: [{ ip: '10.0.0.1', seq: -1 }] }],
  ['17 IPs', { ips: Array.from({ length: 17 }, (_, i) => ({ ip: `10.0.0.${i}`, seq: 1 })) }],
  ['bad underlay', { nveAddr: 'nve.example' }],
  ['empty NVE id', { nveId: '' }],
  ['NVE id with space', { nveId: 'a b' }],
  ['NVE id 65 chars', { nveId: 'a'.repeat(65) }],
  ['seq string', { seq: '3' }],
  ['changedAt negative', { changedAtMs: -1 }],
  ['tsi too long', { tsi: 'x'.repeat(16) }],
  ['tsi null', { tsi: null }],
  ['ips not array', { ips: {} }],
];

describe('fast checks agree with zod', () => {
  for (const [name, over] of variants) {
    it(`entry: ${name}`, () => {
      const raw = { ...good, ...over };
      const z = entry.safeParse(raw);
      const f = fastEntry(raw);
      if (f !== null) expect(z).toMatchObject({ success: true, data: f });
      if (!z.success) expect(f).toBeNull();
      if (name === 'valid') expect(f).not.toBeNull(); // the fast path must actually be taken
    });
  }

  const lists: [string, object][] = [
    ['valid', {}],
    ['bad delete', { deletes: [{ vni: 100, mac: 'x' }] }],
    ['bad member', { membersUpserted: [{ vni: 100, nveId: 'n', nveAddr: 'nope' }] }],
    ['bad removed id', { membersRemoved: ['a b'] }],
    ['bad revision', { revision: -1 }],
    ['upserts missing', { upserts: undefined }],
  ];
  for (const [name, over] of lists) {
    it(`change: ${name}`, () => {
      const raw = {
        revision: 7,
        vni: 100,
        upserts: [good],
        deletes: [{ vni: 100, mac: '02:00:00:00:00:02' }],
        membersUpserted: [{ vni: 100, nveId: 'n', nveAddr: '192.0.2.9' }],
        membersRemoved: ['m'],
        ...over,
      };
      const z = change.safeParse(raw);
      const f = fastChange(raw);
      if (f !== null) expect(z).toMatchObject({ success: true, data: f });
      if (!z.success) expect(f).toBeNull();
      if (name === 'valid') expect(f).not.toBeNull();
    });
  }

  it('snapshot', () => {
    const raw = {
      revision: 9,
      vnis: [100],
      entries: [good],
      members: [{ vni: 100, nveId: 'n', nveAddr: 'fd00::9' }],
    };
    expect(snapshot.safeParse(raw)).toMatchObject({ success: true, data: fastSnapshot(raw) });
    expect(fastSnapshot({ ...raw, vnis: [0] })).toBeNull();
  });

  // Snapshots carry the L3 overlay of the NVE's VRFs (issue 6): routed VNs and L3 VNIs.
  const goodRoutedVn = {
    vni: 100,
    vrf: 1,
    l3: false,
    gatewayMac: '02:00:5E:00:01:01',
    gatewayIp4: '10.1.0.1/24',
    gatewayIp6: 'FD01:0::1/64',
    unreachable: false,
  };
  const routedVns: [string, Record<string, unknown>][] = [
    ['valid', {}],
    ['L3 VNI (no gateway addresses)', { l3: true, gatewayIp4: '', gatewayIp6: '' }],
    ['VRF 0', { vrf: 0 }],
    ['VRF 2^32', { vrf: 2 ** 32 }],
    ['VRF 2^32 - 1', { vrf: 2 ** 32 - 1 }],
    ['gateway without length', { gatewayIp4: '10.1.0.1' }],
    ['gateway /33', { gatewayIp4: '10.1.0.1/33' }],
    ['gateway /129', { gatewayIp6: 'fd01::1/129' }],
    ['gateway length with sign', { gatewayIp4: '10.1.0.1/+4' }],
    ['gateway not an IP', { gatewayIp4: 'gw/24' }],
    ['gateway MAC bad', { gatewayMac: '02:00' }],
    ['l3 not boolean', { l3: 'yes' }],
    ['unreachable missing', { unreachable: undefined }],
    ['VNI 0', { vni: 0 }],
    [
      'static routes',
      {
        l3: true,
        routes: [
          { prefix: '0.0.0.0/0', via: '10.1.0.5' },
          { prefix: 'FD50:0::/48', via: 'FD01::5' },
        ],
      },
    ],
    ['static route without length', { routes: [{ prefix: '10.9.0.0', via: '10.1.0.5' }] }],
    ['static route empty prefix', { routes: [{ prefix: '', via: '10.1.0.5' }] }],
    ['static route bad via', { routes: [{ prefix: '10.9.0.0/16', via: 'router' }] }],
    ['static routes not an array', { routes: {} }],
  ];
  for (const [name, over] of routedVns) {
    it(`snapshot with routed VN: ${name}`, () => {
      const raw = {
        revision: 9,
        vnis: [100],
        entries: [good],
        members: [],
        routedVns: [{ ...goodRoutedVn, ...over }],
      };
      const z = snapshot.safeParse(raw);
      const f = fastSnapshot(raw);
      if (f !== null) expect(z).toMatchObject({ success: true, data: f });
      if (!z.success) expect(f).toBeNull();
      if (['valid', 'VRF 2^32 - 1', 'static routes'].includes(name) || name.startsWith('L3'))
        expect(f).not.toBeNull();
    });
  }

  it('snapshot: gateway addresses in canonical text, routedVns defaults to []', () => {
    const raw = { revision: 9, vnis: [100], entries: [], members: [] };
    expect(fastSnapshot(raw)?.routedVns).toEqual([]);
    expect(snapshot.parse(raw).routedVns).toEqual([]);
    const f = fastSnapshot({ ...raw, routedVns: [goodRoutedVn] });
    expect(f?.routedVns[0]).toMatchObject({
      gatewayMac: '02:00:5e:00:01:01',
      gatewayIp6: 'fd01::1/64',
    });
  });

  const acks: [string, Record<string, unknown>][] = [
    ['valid', {}],
    ['no digests', { digests: [] }],
    ['extra field dropped', { extra: 1 }],
    ['negative revision', { revision: -1 }],
    ['fractional revision', { revision: 1.5 }],
    ['string revision', { revision: '5' }],
    ['digests not an array', { digests: {} }],
    ['digest VNI 0', { digests: [{ vni: 0, digest: 'ab' }] }],
    ['digest too long', { digests: [{ vni: 100, digest: 'x'.repeat(129) }] }],
    ['digest not a string', { digests: [{ vni: 100, digest: 5 }] }],
    ['too many digests', { digests: Array.from({ length: 4097 }, () => ({ vni: 1, digest: '' })) }],
  ];
  for (const [name, over] of acks) {
    it(`ack: ${name}`, () => {
      const raw = { revision: 12, digests: [{ vni: 100, digest: 'abc' }], ...over };
      const z = ack.safeParse(raw);
      const f = fastAck(raw);
      if (f !== null) expect(z).toMatchObject({ success: true, data: f });
      if (f !== null) expect(Object.keys(f).sort()).toEqual(['digests', 'revision']);
      if (!z.success) expect(f).toBeNull();
      if (name === 'valid' || name === 'no digests' || name === 'extra field dropped')
        expect(f).not.toBeNull();
    });
  }

  const registers: [string, Record<string, unknown>][] = [
    ['valid', {}],
    ['no tsi, no kind', { tsi: undefined, kind: undefined }],
    ['no IPs', { ips: [] }],
    ['IPv6 not in canonical text', { ips: ['FD00:0::1'] }],
    ['MAC upper case', { mac: '02:AB:00:00:00:01' }],
    ['kind by number', { kind: 2 }],
    ['kind short name', { kind: 'garp' }],
    ['kind unknown', { kind: 'ANNOUNCEMENT_KIND_PIGEON' }],
    ['bad MAC', { mac: '02:00' }],
    ['bad IP', { ips: ['10.0.0.256'] }],
    ['IP not a string', { ips: [{ ip: '10.0.0.1' }] }],
    ['17 IPs', { ips: Array.from({ length: 17 }, (_, i) => `10.0.0.${i}`) }],
    ['VNI 0', { vni: 0 }],
    ['negative seq', { seq: -1 }],
    ['requestId fraction', { requestId: 0.5 }],
    ['tsi too long', { tsi: 'x'.repeat(16) }],
    ['tsi null', { tsi: null }],
  ];
  for (const [name, over] of registers) {
    it(`register: ${name}`, () => {
      const raw = {
        requestId: 4,
        vni: 100,
        mac: '02:aa:00:00:00:01',
        ips: ['10.0.0.1', 'fd00::1'],
        seq: 0,
        tsi: 'tap0',
        kind: 'ANNOUNCEMENT_KIND_RARP',
        ...over,
      };
      const z = register.safeParse(raw);
      const f = fastRegister(raw);
      if (f !== null) expect(z).toMatchObject({ success: true, data: f });
      if (f !== null)
        expect(z.success && Object.keys(z.data).sort()).toEqual(Object.keys(f).sort());
      if (!z.success) expect(f).toBeNull();
      if (['valid', 'no tsi, no kind', 'no IPs', 'IPv6 not in canonical text'].includes(name))
        expect(f).not.toBeNull();
    });
  }
});
