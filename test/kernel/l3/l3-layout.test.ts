// The L3 codecs mirror the L3 part of bpf/roam.h: every struct's size and member offsets, read from the BTF
// of the objects that use them, equal the codec's layout, and the constants equal the header's
// #defines. The L3 maps' key/value sizes equal the codecs' (TypedMap checks on open).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as C from '../../../src/dataplane/l3-codecs.ts';
import {
  OBJECTS,
  checkPreconditions,
  openDataplane,
  type TestDataplane,
} from '../dataplane/harness.ts';
import { openL3, type L3Dataplane } from './l3-fixture.ts';

interface BtfType {
  kind: string;
  name?: string;
  size?: number;
  members?: { name: string; bits_offset: number }[];
}

function structLayouts(
  obj: string,
): Map<string, { size?: number; members: Record<string, number> }> {
  const out = execFileSync('bpftool', ['btf', 'dump', 'file', obj, 'format', 'raw', '-j'], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const types = (JSON.parse(out) as { types: BtfType[] }).types;
  return new Map(
    types
      .filter((t) => t.kind === 'STRUCT' && t.name)
      .map((t) => [
        t.name as string,
        {
          size: t.size,
          members: Object.fromEntries((t.members ?? []).map((m) => [m.name, m.bits_offset / 8])),
        },
      ]),
  );
}

describe('L3 codec layouts against BTF', () => {
  checkPreconditions();
  it.each([OBJECTS.tsi, OBJECTS.underlay])('%s', (obj) => {
    const layouts = structLayouts(obj);
    for (const c of C.L3_STRUCT_CODECS) {
      expect(layouts.get(c.layout.cName), `${c.layout.cName} in ${obj}`).toEqual({
        size: c.layout.size,
        members: c.layout.members,
      });
      expect(c.size).toBe(c.layout.size);
    }
  });
});

describe('L3 constants against bpf/roam.h', () => {
  const header = readFileSync('bpf/roam.h', 'utf8');
  const defines = new Map<string, number>();
  for (const m of header.matchAll(/^#define (\w+) \(?(?:1U << )?(\d+)\)?/gm)) {
    const [, name = '', v = ''] = m;
    defines.set(name, /<</.test(m[0]) ? 1 << Number(v) : Number(v));
  }
  const mirrored: [string, number][] = [
    ['F_RVNI_ROUTED', C.F_RVNI_ROUTED],
    ['F_RVNI_L3', C.F_RVNI_L3],
    ['F_RVNI_UNREACH', C.F_RVNI_UNREACH],
    ['F_RVNI_GW4', C.F_RVNI_GW4],
    ['F_RVNI_GW6', C.F_RVNI_GW6],
    ['ROUTE_LOCAL', C.ROUTE_LOCAL],
    ['ROUTE_REMOTE', C.ROUTE_REMOTE],
    ['ROUTE_LPM_FIXED_BITS', C.ROUTE_LPM_FIXED_BITS],
    ['F_ROUTE_ANCHOR', C.F_ROUTE_ANCHOR],
    ['F_ROUTE_USED', C.F_ROUTE_USED],
  ];
  it.each(mirrored)('%s', (name, value) => {
    expect(defines.get(name), `${name} in roam.h`).toBe(value);
  });
  it('every F_ / ROUTE_ define is mirrored', () => {
    const names = [...defines.keys()].filter((n) => /^(F_RVNI_|F_ROUTE_|ROUTE_[A-Z_]+$)/.test(n));
    expect(names.sort()).toEqual(mirrored.map(([n]) => n).sort());
  });
});

describe('L3 maps of the loaded objects', () => {
  let dp: TestDataplane;
  let l3: L3Dataplane;
  beforeAll(() => {
    dp = openDataplane('l3layout');
    l3 = openL3(dp);
  });
  afterAll(() => {
    for (const m of l3?.maps ?? []) m.close();
    dp?.close();
  });

  it('round-trips every kind of entry through the kernel maps', () => {
    const t = l3.tables;
    const tenant: C.RoutedVni = {
      kind: 'tenant',
      vrf: 7,
      gatewayMac: '02:00:5e:00:01:01',
      gatewayIp4: '10.0.0.1',
      gatewayIp6: 'fd00::1',
      unreachable: true,
    };
    t.routedVnis.setMany([
      [10, tenant],
      [11, { kind: 'l3', vrf: 7, routerMac: '02:00:5e:00:01:01' }],
    ]);
    expect(t.routedVnis.get(10)).toEqual(tenant);
    const local: C.RouteEntry = { kind: 'local', vni: 10, ifindex: 5, mac: '02:00:00:00:00:05' };
    const remote: C.RouteEntry = { kind: 'remote', l3Vni: 11, nve: 'fd00::9' };
    t.hostRoutes.setMany([
      [{ vrf: 7, ip: '10.0.0.5' }, local],
      [{ vrf: 7, ip: 'fd00::5' }, remote],
    ]);
    expect(t.hostRoutes.get({ vrf: 7, ip: 'fd00::5' })).toEqual(remote);
    t.prefixRoutes.setMany([[{ vrf: 7, prefix: '10.1.0.0/16' }, remote]]);
    expect(t.prefixRoutes.get({ vrf: 7, prefix: '10.1.0.0/16' })).toEqual(remote);
    expect([...t.prefixRoutes.entries()]).toEqual([[{ vrf: 7, prefix: '10.1.0.0/16' }, remote]]);
  });
});
