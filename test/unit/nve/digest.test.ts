import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { digestLines, vniDigest } from '../../../src/nve/digest.ts';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

describe('vniDigest', () => {
  it.each([
    ['empty VNI', [], sha('')],
    [
      'one VM with two IPs',
      [{ mac: '52:54:00:00:00:0b', nveAddr: '192.0.2.3', ips: ['fd00::b', '10.0.0.11'] }],
      sha(
        'i 10.0.0.11 52:54:00:00:00:0b\ni fd00::b 52:54:00:00:00:0b\nm 52:54:00:00:00:0b 192.0.2.3\n',
      ),
    ],
  ])('%s', (_n, rows, want) => {
    expect(vniDigest(rows)).toBe(want);
  });

  it('does not depend on order', () => {
    const a = { mac: '02:00:00:00:00:01', nveAddr: '192.0.2.1', ips: ['10.0.0.1'] };
    const b = { mac: '02:00:00:00:00:02', nveAddr: '192.0.2.2', ips: ['10.0.0.2', '10.0.0.3'] };
    expect(vniDigest([a, b])).toBe(vniDigest([{ ...b, ips: ['10.0.0.3', '10.0.0.2'] }, a]));
  });

  it.each([
    ['another NVE', { nveAddr: '192.0.2.9' }],
    ['another IP', { ips: ['10.0.0.9'] }],
    ['one IP fewer', { ips: [] }],
  ])('changes with %s', (_n, diff) => {
    const row = { mac: '02:00:00:00:00:01', nveAddr: '192.0.2.1', ips: ['10.0.0.1'] };
    expect(vniDigest([{ ...row, ...diff }])).not.toBe(vniDigest([row]));
  });

  it('lists canonical lines sorted', () => {
    expect(
      digestLines([{ mac: 'aa:00:00:00:00:01', nveAddr: '2001:db8::1', ips: ['10.1.1.1'] }]),
    ).toEqual(['i 10.1.1.1 aa:00:00:00:00:01', 'm aa:00:00:00:00:01 2001:db8::1']);
  });
});
