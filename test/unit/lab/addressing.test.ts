// The lab's address plan: tests and the benchmark rely on these exact values.
import { describe, expect, it } from 'vitest';
import {
  ipv4Bytes,
  macBytes,
  nveIpv4,
  nveIpv6,
  vmIpv4,
  vmIpv6,
  vmMac,
} from '../../../src/lab/addressing.ts';

describe('lab address plan', () => {
  it.each([
    [0, '10.99.0.1', 'fd99::1'],
    [9, '10.99.0.10', 'fd99::a'],
  ])('NVE %i is %s / %s', (i, v4, v6) => {
    expect(nveIpv4(i)).toBe(v4);
    expect(nveIpv6(i)).toBe(v6);
  });

  it.each([
    [100, 1, '02:00:00:00:64:01'],
    [0xabcdef, 254, '02:00:ab:cd:ef:fe'],
  ])('VM MAC of VNI %i host %i is %s', (vni, k, mac) => {
    expect(vmMac(vni, k)).toBe(mac);
  });

  it('numbers VM addresses by VNI rank and host', () => {
    expect(vmIpv4(0, 1)).toBe('10.1.0.1');
    expect(vmIpv4(3, 12)).toBe('10.1.3.12');
    expect(vmIpv6(0, 1)).toBe('fd01:0::1');
    expect(vmIpv6(17, 255 - 1)).toBe('fd01:11::fe');
  });

  it.each([
    () => vmMac(1 << 24, 1),
    () => vmMac(1, 0),
    () => vmMac(1, 255),
    () => vmIpv4(256, 1),
    () => nveIpv4(254),
  ])('refuses out-of-range input (case %#)', (f) => {
    expect(f).toThrow(RangeError);
  });

  it('parses MACs and IPv4 addresses to bytes, and refuses junk', () => {
    expect([...macBytes('02:00:AB:cd:ef:01')]).toEqual([2, 0, 0xab, 0xcd, 0xef, 1]);
    expect([...ipv4Bytes('10.99.0.254')]).toEqual([10, 99, 0, 254]);
    expect(() => macBytes('02:00:ab:cd:ef')).toThrow(/not a MAC/);
    expect(() => ipv4Bytes('10.99.0.256')).toThrow(/not an IPv4/);
  });
});
