// The in-memory twins of the dataplane tables behave like the BPF maps they stand in for:
// keys compare by their encoded bytes, writes are batched, the config table has one entry.
import { describe, expect, it } from 'vitest';
import { memoryTables } from '../../../src/dataplane/tables.ts';
import type { MemoryTable } from '../../../src/dataplane/memory-table.ts';

describe('memoryTables', () => {
  it('keys compare as bytes: MAC case and IPv6 spelling do not make new entries', () => {
    const t = memoryTables();
    t.fdb.setMany([
      [
        { vni: 1, mac: '02:AA:00:00:00:01' },
        { kind: 'local', ifindex: 3 },
      ],
    ]);
    t.fdb.setMany([
      [
        { vni: 1, mac: '02:aa:00:00:00:01' },
        { kind: 'local', ifindex: 4 },
      ],
    ]);
    expect(t.fdb.size()).toBe(1);
    expect(t.fdb.get({ vni: 1, mac: '02:aa:00:00:00:01' })).toEqual({ kind: 'local', ifindex: 4 });
    t.neigh.setMany([[{ vni: 1, ip: '2001:db8:0::1' }, '02:00:00:00:00:01']]);
    expect(t.neigh.get({ vni: 1, ip: '2001:db8::1' })).toBe('02:00:00:00:00:01');
    expect(t.neigh.get({ vni: 2, ip: '2001:db8::1' })).toBeUndefined();
  });

  it('batches writes and deletes', () => {
    const t = memoryTables();
    const fdb = t.fdb as MemoryTable<unknown, unknown>;
    t.fdb.setMany(
      Array.from(
        { length: 100 },
        (_, i) =>
          [
            { vni: 7, mac: `02:00:00:00:00:${i.toString(16).padStart(2, '0')}` },
            { kind: 'remote', nve: '10.0.0.2' },
          ] as const,
      ),
    );
    t.fdb.deleteMany([
      { vni: 7, mac: '02:00:00:00:00:00' },
      { vni: 7, mac: '02:00:00:00:00:ff' },
    ]);
    expect(fdb.writeCalls).toBe(2);
    expect(t.fdb.size()).toBe(99);
  });

  it('config holds one entry', () => {
    const t = memoryTables();
    expect(t.config.get()).toBeUndefined();
    const cfg = {
      underlayIfindex: 2,
      udpPort: 4789,
      mtu: 1500,
      ttl: 64,
      localMac: '02:00:00:00:00:01',
      localIp4: '10.0.0.1',
      fib: false,
      floodTc: true,
      trace: false,
      eventRefillNs: 0n,
      eventBurst: 0,
      floodSecret: 1,
    };
    t.config.set(cfg);
    t.config.set({ ...cfg, mtu: 9000 });
    expect(t.config.get()?.mtu).toBe(9000);
  });
});
