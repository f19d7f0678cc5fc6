// One text per IP: the directory compares addresses as strings, so every IP that enters through
// the protocol schema comes out in RFC 5952 form (found by the e2e lab: a provision written
// "fd01:0::2" made the VM's later registration of "fd01::2" NOT_PROVISIONED).
import { describe, expect, it } from 'vitest';
import { canonicalIp } from '../../../src/protocol/ip-text.ts';
import { ip } from '../../../src/protocol/schema.ts';

describe('canonicalIp', () => {
  it.each([
    ['fd01:0::2', 'fd01::2'],
    ['FD01:0000:0000:0000:0000:0000:0000:0002', 'fd01::2'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['::ffff:10.1.0.2', '::ffff:a01:2'],
    ['10.1.0.2', '10.1.0.2'],
    ['not-an-ip', 'not-an-ip'],
  ])('%s -> %s', (input, want) => {
    expect(canonicalIp(input)).toBe(want);
  });
});

describe('protocol ip schema', () => {
  it('hands out the canonical form, so two spellings of one address are one key', () => {
    expect(ip.parse('FD01:0::2')).toBe('fd01::2');
    expect(ip.parse('fd01::2')).toBe('fd01::2');
  });

  it('still refuses what is not an IP', () => {
    expect(ip.safeParse('10.1.0.256').success).toBe(false);
    expect(ip.safeParse('fd01:::2').success).toBe(false);
  });
});
