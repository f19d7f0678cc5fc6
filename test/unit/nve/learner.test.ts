import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { LearnEvent, LearnOutcome } from '../../../src/nve/learner.ts';
import type { TsiConfig } from '../../../src/nve/config.ts';
import { agentTablesOver } from '../../../src/nve/dataplane-adapter.ts';
import { memoryTables, type AgentTables } from '../../../src/nve/tables.ts';
import { fakeDataplaneTables } from './fake-bpf-map.ts';
import { NVE1, NVE2, TSI_B, VM_B, dirEntry, makeLoop } from './fake-nva.ts';

const B = VM_B.mac;
const IF_B = 7;
const IF_OPEN = 9;
const OPEN: TsiConfig = { pattern: 'tap-o*', vni: 200, ips: [] };

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

async function setup<T extends AgentTables = ReturnType<typeof memoryTables>>(
  directory = [dirEntry(B, NVE2, { ips: [VM_B.ip], seq: 3 })],
  tables: T = memoryTables() as unknown as T,
) {
  const t = makeLoop(NVE1, tables);
  t.loop.tsiUp({ name: 'tap-b', ifindex: IF_B, config: TSI_B });
  t.loop.tsiUp({ name: 'tap-o1', ifindex: IF_OPEN, config: OPEN });
  t.loop.start();
  t.nva.connect();
  t.nva.snapshot(directory);
  await vi.advanceTimersByTimeAsync(0);
  return t;
}

describe('Learner', () => {
  // Events in, outcome and what gets registered out.
  it.each<{ name: string; ev: LearnEvent; outcome: LearnOutcome; registered?: object }>([
    {
      name: 'GARP of the provisioned VM: installed, registered with seq+1 (it was at NVE2)',
      ev: { kind: 'garp', ifindex: IF_B, vni: 100, mac: B, ip: VM_B.ip },
      outcome: 'installed',
      registered: { vni: 100, mac: B, ips: [VM_B.ip], seq: 4, tsi: 'tap-b', kind: 'garp' },
    },
    {
      name: 'RARP (no IP): the provisioned IPs go with it',
      ev: { kind: 'rarp', ifindex: IF_B, vni: 100, mac: B },
      outcome: 'installed',
      registered: { ips: [VM_B.ip], seq: 4, kind: 'rarp' },
    },
    {
      name: 'unsolicited NA counts as an announcement',
      ev: { kind: 'una', ifindex: IF_OPEN, vni: 200, mac: '52:54:00:00:02:01', ip: 'fd00::21' },
      outcome: 'installed',
      registered: { vni: 200, ips: ['fd00::21'], seq: 1, kind: 'garp' },
    },
    {
      name: 'new source MAC on an open TSI',
      ev: { kind: 'new_mac', ifindex: IF_OPEN, vni: 200, mac: '52:54:00:00:02:02' },
      outcome: 'installed',
      registered: { vni: 200, ips: [], seq: 1, kind: 'learned' },
    },
    {
      name: "a GARP for B's IP from an unprovisioned MAC changes nothing",
      ev: { kind: 'garp', ifindex: IF_B, vni: 100, mac: '52:54:00:66:66:66', ip: VM_B.ip },
      outcome: 'ignored_mac',
    },
    {
      name: 'an IP not provisioned on the TSI is ignored',
      ev: { kind: 'garp', ifindex: IF_B, vni: 100, mac: B, ip: '10.0.0.99' },
      outcome: 'ignored_ip',
    },
    {
      name: 'an unknown interface is ignored',
      ev: { kind: 'garp', ifindex: 99, vni: 100, mac: B, ip: VM_B.ip },
      outcome: 'ignored_unknown_tsi',
    },
    {
      name: "an event in another VNI than the TSI's is ignored",
      ev: { kind: 'garp', ifindex: IF_B, vni: 300, mac: B, ip: VM_B.ip },
      outcome: 'ignored_vni',
    },
  ])('$name', async ({ ev, outcome, registered }) => {
    const t = await setup();
    const before = [...t.tables.fdb.entries()];
    expect(t.loop.event(ev)).toBe(outcome);
    await vi.advanceTimersByTimeAsync(0);
    if (registered) {
      // the entry carries the first registered IPv4 for RARP answers
      const ip4 = (registered as { ips: string[] }).ips.find((ip) => !ip.includes(':'));
      expect(t.fdb(ev.mac, ev.vni)).toEqual({
        kind: 'local',
        ifindex: ev.ifindex,
        ...(ip4 === undefined ? {} : { rarp: ip4 }),
      });
      expect(t.nva.registrations).toHaveLength(1);
      expect(t.nva.registrations[0]).toMatchObject(registered);
    } else {
      expect([...t.tables.fdb.entries()]).toEqual(before);
      expect(t.nva.registrations).toEqual([]);
      expect(t.loop.learner.counts.get(outcome)).toBe(1);
    }
  });

  it('installs before the NVA answers', async () => {
    const t = await setup();
    let resolve!: (v: { ok: true; seq: number; revision: number; outcome: string }) => void;
    t.nva.register = (r) => {
      t.nva.registrations.push(r);
      return new Promise((res) => (resolve = res));
    };
    t.loop.event({ kind: 'garp', ifindex: IF_B, vni: 100, mac: B, ip: VM_B.ip });
    expect(t.fdb(B)).toEqual({ kind: 'local', ifindex: IF_B, rarp: VM_B.ip });
    resolve({ ok: true, seq: 4, revision: 9, outcome: 'moved' });
  });

  it('a refused registration (not provisioned) removes the local entry: the directory decides', async () => {
    const t = await setup();
    t.nva.answer = () => ({ ok: false, code: 'NOT_PROVISIONED', reason: 'not provisioned here' });
    t.loop.event({ kind: 'new_mac', ifindex: IF_OPEN, vni: 200, mac: '52:54:00:00:02:02' });
    expect(t.fdb('52:54:00:00:02:02', 200)).toMatchObject({ kind: 'local' });
    await vi.advanceTimersByTimeAsync(0);
    expect(t.fdb('52:54:00:00:02:02', 200)).toBeUndefined();
  });

  it('a registration refused as stale is retried with the number the directory now has', async () => {
    const t = await setup();
    let first = true;
    t.nva.answer = (r) => {
      if (first) {
        first = false;
        // Meanwhile the directory moved on: the change arrives before the retry.
        t.nva.change([dirEntry(B, NVE2, { ips: [VM_B.ip], seq: 8 })]);
        return { ok: false, code: 'STALE_SEQ', reason: 'stale' };
      }
      return { ok: true, seq: r.seq, revision: 1, outcome: 'moved' };
    };
    t.loop.state.locals.clear();
    t.loop.event({ kind: 'garp', ifindex: IF_B, vni: 100, mac: B, ip: VM_B.ip });
    await vi.advanceTimersByTimeAsync(100);
    expect(t.nva.registrations.map((r) => r.seq)).toEqual([4, 9]);
  });

  it('a VM seen again on its own TSI with a new IP (open TSI) re-registers with the same seq', async () => {
    const t = await setup([
      dirEntry('52:54:00:00:02:01', NVE1, { vni: 200, ips: ['10.2.0.1'], seq: 6 }),
    ]);
    // Re-adopted on its TSI and already registered here at seq 6.
    t.loop.event({
      kind: 'garp',
      ifindex: IF_OPEN,
      vni: 200,
      mac: '52:54:00:00:02:01',
      ip: '10.2.0.1',
    });
    expect(
      t.loop.event({
        kind: 'garp',
        ifindex: IF_OPEN,
        vni: 200,
        mac: '52:54:00:00:02:01',
        ip: '10.2.0.2',
      }),
    ).toBe('updated');
    await vi.advanceTimersByTimeAsync(0);
    expect(t.nva.registrations.at(-1)).toMatchObject({ ips: ['10.2.0.1', '10.2.0.2'], seq: 6 });
    expect(t.neigh('10.2.0.2', 200)).toBe('52:54:00:00:02:01');
  });
});

describe('an address claimed by a VM that is not provisioned for it', () => {
  it('is not believed before the NVA answers, and changes nothing once refused', async () => {
    const t = await setup([dirEntry(B, NVE2, { ips: [VM_B.ip], seq: 3 })]);
    let refuse!: () => void;
    t.nva.register = (r) => {
      t.nva.registrations.push(r);
      return new Promise((res) => {
        refuse = () => res({ ok: false, code: 'NOT_PROVISIONED', reason: 'not provisioned' });
      });
    };
    // A rogue VM on an open TSI announces B's IP with its own MAC.
    const rogue = '52:54:00:66:66:66';
    const b200 = dirEntry(B, NVE2, { ips: ['10.2.0.9'], seq: 3, vni: 200 });
    t.nva.change([b200], [], 200);
    expect(
      t.loop.event({ kind: 'garp', ifindex: IF_OPEN, vni: 200, mac: rogue, ip: '10.2.0.9' }),
    ).toBe('installed');
    // B keeps the IP while the NVA decides.
    expect(t.neigh('10.2.0.9', 200)).toBe(B);
    refuse();
    await vi.advanceTimersByTimeAsync(0);
    expect(t.fdb(rogue, 200)).toBeUndefined();
    expect(t.neigh('10.2.0.9', 200)).toBe(B);
  });
});

describe('an announcement XDP already installed as local (docs/dataplane.md)', () => {
  // XDP writes fdb itself for GARP / RARP / NA; the agent must end up with what it decides,
  // also when it ignores the announcement. Both table paths: objects, and bytes over BPF maps.
  const paths = [
    ['in-memory tables', () => memoryTables()],
    ['tables over BPF maps', () => agentTablesOver(fakeDataplaneTables().tables)],
  ] as const;
  const rogue = '52:54:00:66:66:66';

  it.each(paths)(
    '%s: ignored (MAC not on this TSI): the entry is removed again',
    async (_n, mk) => {
      const t = await setup(undefined, mk());
      t.tables.fdb.setMany([
        [
          { vni: 100, mac: rogue },
          { kind: 'local', ifindex: IF_B },
        ],
      ]);
      expect(t.loop.event({ kind: 'garp', ifindex: IF_B, vni: 100, mac: rogue, ip: VM_B.ip })).toBe(
        'ignored_mac',
      );
      expect(t.fdb(rogue)).toBeUndefined();
    },
  );

  it.each(paths)('%s: ignored (IP not provisioned): B points at NVE2 again', async (_n, mk) => {
    const t = await setup(undefined, mk());
    const before = t.fdb(B);
    expect(before).toEqual({ kind: 'remote', vtep: NVE2.addr, rarp: VM_B.ip });
    t.tables.fdb.setMany([
      [
        { vni: 100, mac: B },
        { kind: 'local', ifindex: IF_B },
      ],
    ]);
    expect(t.loop.event({ kind: 'garp', ifindex: IF_B, vni: 100, mac: B, ip: '10.0.0.99' })).toBe(
      'ignored_ip',
    );
    expect(t.fdb(B)).toEqual(before);
  });

  it.each(paths)('%s: accepted: local, and the agent agrees with the kernel', async (_n, mk) => {
    const t = await setup(undefined, mk());
    t.tables.fdb.setMany([
      [
        { vni: 100, mac: B },
        { kind: 'local', ifindex: IF_B },
      ],
    ]);
    expect(t.loop.event({ kind: 'garp', ifindex: IF_B, vni: 100, mac: B, ip: VM_B.ip })).toBe(
      'installed',
    );
    expect(t.fdb(B)).toEqual({ kind: 'local', ifindex: IF_B, rarp: VM_B.ip });
    await vi.advanceTimersByTimeAsync(0);
    // refused by the NVA later: the agent's removal reaches the kernel too
    expect(t.nva.registrations).toHaveLength(1);
  });
});
