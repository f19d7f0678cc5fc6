// Codecs of bpf/roam.h: round trips, byte layouts of the keys the kernel hashes, errors, and
// the numeric constants against the header's #defines (the struct layouts are checked against
// BTF in test/kernel/dataplane/btf-layout.test.ts).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as C from '../../../src/dataplane/codecs.ts';
import type { Codec } from '../../../src/bpf/codec.ts';

function roundTrip<T>(codec: Codec<T>, v: T): T {
  const b = Buffer.alloc(codec.size + 3, 0xaa);
  codec.encode(v, b, 3);
  return codec.decode(b, 3);
}

function bytesOf<T>(codec: Codec<T>, v: T): string {
  const b = Buffer.alloc(codec.size, 0xaa);
  codec.encode(v, b, 0);
  return b.toString('hex');
}

describe('codecs round trip', () => {
  const cases: [string, Codec<unknown>, unknown][] = [
    ['fdb key', C.fdbKey, { vni: 100, mac: '02:00:00:00:00:01' }],
    ['fdb local', C.fdbEntry, { kind: 'local', ifindex: 7 }],
    ['fdb remote v4', C.fdbEntry, { kind: 'remote', nve: '10.0.0.2' }],
    ['fdb remote v6', C.fdbEntry, { kind: 'remote', nve: 'fd00::2' }],
    ['fdb moved', C.fdbEntry, { kind: 'moved', nve: '10.0.0.3', untilNs: 123456789012345n }],
    ['fdb dual', C.fdbEntry, { kind: 'dual', ifindex: 9, nve: 'fd00::7' }],
    ['fdb remote with RARP', C.fdbEntry, { kind: 'remote', nve: 'fd00::2', rarpIp4: '10.1.2.3' }],
    ['fdb local with RARP', C.fdbEntry, { kind: 'local', ifindex: 3, rarpIp4: '10.1.2.4' }],
    ['neigh key v4', C.neighKey, { vni: 5, ip: '192.168.1.10' }],
    ['neigh key v6', C.neighKey, { vni: 5, ip: '2001:db8::10' }],
    ['neigh entry', C.neighEntry, 'aa:bb:cc:dd:ee:ff'],
    ['tsi', C.tsiInfo, { vni: 0xffffff, strictSource: true }],
    ['tsi with its MAC', C.tsiInfo, { vni: 7, strictSource: false, mac: '52:54:00:00:00:0b' }],
    ['vni', C.vniInfo, { floodUnknown: true }],
    ['peer key', C.peerKey, { vni: 9, nve: '2001:db8::9' }],
    ['peer info', C.peerInfo, true],
    ['nexthop', C.nexthop, '02:11:22:33:44:55'],
    ['flood list', C.floodList, { local: [3, 4, 5], remote: ['10.0.0.2', 'fd00::3'] }],
    ['flood list empty', C.floodList, { local: [], remote: [] }],
    ['event limit', C.eventLimit, { lastNs: 5n, tokens: 3 }],
    ['stats key', C.statsKey, { vni: 1, verdict: 3 }],
    ['stats value', C.statsValue, { packets: 10n, bytes: 640n }],
    ['stats slot', C.statsSlot, { vni: 7, verdict: 2, packets: 10n, bytes: 640n }],
    ['trace rec', C.traceRec, { ifindex: 2, vni: 3, verdict: 0, remote: '10.0.0.9' }],
    [
      'flood shim',
      C.floodShim,
      { magic: C.FLOOD_SHIM_MAGIC, secret: 0xdeadbeef, vni: 42, ethType: 0x0806 },
    ],
    [
      'event garp',
      C.roamEvent,
      { timeNs: 99n, ifindex: 4, vni: 7, mac: '02:00:00:00:00:07', kind: 'garp', ip: '10.7.0.1' },
    ],
    [
      'event new mac',
      C.roamEvent,
      { timeNs: 1n, ifindex: 4, vni: 7, mac: '02:00:00:00:00:07', kind: 'new-mac' },
    ],
  ];
  it.each(cases)('%s', (_name, codec, value) => {
    expect(roundTrip(codec, value)).toEqual(value);
  });

  it('config keeps every field and derives the flags', () => {
    const cfg: C.RoamConfig = {
      underlayIfindex: 3,
      udpPort: 4789,
      mtu: 1500,
      ttl: 32,
      localMac: '02:00:00:00:01:01',
      gatewayMac: '02:00:00:00:01:fe',
      localIp4: '10.0.0.1',
      localIp6: 'fd00::1',
      fib: true,
      floodTc: true,
      trace: false,
      eventRefillNs: 100_000_000n,
      eventBurst: 4,
      floodSecret: 0x9abcdef0,
    };
    expect(roundTrip(C.roamConfig, cfg)).toEqual(cfg);
    const b = Buffer.alloc(C.roamConfig.size);
    C.roamConfig.encode(cfg, b, 0);
    expect(b.readUInt32LE(0)).toBe(
      C.F_CFG_HAS_IP4 | C.F_CFG_HAS_IP6 | C.F_CFG_GATEWAY | C.F_CFG_FIB | C.F_CFG_FLOOD_TC,
    );
    const bare = roundTrip(C.roamConfig, { ...cfg, gatewayMac: undefined, localIp6: undefined });
    expect(bare.gatewayMac).toBeUndefined();
    expect(bare.localIp6).toBeUndefined();
  });
});

describe('codec byte layouts (what the kernel hashes)', () => {
  it('fdb key: vni LE, MAC, zero padding', () => {
    expect(bytesOf(C.fdbKey, { vni: 0x010203, mac: '02:aa:bb:cc:dd:ee' })).toBe(
      '03020100' + '02aabbccddee' + '0000',
    );
  });
  it('neigh key: vni, family, padding, 16-byte IP', () => {
    expect(bytesOf(C.neighKey, { vni: 1, ip: '10.0.0.1' })).toBe(
      '01000000' + '04000000' + '0a000001' + '00'.repeat(12),
    );
  });
  it('peer key: vni then nve_addr', () => {
    expect(bytesOf(C.peerKey, { vni: 2, nve: '10.0.0.2' })).toBe(
      '02000000' + '04000000' + '0a000002' + '00'.repeat(12),
    );
  });
  it('fdb moved entry: kind 3, until at 8, remote at 16', () => {
    const hex = bytesOf(C.fdbEntry, { kind: 'moved', nve: '10.0.0.3', untilNs: 1n });
    expect(hex.slice(0, 2)).toBe('03');
    expect(hex.slice(16, 32)).toBe('0100000000000000');
    expect(hex.slice(32, 48)).toBe('040000000a000003');
  });
});

describe('codec errors', () => {
  const cases: [string, () => void, RegExp][] = [
    ['bad MAC', () => bytesOf(C.fdbKey, { vni: 1, mac: '02:00:00' }), /not a MAC address/],
    [
      'VNI too big',
      () => bytesOf(C.fdbKey, { vni: 1 << 24, mac: '02:00:00:00:00:01' }),
      /not a VNI/,
    ],
    ['bad IP', () => bytesOf(C.neighKey, { vni: 1, ip: '10.0.0' }), /not an IP address/],
    [
      'RARP v6',
      () => bytesOf(C.fdbEntry, { kind: 'local', ifindex: 1, rarpIp4: 'fd00::1' }),
      /RARP needs an IPv4/,
    ],
    [
      'flood list too long',
      () => bytesOf(C.floodList, { local: new Array<number>(33).fill(1), remote: [] }),
      /flood list too long/,
    ],
    [
      'config v6 in ip4',
      () => bytesOf(C.roamConfig, configWith({ localIp4: 'fd00::1' })),
      /not IPv4/,
    ],
  ];
  it.each(cases)('%s', (_n, fn, re) => {
    expect(fn).toThrow(re);
  });

  it('unknown fdb kind fails loudly', () => {
    expect(() => C.fdbEntry.decode(Buffer.alloc(40), 0)).toThrow(/unknown kind 0/);
  });

  it('parseRoamEvent refuses short or unknown records', () => {
    expect(C.parseRoamEvent(Buffer.alloc(10))).toBeNull();
    expect(C.parseRoamEvent(Buffer.alloc(40))).toBeNull();
  });
});

function configWith(over: Partial<C.RoamConfig>): C.RoamConfig {
  return {
    underlayIfindex: 1,
    udpPort: 4789,
    mtu: 1500,
    ttl: 0,
    localMac: '02:00:00:00:00:01',
    fib: false,
    floodTc: false,
    trace: false,
    eventRefillNs: 0n,
    eventBurst: 0,
    floodSecret: 1,
    ...over,
  };
}

describe('constants mirror bpf/roam.h', () => {
  const header = readFileSync(new URL('../../../bpf/roam.h', import.meta.url), 'utf8');
  const defines = new Map<string, number>();
  for (const m of header.matchAll(
    /^#define\s+(\w+)\s+\(?(0x[0-9a-fA-F]+|\d+)U?(?:\s*<<\s*(\d+)\))?/gm,
  )) {
    const [, name, value, shift] = m;
    if (name && value) defines.set(name, Number(value) * 2 ** Number(shift ?? 0));
  }
  const mirrored: [string, number][] = [
    ['FLOOD_MAX_LOCAL', C.FLOOD_MAX_LOCAL],
    ['FLOOD_MAX_REMOTE', C.FLOOD_MAX_REMOTE],
    ['VXLAN_DEFAULT_PORT', C.VXLAN_DEFAULT_PORT],
    ['VNI_MAX', C.VNI_MAX],
    ['FLOOD_SHIM_MAGIC', C.FLOOD_SHIM_MAGIC],
    ['FLOOD_SHIM_ETH_P', C.FLOOD_SHIM_ETH_P],
    ['STATS_SLOTS', C.STATS_SLOTS],
    ['STATS_PROBES', C.STATS_PROBES],
    ['SLOT_PROBES', C.SLOT_PROBES],
    ['TSI_SLOTS', C.TSI_SLOTS],
    ['PEER_SLOT_BITS', C.PEER_SLOT_BITS],
    ['NEXTHOP_SLOT_BITS', C.NEXTHOP_SLOT_BITS],
    ['FAMILY_V4', C.FAMILY_V4],
    ['FAMILY_V6', C.FAMILY_V6],
    ['FDB_LOCAL', C.FDB_LOCAL],
    ['FDB_REMOTE', C.FDB_REMOTE],
    ['FDB_MOVED', C.FDB_MOVED],
    ['FDB_DUAL', C.FDB_DUAL],
    ['F_CFG_HAS_IP4', C.F_CFG_HAS_IP4],
    ['F_CFG_HAS_IP6', C.F_CFG_HAS_IP6],
    ['F_CFG_GATEWAY', C.F_CFG_GATEWAY],
    ['F_CFG_FIB', C.F_CFG_FIB],
    ['F_CFG_FLOOD_TC', C.F_CFG_FLOOD_TC],
    ['F_CFG_TRACE', C.F_CFG_TRACE],
    ['F_TSI_STRICT_SRC', C.F_TSI_STRICT_SRC],
    ['F_TSI_MAC', C.F_TSI_MAC],
    ['F_VNI_FLOOD_UNKNOWN', C.F_VNI_FLOOD_UNKNOWN],
    ['EVENT_GARP', C.EVENT_GARP],
    ['EVENT_UNSOLICITED_NA', C.EVENT_UNSOLICITED_NA],
    ['EVENT_RARP', C.EVENT_RARP],
    ['EVENT_NEW_MAC', C.EVENT_NEW_MAC],
  ];
  it.each(mirrored)('%s', (name, value) => {
    expect(defines.get(name), `${name} in roam.h`).toBe(value);
  });

  // (the L3 part's F_RVNI_* and F_ROUTE_* are checked by test/kernel/l3/l3-layout.test.ts)
  it('every F_/FDB_/EVENT_ define of the header is mirrored', () => {
    const names = [...defines.keys()].filter(
      (n) =>
        /^(F_|FDB_[A-Z]+$|EVENT_[A-Z_]+$)/.test(n) &&
        !n.startsWith('F_RVNI_') &&
        !n.startsWith('F_ROUTE_'),
    );
    const known = new Set(mirrored.map(([n]) => n));
    expect(names.filter((n) => !known.has(n) && !n.endsWith('MAX_ENTRIES'))).toEqual([]);
  });

  it('verdict names follow the enum values of the header', () => {
    const body = /enum roam_verdict \{([\s\S]*?)\};/.exec(header)?.[1] ?? '';
    const values = new Map<string, number>();
    let next = 0;
    for (const m of body.matchAll(/^\s*(VERDICT_\w+|DROP_\w+)(?:\s*=\s*(\w+))?,?/gm)) {
      const [, name = '', init] = m;
      const value = init === undefined ? next : (values.get(init) ?? Number(init));
      values.set(name, value);
      next = value + 1;
    }
    C.VERDICT_NAMES.forEach((v, slot) => {
      const cName = (v.startsWith('drop-') ? '' : 'VERDICT_') + v.replace(/-/g, '_').toUpperCase();
      expect(values.get(cName), cName).toBe(slot);
    });
    expect(values.get('VERDICT_MAX')).toBe(C.VERDICT_NAMES.length);
    expect(values.get('DROP_FIRST')).toBe(C.DROP_FIRST);
  });
});
