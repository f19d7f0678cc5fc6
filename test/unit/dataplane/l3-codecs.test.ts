// The L3 codecs (src/dataplane/l3-codecs.ts): round trips, bytes where the C layout puts them,
// and the mistakes an operator can make refused with a clear RangeError.
import { describe, expect, it } from 'vitest';
import * as C from '../../../src/dataplane/l3-codecs.ts';
import { memoryL3Tables } from '../../../src/dataplane/routes.ts';

function roundTrip<T>(
  codec: {
    size: number;
    encode(v: T, b: Buffer, o: number): void;
    decode(b: Buffer, o: number): T;
  },
  v: T,
): T {
  const b = Buffer.alloc(codec.size + 3, 0xee);
  codec.encode(v, b, 3);
  return codec.decode(b, 3);
}

describe('routedVni', () => {
  it.each<C.RoutedVni>([
    {
      kind: 'tenant',
      vrf: 1,
      gatewayMac: '02:00:5e:00:01:01',
      gatewayIp4: '192.168.0.254',
      unreachable: false,
    },
    {
      kind: 'tenant',
      vrf: 0xffffffff,
      gatewayMac: '02:00:5e:00:01:01',
      gatewayIp6: 'fd10::fe',
      unreachable: true,
    },
    { kind: 'l3', vrf: 2, routerMac: '02:00:5e:00:01:01' },
  ])('round-trips %j', (v) => expect(roundTrip(C.routedVni, v)).toEqual(v));

  it('puts flags and addresses where struct routed_vni has them', () => {
    const b = Buffer.alloc(36);
    C.routedVni.encode(
      {
        kind: 'tenant',
        vrf: 3,
        gatewayMac: '02:00:00:00:00:01',
        gatewayIp4: '10.1.2.3',
        unreachable: true,
      },
      b,
      0,
    );
    expect(b.readUInt32LE(0)).toBe(3);
    expect(b.readUInt32LE(4)).toBe(C.F_RVNI_ROUTED | C.F_RVNI_UNREACH | C.F_RVNI_GW4);
    expect([...b.subarray(16, 20)]).toEqual([10, 1, 2, 3]);
  });

  it('refuses a gateway address of the wrong family', () => {
    expect(() =>
      C.routedVni.encode(
        {
          kind: 'tenant',
          vrf: 1,
          gatewayMac: '02:00:00:00:00:01',
          gatewayIp4: 'fd00::1',
          unreachable: false,
        },
        Buffer.alloc(36),
        0,
      ),
    ).toThrow(/not an IPv4/);
  });
});

describe('route keys', () => {
  it('a prefix key carries 64 fixed bits plus the prefix length', () => {
    const b = Buffer.alloc(28);
    C.routeLpmKey.encode({ vrf: 9, prefix: '10.99.0.0/16' }, b, 0);
    expect(b.readUInt32LE(0)).toBe(64 + 16);
    expect(b.readUInt32LE(4)).toBe(9);
    expect(b[8]).toBe(4);
    expect(C.routeLpmKey.decode(b, 0)).toEqual({ vrf: 9, prefix: '10.99.0.0/16' });
  });

  it.each(['10.99.0.1/16', '10.0.0.0/33', 'fd00::/129', 'nonsense', '10.0.0.0'])(
    'refuses "%s"',
    (p) => {
      expect(C.parsePrefix(p)).toBeNull();
      expect(() => C.routeLpmKey.encode({ vrf: 1, prefix: p }, Buffer.alloc(28), 0)).toThrow(
        RangeError,
      );
    },
  );

  it('host keys round-trip both families', () => {
    expect(roundTrip(C.routeKey, { vrf: 4, ip: '192.0.2.1' })).toEqual({ vrf: 4, ip: '192.0.2.1' });
    expect(roundTrip(C.routeKey, { vrf: 4, ip: '2001:db8::1' })).toEqual({
      vrf: 4,
      ip: '2001:db8::1',
    });
  });
});

describe('routeEntry', () => {
  it.each<C.RouteEntry>([
    { kind: 'local', vni: 300, ifindex: 31, mac: '02:00:00:00:03:10' },
    { kind: 'remote', l3Vni: 5001, nve: '10.0.0.3' },
    { kind: 'remote', l3Vni: 5001, nve: 'fd00::4' },
  ])('round-trips %j', (v) => expect(roundTrip(C.routeEntry, v)).toEqual(v));

  it('refuses a VNI out of range', () => {
    expect(() =>
      C.routeEntry.encode({ kind: 'remote', l3Vni: 1 << 24, nve: '10.0.0.3' }, Buffer.alloc(40), 0),
    ).toThrow(/not a VNI/);
  });
});

describe('memoryL3Tables', () => {
  it('keys compare by encoding: one prefix, one row', () => {
    const t = memoryL3Tables();
    const e: C.RouteEntry = { kind: 'remote', l3Vni: 5001, nve: '10.0.0.3' };
    t.prefixRoutes.setMany([[{ vrf: 1, prefix: 'fd99:0::/32' }, e]]);
    t.prefixRoutes.setMany([[{ vrf: 1, prefix: 'fd99::/32' }, e]]);
    expect(t.prefixRoutes.size()).toBe(1);
    expect(t.hostRoutes.get({ vrf: 2, ip: '10.0.0.1' })).toBeUndefined();
  });
});
