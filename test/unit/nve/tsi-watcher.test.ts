import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import {
  parseLinkList,
  parseMonitorLine,
  TsiWatcher,
  type LinkSource,
} from '../../../src/nve/tsi-watcher.ts';
import type { TsiConfig } from '../../../src/nve/config.ts';

// Lines as `ip -o monitor link` prints them (captured on this kernel).
describe('parseMonitorLine', () => {
  it.each([
    [
      '3: tap-x1@tap-p1: <BROADCAST,MULTICAST,M-DOWN> mtu 1500 qdisc noop state DOWN group default \\    link/ether 9e:9e:ee:08:13:5c brd ff:ff:ff:ff:ff:ff',
      { type: 'present', ifindex: 3, name: 'tap-x1' },
    ],
    [
      'Deleted 3: tap-y1@NONE: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN group default \\    link/ether 9e:9e:ee:08:13:5c',
      { type: 'deleted', ifindex: 3, name: 'tap-y1' },
    ],
    [
      '12: tap0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UP',
      { type: 'present', ifindex: 12, name: 'tap0' },
    ],
    ['', null],
    ['link/ether 9e:9e:ee:08:13:5c brd ff:ff:ff:ff:ff:ff', null],
  ])('%s', (line, want) => {
    expect(parseMonitorLine(line)).toEqual(want);
  });
});

describe('parseLinkList', () => {
  it('reads ifindex and ifname', () => {
    expect(
      parseLinkList(
        '[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK"]},{"ifindex":5,"ifname":"tap-a"},{"x":1}]',
      ),
    ).toEqual([
      { ifindex: 1, name: 'lo' },
      { ifindex: 5, name: 'tap-a' },
    ]);
  });
});

describe('TsiWatcher', () => {
  const tsis: TsiConfig[] = [
    { interface: 'tap-a', vni: 100, ips: [] },
    { pattern: 'tap-t*', vni: 200, ips: [] },
  ];

  function setup() {
    const lines = new PassThrough();
    const log: string[] = [];
    const source: LinkSource = {
      monitor: () => ({ lines, stop: () => lines.end() }),
      list: () => Promise.resolve('[{"ifindex":1,"ifname":"lo"},{"ifindex":5,"ifname":"tap-a"}]'),
    };
    const w = new TsiWatcher({
      tsis,
      source,
      log: pino({ level: 'silent' }),
      up: (t) => log.push(`up ${t.name} ${t.ifindex} vni ${t.config.vni}`),
      down: (i, n) => log.push(`down ${n} ${i}`),
    });
    const feed = async (...ls: string[]) => {
      for (const l of ls) lines.write(`${l}\n`);
      await new Promise((r) => setImmediate(r));
    };
    return { w, log, feed };
  }

  it('reports configured TSIs present at start, then hot-plug, rename and removal', async () => {
    const { w, log, feed } = setup();
    await w.start();
    expect(log).toEqual(['up tap-a 5 vni 100']);
    await feed(
      '7: tap-t1@if2: <BROADCAST> mtu 1500 state DOWN',
      '7: tap-t1@if2: <BROADCAST,UP,LOWER_UP> mtu 1500 state UP',
      '8: eth9: <BROADCAST> mtu 1500',
      '7: other@if2: <BROADCAST> mtu 1500',
      'Deleted 5: tap-a: <BROADCAST> mtu 1500',
      'Deleted 8: eth9: <BROADCAST> mtu 1500',
    );
    expect(log).toEqual([
      'up tap-a 5 vni 100',
      'up tap-t1 7 vni 200',
      'down tap-t1 7',
      'down tap-a 5',
    ]);
    expect(w.present()).toEqual([]);
    w.stop();
  });
});
