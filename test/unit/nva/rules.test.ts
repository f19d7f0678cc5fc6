import { describe, expect, it } from 'vitest';
import type { Entry, MoveHint, Provision, VnConfig } from '../../../src/nva/model.ts';
import {
  DEFAULT_RULES,
  decideClearDuplicate,
  decideHint,
  decideRegistration,
  decideWithdraw,
  type Decision,
  type Registration,
  type RulesContext,
} from '../../../src/nva/rules.ts';

const VNI = 100;
const MAC = '02:00:00:00:00:01';
const T0 = 1_000_000;
const provisioned: VnConfig = { vni: VNI, routed: false, learning: 'provisioned' };
const open: VnConfig = { vni: VNI, routed: false, learning: 'open' };
const prov: Provision = { vni: VNI, mac: MAC, ips: ['10.1.0.1', 'fd00::1'] };

function reg(nve: 'a' | 'b' | 'c', over: Partial<Registration> = {}): Registration {
  const addr = { a: '192.0.2.1', b: '192.0.2.2', c: '192.0.2.10' }[nve];
  return { vni: VNI, mac: MAC, ips: ['10.1.0.1'], seq: 0, nveId: nve, nveAddr: addr, ...over };
}

function entry(over: Partial<Entry> = {}): Entry {
  return {
    vni: VNI,
    mac: MAC,
    ips: [{ ip: '10.1.0.1', seq: 1 }],
    nveId: 'a',
    nveAddr: '192.0.2.1',
    seq: 1,
    state: 'active',
    changedAt: T0 - 1000,
    history: [],
    ...over,
  };
}

function ctx(over: Partial<RulesContext> = {}): RulesContext {
  return {
    current: undefined,
    ipOwners: [],
    vn: provisioned,
    provision: prov,
    hint: undefined,
    isMember: true,
    ...over,
  };
}

function accepted(d: Decision): Extract<Decision, { verdict: 'accept' }> {
  if (d.verdict !== 'accept') throw new Error(`expected accept, got ${JSON.stringify(d)}`);
  return d;
}

describe('decideRegistration: admission', () => {
  const cases: {
    name: string;
    c: Partial<RulesContext>;
    r: Registration;
    code: string;
    reason: RegExp;
  }[] = [
    {
      name: 'unknown VNI',
      c: { vn: undefined },
      r: reg('a'),
      code: 'UNKNOWN_VNI',
      reason: /VNI 100 is not configured/,
    },
    {
      name: 'NVE not serving the VNI',
      c: { isMember: false },
      r: reg('a'),
      code: 'NOT_MEMBER',
      reason: /did not say/,
    },
    {
      name: 'unprovisioned MAC',
      c: { provision: undefined },
      r: reg('a'),
      code: 'NOT_PROVISIONED',
      reason: /not provisioned/,
    },
    {
      name: 'provisioned to another NVE',
      c: { provision: { ...prov, nveId: 'b' } },
      r: reg('a'),
      code: 'NOT_PROVISIONED',
      reason: /provisioned to NVE b/,
    },
    {
      name: 'IP not provisioned (GARP steal)',
      c: {},
      r: reg('a', { ips: ['10.1.0.99'] }),
      code: 'NOT_PROVISIONED',
      reason: /IP 10\.1\.0\.99/,
    },
  ];
  for (const t of cases) {
    it(`refuses: ${t.name}`, () => {
      const d = decideRegistration(ctx(t.c), t.r, T0);
      expect(d).toMatchObject({ verdict: 'reject', code: t.code });
      if (d.verdict === 'reject') expect(d.reason).toMatch(t.reason);
    });
  }

  it('open learning admits an unprovisioned MAC', () => {
    const d = accepted(
      decideRegistration(
        ctx({ vn: open, provision: undefined }),
        reg('a', { ips: ['10.9.9.9'] }),
        T0,
      ),
    );
    expect(d.outcome).toBe('new');
    expect(d.entry).toMatchObject({
      seq: 1,
      nveId: 'a',
      state: 'active',
      ips: [{ ip: '10.9.9.9', seq: 1 }],
    });
  });

  it('a MAC-only announcement gets the provisioned IPs', () => {
    const d = accepted(decideRegistration(ctx(), reg('a', { ips: [] }), T0));
    expect(d.entry.ips.map((b) => b.ip)).toEqual(['10.1.0.1', 'fd00::1']);
  });
});

describe('decideRegistration: sequence numbers', () => {
  const cases: {
    name: string;
    current: Partial<Entry>;
    r: Registration;
    verdict: 'accept' | 'reject';
    outcome?: string;
    code?: string;
    seq?: number;
    nve?: string;
  }[] = [
    {
      name: 'same NVE, same content: unchanged',
      current: {},
      r: reg('a'),
      verdict: 'accept',
      outcome: 'unchanged',
      seq: 1,
    },
    {
      name: 'same NVE, new IP: updated',
      current: {},
      r: reg('a', { ips: ['10.1.0.1', 'fd00::1'] }),
      verdict: 'accept',
      outcome: 'updated',
      seq: 1,
    },
    {
      name: 'same NVE, higher seq',
      current: {},
      r: reg('a', { seq: 4 }),
      verdict: 'accept',
      outcome: 'updated',
      seq: 4,
    },
    {
      name: 'same NVE, stale seq replay',
      current: { seq: 5 },
      r: reg('a', { seq: 3 }),
      verdict: 'reject',
      code: 'STALE_SEQ',
    },
    {
      name: 'move, NVA picks seq',
      current: { seq: 7 },
      r: reg('b'),
      verdict: 'accept',
      outcome: 'moved',
      seq: 8,
      nve: 'b',
    },
    {
      name: 'move, higher explicit seq',
      current: { seq: 7 },
      r: reg('b', { seq: 9 }),
      verdict: 'accept',
      outcome: 'moved',
      seq: 9,
      nve: 'b',
    },
    {
      name: 'move, lower seq (stale)',
      current: { seq: 7 },
      r: reg('b', { seq: 6 }),
      verdict: 'reject',
      code: 'STALE_SEQ',
    },
    // 192.0.2.2 vs 192.0.2.10: numeric order, not string order.
    {
      name: 'tie, higher address loses',
      current: { seq: 7, nveId: 'b', nveAddr: '192.0.2.2' },
      r: reg('c', { seq: 7 }),
      verdict: 'reject',
      code: 'SEQ_TIE_LOST',
    },
    {
      name: 'tie, lower address wins',
      current: { seq: 7, nveId: 'c', nveAddr: '192.0.2.10' },
      r: reg('b', { seq: 7 }),
      verdict: 'accept',
      outcome: 'moved',
      seq: 7,
      nve: 'b',
    },
    {
      name: 'withdrawn tombstone defeats a stale replay',
      current: { seq: 7, state: 'withdrawn' },
      r: reg('b', { seq: 5 }),
      verdict: 'reject',
      code: 'STALE_SEQ',
    },
    {
      name: 'withdrawn MAC comes back: seq continues',
      current: { seq: 7, state: 'withdrawn' },
      r: reg('a'),
      verdict: 'accept',
      outcome: 'new',
      seq: 8,
      nve: 'a',
    },
  ];
  for (const t of cases) {
    it(t.name, () => {
      const d = decideRegistration(ctx({ current: entry(t.current) }), t.r, T0);
      expect(d.verdict).toBe(t.verdict);
      if (d.verdict === 'reject') expect(d.code).toBe(t.code);
      if (d.verdict === 'accept') {
        expect(d.outcome).toBe(t.outcome);
        expect(d.entry.seq).toBe(t.seq);
        if (t.nve) expect(d.entry.nveId).toBe(t.nve);
        expect(d.upserts.length).toBe(t.outcome === 'unchanged' ? 0 : 1);
      }
    });
  }

  it('a move records history', () => {
    const d = accepted(decideRegistration(ctx({ current: entry() }), reg('b'), T0));
    expect(d.entry.history).toEqual([{ at: T0, fromNve: 'a', toNve: 'b', seq: 2, hinted: false }]);
  });
});

/** Bounce the MAC between a and b `moves` times, `stepMs` apart; returns the last decision. */
function bounce(
  moves: number,
  stepMs: number,
  opts: { hintEvery?: boolean; cfg?: typeof DEFAULT_RULES } = {},
) {
  let cur: Entry | undefined = entry();
  let last: Decision | undefined;
  for (let i = 0; i < moves; i++) {
    const to = cur.nveId === 'a' ? 'b' : 'a';
    const now = T0 + i * stepMs;
    const hint: MoveHint | undefined = opts.hintEvery
      ? { vni: VNI, mac: MAC, fromNve: cur.nveId, toNve: to, expiresAt: now + 1000 }
      : undefined;
    last = decideRegistration(ctx({ current: cur, hint }), reg(to), now, opts.cfg);
    if (last.verdict === 'reject') return { last, cur };
    cur = last.entry;
  }
  return { last: last as Decision, cur };
}

describe('decideRegistration: duplicate detection (fake clock)', () => {
  it('5 moves in 180 s are fine, the 6th freezes the MAC where it was', () => {
    const five = bounce(5, 10_000);
    expect(five.last).toMatchObject({ verdict: 'accept', outcome: 'moved' });
    const six = bounce(6, 10_000);
    expect(six.last.verdict).toBe('duplicate');
    if (six.last.verdict !== 'duplicate') return;
    expect(six.last.entry.state).toBe('duplicate');
    expect(six.last.entry.nveId).toBe(five.cur.nveId); // frozen at its last location
    expect(six.last.entry.duplicateSince).toBe(T0 + 5 * 10_000);
    expect(six.last.reason).toMatch(/moved more than 5 times in 180 s/);
  });

  it('the same moves spread over more than the window are fine', () => {
    expect(bounce(12, 40_000).last).toMatchObject({ verdict: 'accept', outcome: 'moved' });
  });

  it('moves announced by an orchestrator hint never count', () => {
    const r = bounce(12, 1_000, { hintEvery: true });
    expect(r.last).toMatchObject({ verdict: 'accept', outcome: 'moved' });
    expect(r.cur.history.every((m) => m.hinted)).toBe(true);
  });

  it('a frozen MAC refuses moves, still accepts refreshes from where it is', () => {
    const frozen = entry({ state: 'duplicate', duplicateSince: T0, nveId: 'a' });
    expect(decideRegistration(ctx({ current: frozen }), reg('b'), T0 + 1)).toMatchObject({
      verdict: 'reject',
      code: 'DUPLICATE',
    });
    const d = accepted(decideRegistration(ctx({ current: frozen }), reg('a', { seq: 3 }), T0 + 1));
    expect(d.entry.state).toBe('duplicate');
  });

  it('auto-recovery after dupRecoveryMs, as FRR does', () => {
    const cfg = { ...DEFAULT_RULES, dupRecoveryMs: 60_000 };
    const frozen = entry({ state: 'duplicate', duplicateSince: T0, history: [] });
    expect(decideRegistration(ctx({ current: frozen }), reg('b'), T0 + 59_999, cfg).verdict).toBe(
      'reject',
    );
    const d = accepted(decideRegistration(ctx({ current: frozen }), reg('b'), T0 + 60_000, cfg));
    expect(d.entry).toMatchObject({ state: 'active', nveId: 'b', duplicateClearedAt: T0 + 60_000 });
  });

  it('an operator clear resets the count', () => {
    const six = bounce(6, 1_000);
    if (six.last.verdict !== 'duplicate') throw new Error('expected a duplicate');
    const cleared = accepted(decideClearDuplicate(six.last.entry, T0 + 7_000));
    expect(cleared.entry.state).toBe('active');
    const next = decideRegistration(
      ctx({ current: cleared.entry }),
      reg(cleared.entry.nveId === 'a' ? 'b' : 'a'),
      T0 + 8_000,
    );
    expect(next).toMatchObject({ verdict: 'accept', outcome: 'moved' });
  });
});

describe('decideRegistration: per-IP sequence numbers and conflicts', () => {
  const other: Entry = entry({
    mac: '02:00:00:00:00:99',
    nveId: 'b',
    nveAddr: '192.0.2.2',
    ips: [{ ip: '10.1.0.1', seq: 4 }],
  });

  it('open VN: an IP claimed by two MACs is a conflict, flagged on both, first owner keeps it', () => {
    const d = accepted(
      decideRegistration(ctx({ vn: open, provision: undefined, ipOwners: [other] }), reg('a'), T0),
    );
    expect(d.conflicts).toEqual(['10.1.0.1']);
    expect(d.entry.ips).toEqual([]);
    expect(d.entry.conflictIps).toEqual(['10.1.0.1']);
    expect(d.upserts[1]).toMatchObject({
      mac: other.mac,
      conflictIps: ['10.1.0.1'],
      ips: other.ips,
    });
  });

  it('provisioned VN: the IP moves to the provisioned MAC with a higher IP seq (VM rebuilt)', () => {
    const d = accepted(decideRegistration(ctx({ ipOwners: [other] }), reg('a'), T0));
    expect(d.conflicts).toEqual([]);
    expect(d.entry.ips).toEqual([{ ip: '10.1.0.1', seq: 5 }]);
    expect(d.upserts[1]).toMatchObject({ mac: other.mac, ips: [] });
  });

  it('an IP keeps its seq while it stays with its MAC across a move', () => {
    const d = accepted(
      decideRegistration(
        ctx({ current: entry({ ips: [{ ip: '10.1.0.1', seq: 3 }] }) }),
        reg('b'),
        T0,
      ),
    );
    expect(d.entry.ips).toEqual([{ ip: '10.1.0.1', seq: 3 }]);
  });
});

describe('decideWithdraw / decideHint', () => {
  it('only the NVE holding the MAC may withdraw it; the tombstone keeps the seq', () => {
    expect(decideWithdraw(entry({ nveId: 'b' }), 'a', T0)).toMatchObject({
      verdict: 'reject',
      code: 'NOT_OWNER',
    });
    const d = accepted(decideWithdraw(entry({ seq: 6 }), 'a', T0));
    expect(d.entry).toMatchObject({ state: 'withdrawn', seq: 6, changedAt: T0 });
    expect(decideWithdraw(d.entry, 'a', T0)).toMatchObject({
      verdict: 'reject',
      code: 'UNKNOWN_MAC',
    });
  });

  it('a hint marks an active entry moving, and nothing else', () => {
    const hint: MoveHint = { vni: VNI, mac: MAC, fromNve: 'a', toNve: 'b', expiresAt: T0 + 1000 };
    expect(decideHint(entry(), hint, T0)).toMatchObject({ state: 'moving', nveId: 'a' });
    expect(decideHint(entry({ nveId: 'b' }), hint, T0)).toBeUndefined();
    expect(decideHint(undefined, hint, T0)).toBeUndefined();
  });
});
