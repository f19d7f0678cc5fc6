// The packed directory base: its (VNI, MAC) and (VNI, IPv4) indexes, duplicates and shared IPs,
// and the reuse of a previous base's indexes when a snapshot repeats the same entries.
import { describe, expect, it } from 'vitest';
import { packEntries } from '../../../src/protocol/packed-snapshot.ts';
import { DirectoryBase } from '../../../src/nve/directory-base.ts';
import type { DirEntry } from '../../../src/nve/nva-port.ts';

const ME = 'nve1';
const e = (
  mac: string,
  ips: string[],
  nveId = 'nve2',
  extra: Partial<DirEntry> = {},
): DirEntry => ({
  vni: 100,
  mac,
  ips: ips.map((ip) => ({ ip, seq: 1 })),
  nveId,
  nveAddr: nveId === ME ? '192.0.2.1' : '192.0.2.2',
  seq: 1,
  state: 'active',
  ...extra,
});

describe('DirectoryBase', () => {
  const entries = [
    e('02:00:00:00:00:01', ['10.0.0.1']),
    e('02:00:00:00:00:02', ['10.0.0.2', 'fd00::2']),
    e('02:00:00:00:00:03', ['10.0.0.2']), // shares 10.0.0.2 with :02
    e('02:00:00:00:00:04', ['10.0.0.4'], ME), // placed here: claims nothing
    e('02:00:00:00:00:05', ['10.0.0.5'], 'nve2', { state: 'withdrawn' }),
    e('02:00:00:00:00:01', ['10.0.0.9']), // the same MAC again: the later entry counts
  ];
  const b = new DirectoryBase(packEntries(entries), ME);

  it.each([
    ['100/02:00:00:00:00:01', 5],
    ['100/02:00:00:00:00:03', 2],
    ['100/02:00:00:00:00:06', -1],
    ['200/02:00:00:00:00:01', -1],
    ['not an id', -1],
  ])('finds %s at slot %i', (id, slot) => expect(b.findId(id)).toBe(slot));

  it('claims: live entries of other NVEs claim their IPs; a repeated MAC only once', () => {
    expect([...b.present]).toEqual([0, 1, 1, 1, 1, 1]);
    expect([...b.elsewhere]).toEqual([0, 1, 1, 0, 0, 1]);
    expect(b.here).toEqual([3]);
    expect(b.claims(5)).toEqual(['100/10.0.0.9']);
    expect(b.claims(3)).toEqual([]);
    expect(b.claimants('100/10.0.0.1')).toEqual([]);
    expect(b.claimants('100/10.0.0.9').map((j) => b.ipSlot[j])).toEqual([5]);
  });

  it('an IP claimed by two entries is shared (resolved by NveState), IPv6 too', () => {
    expect(b.sharedIps).toEqual(['100/10.0.0.2']);
    expect(b.claimants('100/10.0.0.2').map((j) => b.ipSlot[j])).toEqual([1, 2]);
    expect(b.claimants('100/fd00::2').map((j) => b.ipSlot[j])).toEqual([1]);
  });

  it('reuses the indexes of a base with the same entries, not of a different one', () => {
    const plain = [e('02:00:00:00:00:01', ['10.0.0.1']), e('02:00:00:00:00:02', ['10.0.0.2'])];
    const first = new DirectoryBase(packEntries(plain), ME);
    const again = new DirectoryBase(packEntries(plain), ME, first);
    expect(again.present).toBe(first.present);
    const moved = [plain[0]!, { ...plain[1]!, nveId: 'nve3', nveAddr: '192.0.2.3' }];
    const other = new DirectoryBase(packEntries(moved), ME, first);
    expect(other.present).not.toBe(first.present);
    expect(other.findId('100/02:00:00:00:00:02')).toBe(1);
  });

  it('a base large enough to be indexed region by region agrees with a Map', () => {
    // 40,000 entries (index of 2^17 cells: 4 regions), every 997th MAC repeated later with
    // another IP, every 1,009th IP claimed by two MACs
    const n = 40_000;
    const mac = (i: number) =>
      `02:00:00:${[i >>> 16, i >>> 8, i].map((x) => (x & 0xff).toString(16).padStart(2, '0')).join(':')}`;
    const ip = (i: number) => `10.${(i >>> 16) & 0xff}.${(i >>> 8) & 0xff}.${i & 0xff}`;
    const list: DirEntry[] = [];
    for (let i = 0; i < n; i++) list.push(e(mac(i), [ip(i % 1009 === 0 ? i + 1 : i)]));
    for (let i = 0; i < n; i += 997) list.push(e(mac(i), [ip(n + i)]));
    const big = new DirectoryBase(packEntries(list), ME);
    const last = new Map<string, number>();
    list.forEach((x, s) => last.set(`100/${x.mac}`, s));
    const claims = new Map<string, number[]>();
    for (const s of last.values()) {
      const id = `100/${list[s]!.ips[0]!.ip}`;
      claims.set(
        id,
        [...(claims.get(id) ?? []), s].sort((a, b) => a - b),
      );
    }
    for (let s = 0; s < list.length; s++) {
      const id = `100/${list[s]!.mac}`;
      expect(big.findId(id)).toBe(last.get(id));
      expect(big.present[s]).toBe(last.get(id) === s ? 1 : 0);
    }
    for (const [id, slots] of claims)
      expect(big.claimants(id).map((j) => big.ipSlot[j])).toEqual(slots);
    const shared = [...claims].filter(([, v]) => v.length > 1).map(([k]) => k);
    expect([...big.sharedIps].sort()).toEqual(shared.sort());
  });
});
