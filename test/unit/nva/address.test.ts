import { describe, expect, it } from 'vitest';
import { compareAddr } from '../../../src/nva/address.ts';

describe('compareAddr (the EVPN tie-break order)', () => {
  const cases: [string, string, '<' | '=' | '>'][] = [
    ['192.0.2.2', '192.0.2.10', '<'], // numeric, not string order
    ['10.0.0.1', '9.255.255.255', '>'],
    ['192.0.2.1', '192.0.2.1', '='],
    ['192.0.2.1', 'fd00::1', '<'], // IPv4 before IPv6
    ['fd00::2', 'fd00::10', '<'],
    ['fd00::1', 'fd00:0:0:0:0:0:0:1', '='],
    ['::ffff:1.2.3.4', '::ffff:1.2.3.5', '<'],
  ];
  for (const [a, b, want] of cases) {
    it(`${a} ${want} ${b}`, () => {
      const c = Math.sign(compareAddr(a, b));
      expect(c).toBe(want === '<' ? -1 : want === '=' ? 0 : 1);
    });
  }
});
