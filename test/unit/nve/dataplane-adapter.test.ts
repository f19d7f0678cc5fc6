import { describe, expect, it } from 'vitest';
import { memoryTables as dataplaneTwins } from '../../../src/dataplane/tables.ts';
import {
  agentTablesOver,
  fdbFromDataplane,
  fdbToDataplane,
  MOVED_GRACE_MS,
  type Clocks,
} from '../../../src/nve/dataplane-adapter.ts';
import { NveState } from '../../../src/nve/nve-state.ts';
import { Reconciler } from '../../../src/nve/reconciler.ts';
import type { FdbEntry } from '../../../src/nve/tables.ts';
import { NVE1, NVE2, NVE3, dirEntry } from './fake-nva.ts';

const clocks: Clocks = { wallMs: () => 1_700_000_000_000, monoNs: () => 5_000_000_000n };

describe('FDB entry translation', () => {
  it.each<[string, FdbEntry, ReturnType<typeof fdbToDataplane>]>([
    ['local', { kind: 'local', ifindex: 7 }, { kind: 'local', ifindex: 7 }],
    ['remote', { kind: 'remote', vtep: '192.0.2.2' }, { kind: 'remote', nve: '192.0.2.2' }],
    ['remote v6', { kind: 'remote', vtep: '2001:db8::2' }, { kind: 'remote', nve: '2001:db8::2' }],
    [
      'moved: kernel deadline = hold deadline + grace, on the monotonic clock',
      { kind: 'moved', vtep: '192.0.2.3', untilMs: 1_700_000_030_000 },
      {
        kind: 'moved',
        nve: '192.0.2.3',
        untilNs: 5_000_000_000n + BigInt((30_000 + MOVED_GRACE_MS) * 1e6),
      },
    ],
    [
      'dual: local TSI and the new NVE',
      { kind: 'dual', ifindex: 7, vtep: '192.0.2.3' },
      { kind: 'dual', ifindex: 7, nve: '192.0.2.3' },
    ],
    [
      'the IPv4 for RARP answers rides along',
      { kind: 'remote', vtep: '192.0.2.2', rarp: '10.0.0.2' },
      { kind: 'remote', nve: '192.0.2.2', rarpIp4: '10.0.0.2' },
    ],
  ])('%s', (_n, agent, dp) => {
    expect(fdbToDataplane(agent, clocks)).toEqual(dp);
    expect(fdbFromDataplane(dp, clocks)).toEqual(agent);
  });
});

describe('the reconciler over the dataplane tables (codec-encoded twins)', () => {
  it('installs, re-reads and resyncs without rewriting anything', () => {
    const dp = dataplaneTwins();
    const tables = agentTablesOver(dp, clocks);
    const state = new NveState(NVE1.id, NVE1.addr);
    const rec = new Reconciler(tables, state);
    state.loadSnapshot(
      1,
      [],
      [
        dirEntry('52:54:00:00:00:02', NVE2, { ips: ['10.0.0.2', 'fd00::2'] }),
        dirEntry('52:54:00:00:00:03', NVE3, { ips: ['10.0.0.3'] }),
      ],
      [
        { vni: 100, nveId: NVE2.id, nveAddr: NVE2.addr },
        { vni: 100, nveId: NVE3.id, nveAddr: NVE3.addr },
      ],
    );
    state.setTsi(100, 9, true);
    state.setMoved(
      { vni: 100, mac: '52:54:00:00:00:09' },
      { vtep: NVE3.addr, toNve: NVE3.id, untilMs: clocks.wallMs() + 30_000 },
    );
    rec.apply();
    expect(dp.fdb.get({ vni: 100, mac: '52:54:00:00:00:02' })).toEqual({
      kind: 'remote',
      nve: NVE2.addr,
      rarpIp4: '10.0.0.2',
    });
    expect(dp.fdb.get({ vni: 100, mac: '52:54:00:00:00:09' })?.kind).toBe('moved');
    expect(dp.neigh.get({ vni: 100, ip: 'fd00::2' })).toBe('52:54:00:00:00:02');
    expect(dp.fdb.get({ vni: 100, mac: '52:54:00:00:00:03' })?.rarpIp4).toBe('10.0.0.3');
    expect(dp.flood.get(100)).toEqual({ local: [9], remote: [NVE2.addr, NVE3.addr] });
    expect(dp.peers.get({ vni: 100, nve: NVE3.addr })).toBe(true);
    // A new agent over the same maps: the resync finds everything equal.
    const rec2 = new Reconciler(agentTablesOver(dp, clocks), state);
    const r = rec2.resync();
    for (const c of [r.fdb, r.neigh, r.flood, r.peers]) expect(c.set + c.deleted).toBe(0);
    expect(r.fdb.unchanged).toBe(3);
  });
});
