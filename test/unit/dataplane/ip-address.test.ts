import { describe, expect, it } from 'vitest';
import {
  FAMILY_V4,
  FAMILY_V6,
  ipFamily,
  readIp,
  writeIp,
} from '../../../src/dataplane/ip-address.ts';

describe('ip-address', () => {
  const cases: [string, number, string, string][] = [
    // text in, family, 16 stored bytes (hex), canonical text out
    ['192.0.2.1', FAMILY_V4, 'c0000201' + '00'.repeat(12), '192.0.2.1'],
    ['2001:db8::1', FAMILY_V6, '20010db8' + '00'.repeat(10) + '0001', '2001:db8::1'],
    ['::', FAMILY_V6, '00'.repeat(16), '::'],
    [
      'fe80::a:0:0:1',
      FAMILY_V6,
      'fe80' + '0000'.repeat(3) + '000a' + '0000'.repeat(2) + '0001',
      'fe80::a:0:0:1',
    ],
    ['2001:DB8:0:0:1:0:0:1', FAMILY_V6, '20010db8000000000001000000000001', '2001:db8::1:0:0:1'],
    ['::ffff:10.0.0.1', FAMILY_V6, '00'.repeat(10) + 'ffff0a000001', '::ffff:a00:1'],
    ['1:2:3:4:5:6:7:8', FAMILY_V6, '00010002000300040005000600070008', '1:2:3:4:5:6:7:8'],
  ];
  it.each(cases)('%s is stored and read back', (text, family, hex, canonical) => {
    const b = Buffer.alloc(16, 0xee);
    expect(writeIp(text, b, 0)).toBe(family);
    expect(b.toString('hex')).toBe(hex);
    expect(readIp(family, b, 0)).toBe(canonical);
    expect(ipFamily(text)).toBe(family);
  });

  it.each(['', '1.2.3', '300.1.1.1', 'fe80::1::2', 'hello'])('rejects "%s"', (bad) => {
    expect(() => writeIp(bad, Buffer.alloc(16), 0)).toThrow(/not an IP address/);
  });

  it('refuses an unknown family when reading', () => {
    expect(() => readIp(5, Buffer.alloc(16), 0)).toThrow(/unknown address family 5/);
  });
});
