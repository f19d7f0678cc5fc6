import { describe, expect, it } from 'vitest';
import { parseNvaMessage, parseNveMessage } from '../../../src/protocol/schema.ts';

const hello = { nveId: 'nve-1', underlayAddr: '10.0.0.1', vnis: [100], lastRevision: 0 };
const reg = {
  requestId: 1,
  vni: 100,
  mac: '02:00:00:00:00:01',
  ips: ['10.1.0.1', 'fd00::1'],
  seq: 0,
};

describe('parseNveMessage', () => {
  const cases: { name: string; raw: unknown; ok: boolean; reason?: RegExp }[] = [
    { name: 'hello', raw: { msg: 'hello', hello }, ok: true },
    { name: 'register', raw: { register: reg }, ok: true },
    {
      name: 'VNI 0 (proto3 "missing")',
      raw: { register: { ...reg, vni: 0 } },
      ok: false,
      reason: /vni/,
    },
    {
      name: 'VNI above 24 bits',
      raw: { register: { ...reg, vni: 1 << 24 } },
      ok: false,
      reason: /vni/,
    },
    {
      name: 'bad MAC',
      raw: { register: { ...reg, mac: '02:00:00:00:00' } },
      ok: false,
      reason: /MAC/,
    },
    {
      name: 'bad IP',
      raw: { register: { ...reg, ips: ['10.1.0.300'] } },
      ok: false,
      reason: /ips\.0/,
    },
    {
      name: 'too many IPs',
      raw: { register: { ...reg, ips: Array(17).fill('10.0.0.1') } },
      ok: false,
    },
    {
      name: 'NVE id with spaces',
      raw: { hello: { ...hello, nveId: 'a b' } },
      ok: false,
      reason: /nveId/,
    },
    {
      name: 'unknown kind',
      raw: { register: { ...reg, kind: 'ANNOUNCEMENT_KIND_PIGEON' } },
      ok: false,
      reason: /kind/,
    },
    { name: 'empty message', raw: {}, ok: false },
    { name: 'not an object', raw: 'hello', ok: false },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = parseNveMessage(c.raw);
      expect(r.ok).toBe(c.ok);
      if (!r.ok && c.reason) expect(r.reason).toMatch(c.reason);
    });
  }

  it('normalises MAC case and maps proto enum names to short names', () => {
    const r = parseNveMessage({
      register: { ...reg, mac: '02:AA:00:00:00:01', kind: 'ANNOUNCEMENT_KIND_GARP' },
    });
    expect(r).toEqual({
      ok: true,
      value: { register: { ...reg, mac: '02:aa:00:00:00:01', tsi: '', kind: 'garp' } },
    });
  });
});

describe('parseNvaMessage', () => {
  const entry = {
    vni: 100,
    mac: '02:00:00:00:00:01',
    ips: [{ ip: '10.1.0.1', seq: 2 }],
    nveId: 'nve-1',
    nveAddr: '10.0.0.1',
    seq: 3,
    state: 'ENTRY_STATE_DUPLICATE',
    changedAtMs: 5,
    tsi: 'tap0',
  };
  it('accepts a change and decodes entry states', () => {
    const r = parseNvaMessage({
      msg: 'change',
      change: {
        revision: 9,
        vni: 100,
        upserts: [entry],
        deletes: [],
        membersUpserted: [],
        membersRemoved: [],
      },
    });
    expect(r.ok && 'change' in r.value && r.value.change.upserts[0]?.state).toBe('duplicate');
  });
  it('refuses an entry with an unspecified state', () => {
    const r = parseNvaMessage({
      snapshot: { revision: 1, vnis: [100], entries: [{ ...entry, state: 0 }], members: [] },
    });
    expect(r.ok).toBe(false);
  });
});
