// The anchor idle monitor (docs/l3.md): an anchored address the dataplane flags as used stays;
// one unused for the whole idle time is reported once for release; the used bit is cleared.
import { describe, expect, it } from 'vitest';
import { AnchorIdleMonitor } from '../../../src/nve/anchor-idle.ts';
import { memoryL3Tables } from '../../../src/dataplane/routes.ts';
import type { RouteEntry, RouteKey } from '../../../src/dataplane/l3-codecs.ts';

const K: RouteKey = { vrf: 1, ip: '10.1.0.40' };
const ROUTE: RouteEntry = {
  kind: 'local',
  vni: 200,
  ifindex: 9,
  mac: '02:00:00:00:00:0d',
  anchor: true,
};
const PLAIN: [RouteKey, RouteEntry] = [
  { vrf: 1, ip: '10.2.0.40' },
  { ...ROUTE, anchor: false },
];

describe('AnchorIdleMonitor', () => {
  it('reports an anchor unused for the idle time, once; a used one is kept and its bit cleared', async () => {
    let now = 0;
    const table = memoryL3Tables().hostRoutes;
    table.setMany([[K, ROUTE], PLAIN]);
    const released: Array<{ vni: number; mac: string; ip: string }> = [];
    const m = new AnchorIdleMonitor({
      installed: () => [[K, ROUTE], PLAIN],
      table,
      idleMs: 1000,
      now: () => now,
      release: async (k) => {
        released.push(k);
        return true;
      },
    });
    m.check(); // first seen at 0
    now = 900;
    table.setMany([[K, { ...ROUTE, used: true }]]); // the dataplane saw a packet
    m.check();
    expect(table.get(K)).toEqual(ROUTE); // bit cleared
    now = 1800;
    m.check();
    expect(released).toEqual([]); // used at 900: not idle yet
    now = 1900;
    m.check();
    expect(released).toEqual([
      { vni: 200, mac: ROUTE.kind === 'local' ? ROUTE.mac : '', ip: K.ip },
    ]);
    await new Promise((r) => setTimeout(r, 0));
    expect(released).toHaveLength(1); // the plain route is never reported
  });
});
