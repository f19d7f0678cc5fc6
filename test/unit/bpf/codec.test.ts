// Codecs: encode/decode round trips, byte layouts, and refusals of malformed input.
import { describe, expect, it } from 'vitest';
import { codec } from '../../../src/bpf/index.ts';
import type { Codec } from '../../../src/bpf/index.ts';

function roundTrip<T>(c: Codec<T>, v: T, hex: string): void {
  const b = Buffer.alloc(c.size + 2, 0xaa);
  c.encode(v, b, 1);
  expect(b.subarray(1, 1 + c.size).toString('hex')).toBe(hex);
  expect(b[0]).toBe(0xaa); // nothing written before the offset
  expect(b[c.size + 1]).toBe(0xaa); // nor after the value
  expect(c.decode(b, 1)).toEqual(v);
}

describe('scalar codecs', () => {
  it.each([
    ['u8', codec.u8 as Codec<unknown>, 0xfe, 'fe'],
    ['u16', codec.u16 as Codec<unknown>, 0x1234, '3412'],
    ['u16be', codec.u16be as Codec<unknown>, 0x1234, '1234'],
    ['u32', codec.u32 as Codec<unknown>, 0xdeadbeef, 'efbeadde'],
    ['u32be', codec.u32be as Codec<unknown>, 0x0a000001, '0a000001'],
    ['u64', codec.u64 as Codec<unknown>, 0x0102030405060708n, '0807060504030201'],
    ['mac', codec.mac as Codec<unknown>, '02:00:5e:10:00:ff', '02005e1000ff'],
    ['ipv4', codec.ipv4 as Codec<unknown>, '192.168.1.20', 'c0a80114'],
  ])('%s', (_name, c, v, hex) => roundTrip(c, v, hex));

  it('bytes(n) zero-pads short input and refuses long input', () => {
    const c = codec.bytes(4);
    const b = Buffer.alloc(4, 0xff);
    c.encode(Buffer.from([1, 2]), b, 0);
    expect(b.toString('hex')).toBe('01020000');
    expect(() => c.encode(Buffer.alloc(5), b, 0)).toThrow(RangeError);
  });

  it.each(['02:00:5e:10:00', 'zz:00:5e:10:00:ff', '02-00-5e-10-00-ff'])('mac refuses "%s"', (s) => {
    expect(() => codec.mac.encode(s, Buffer.alloc(6), 0)).toThrow(/not a MAC address/);
  });

  it.each(['10.0.0', '10.0.0.256', 'a.b.c.d'])('ipv4 refuses "%s"', (s) => {
    expect(() => codec.ipv4.encode(s, Buffer.alloc(4), 0)).toThrow(/not an IPv4 address/);
  });
});

describe('struct codec', () => {
  // struct fdb_key { __u32 vni; __u8 mac[6]; __u8 pad[2]; } (12 bytes)
  const fdbKey = codec.struct({ vni: codec.u32, mac: codec.mac, _pad: codec.pad(2) });

  it('lays fields out in order, padding zeroed', () => {
    expect(fdbKey.size).toBe(12);
    roundTrip(fdbKey, { vni: 100, mac: '02:00:00:00:00:01' }, '64000000020000000001' + '0000');
  });

  it('honours explicit offsets and total size', () => {
    const c = codec.struct({ a: codec.u8, b: codec.u32 }, { offsets: { b: 4 }, size: 12 });
    expect(c.size).toBe(12);
    roundTrip(c, { a: 1, b: 2 }, '01000000' + '02000000' + '00000000');
  });

  it('refuses a size smaller than its fields', () => {
    expect(() => codec.struct({ a: codec.u64 }, { size: 4 })).toThrow(RangeError);
  });

  it('encodeOne gives a fresh buffer', () => {
    expect(codec.encodeOne(codec.u32, 5).toString('hex')).toBe('05000000');
  });
});
