import { describe, expect, it } from 'vitest';
import type { Entry } from '../../../src/nva/model.ts';
import type { Change } from '../../../src/nva/store.ts';
import { coalesce, ENCODED, encodeRun, entryToWire, runsByVni } from '../../../src/nva/wire.ts';
import { loadServices } from '../../../src/protocol/proto.ts';
import { parseNvaMessage } from '../../../src/protocol/schema.ts';

const e = (mac: string, over: Partial<Entry> = {}): Entry => ({
  vni: 100,
  mac,
  ips: [{ ip: '10.0.0.1', seq: 1 }],
  nveId: 'a',
  nveAddr: '192.0.2.1',
  seq: 1,
  state: 'active',
  changedAt: 5.5,
  history: [],
  ...over,
});
const ch = (revision: number, vni: number, over: Partial<Change> = {}): Change => ({
  revision,
  vni,
  at: 0,
  upserts: [],
  ...over,
});

describe('wire', () => {
  it('coalesces a run: last state per MAC wins, withdrawn become deletes, members merge', () => {
    const msg = coalesce([
      ch(1, 100, { upserts: [e('m1'), e('m2')] }),
      ch(2, 100, {
        upserts: [e('m1', { nveId: 'b', seq: 2 })],
        members: [{ vni: 100, nveId: 'x', nveAddr: '192.0.2.9' }],
      }),
      ch(4, 100, { upserts: [e('m2', { state: 'withdrawn' })], membersRemoved: ['x'] }),
    ]);
    expect(msg).toMatchObject({
      revision: 4,
      vni: 100,
      deletes: [{ vni: 100, mac: 'm2' }],
      membersUpserted: [],
      membersRemoved: ['x'],
    });
    expect(msg?.upserts.map((u) => [u.mac, u.nveId, u.seq])).toEqual([['m1', 'b', 2]]);
  });

  it('splits changes into runs of one VNI, keeping revision order', () => {
    const runs = runsByVni([ch(1, 100), ch(2, 100), ch(3, 200), ch(4, 100)]);
    expect(runs.map((r) => r.map((c) => c.revision))).toEqual([[1, 2], [3], [4]]);
    expect(coalesce([])).toBeNull();
  });

  it('what the NVA sends passes the NVE-side validation', () => {
    const change = coalesce([
      ch(3, 100, { upserts: [e('02:00:00:00:00:01', { state: 'duplicate', tsi: 'tap0' })] }),
    ]);
    const r = parseNvaMessage({ change });
    expect(r.ok).toBe(true);
    expect(entryToWire(e('x')).changedAtMs).toBe(5);
  });

  it('an encoded run reads back as the coalesced message', () => {
    const stream = loadServices().Nva.service.Stream!;
    const shared = e('m1', { nveId: 'b', seq: 2, tsi: 'tap0' });
    const run = [
      ch(1, 100, { upserts: [e('m1'), e('m2')] }),
      ch(2, 100, { upserts: [shared], members: [{ vni: 100, nveId: 'x', nveAddr: 'fd00::9' }] }),
      ch(4, 100, { upserts: [e('m2', { state: 'withdrawn' })], membersRemoved: ['y'] }),
    ];
    const msg = encodeRun(run)!;
    expect(msg.change).toEqual({ revision: 4, vni: 100, upserts: 1 });
    expect(stream.responseDeserialize(msg[ENCODED])).toEqual(
      stream.responseDeserialize(stream.responseSerialize({ change: coalesce(run) })),
    );
    // Another NVE's run with the same entry (its bytes, encoded once, are reused).
    const other = encodeRun([ch(2, 100, { upserts: [shared] })])!;
    expect(stream.responseDeserialize(other[ENCODED])).toMatchObject({
      change: { revision: 2, upserts: [{ mac: 'm1', nveId: 'b', tsi: 'tap0' }] },
    });
    expect(encodeRun([])).toBeNull();
  });
});
