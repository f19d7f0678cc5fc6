import { describe, expect, it } from 'vitest';
import { fdbEntry, fdbKey, neighEntry, neighKey } from '../../../src/dataplane/codecs.ts';
import {
  encodeFdbEntry,
  encodeFdbRemote,
  encodeIpKey,
  encodeMacKey,
  encodeNeighEntry,
} from '../../../src/nve/fast-encode.ts';

/** Encode with both into buffers full of junk: the bytes must be the same. */
function both(
  size: number,
  fast: (b: Buffer) => void,
  codec: (b: Buffer) => void,
): [string, string] {
  const a = Buffer.alloc(size + 8, 0xee);
  const c = Buffer.alloc(size + 8, 0xee);
  fast(a.subarray(4));
  codec(c.subarray(4));
  return [a.toString('hex'), c.toString('hex')];
}

describe('fast encoders write what the dataplane codecs write', () => {
  it.each([
    [100, '52:54:00:12:34:56'],
    [0xffffff, 'AA:bb:CC:dd:EE:ff'],
    [1, '2:0:0:0:0:1'], // short form: the codec's path
    [0, '00:00:00:00:00:00'],
  ])('fdb key %i %s', (vni, mac) => {
    const [f, c] = both(
      fdbKey.size,
      (b) => encodeMacKey(vni, mac, b, 0),
      (b) => fdbKey.encode({ vni, mac }, b, 0),
    );
    expect(f).toBe(c);
  });

  it.each([
    '10.0.0.1',
    '255.255.255.255',
    '0.0.0.0',
    '192.168.1.20',
    'fd00::1',
    '2001:db8::a:b',
    '::ffff:10.0.0.1',
  ])('neighbour key of %s', (ip) => {
    const [f, c] = both(
      neighKey.size,
      (b) => encodeIpKey(7, ip, b, 0),
      (b) => neighKey.encode({ vni: 7, ip }, b, 0),
    );
    expect(f).toBe(c);
  });

  it.each([
    ['a bad MAC', () => encodeMacKey(1, '52:54:00:12:34:zz', Buffer.alloc(12), 0)],
    ['a VNI too big', () => encodeMacKey(0x1000000, '52:54:00:12:34:56', Buffer.alloc(12), 0)],
    ['an IPv4 with a leading zero', () => encodeIpKey(1, '10.0.0.01', Buffer.alloc(24), 0)],
    ['an IPv4 part above 255', () => encodeIpKey(1, '10.0.0.256', Buffer.alloc(24), 0)],
    ['not an IP', () => encodeIpKey(1, '10.0.0', Buffer.alloc(24), 0)],
    [
      'RARP of an IPv6',
      () => encodeFdbRemote('192.0.2.1', Buffer.alloc(fdbEntry.size), 0, 'fd00::1'),
    ],
    ['a neighbour MAC that is not one', () => encodeNeighEntry('nope', Buffer.alloc(8), 0)],
  ])('refuses %s as the codecs do (RangeError)', (_n, f) => {
    expect(f).toThrow(RangeError);
  });

  it('neighbour entries and FDB entries', () => {
    const [nf, nc] = both(
      8,
      (b) => encodeNeighEntry('52:54:00:ab:cd:ef', b, 0),
      (b) => neighEntry.encode('52:54:00:ab:cd:ef', b, 0),
    );
    expect(nf).toBe(nc);
    for (const v of [
      { kind: 'remote', nve: '192.0.2.2' },
      { kind: 'remote', nve: '2001:db8::2' },
      { kind: 'local', ifindex: 0x01020304 },
      { kind: 'moved', nve: '192.0.2.3', untilNs: 123_456_789_012n },
      { kind: 'dual', ifindex: 9, nve: '192.0.2.4' },
      { kind: 'remote', nve: '192.0.2.2', rarpIp4: '10.1.2.3' },
      { kind: 'local', ifindex: 7, rarpIp4: '10.1.2.4' },
      { kind: 'dual', ifindex: 9, nve: '192.0.2.4', rarpIp4: '10.1.2.5' },
    ] as const) {
      const [f, c] = both(
        fdbEntry.size,
        (b) => encodeFdbEntry(v, b, 0),
        (b) => fdbEntry.encode(v, b, 0),
      );
      expect(f, v.kind).toBe(c);
    }
    const [rf, rc] = both(
      fdbEntry.size,
      (b) => encodeFdbRemote('192.0.2.9', b, 0),
      (b) => fdbEntry.encode({ kind: 'remote', nve: '192.0.2.9' }, b, 0),
    );
    expect(rf).toBe(rc);
    const [af, ac] = both(
      fdbEntry.size,
      (b) => encodeFdbRemote('192.0.2.9', b, 0, '10.9.9.9'),
      (b) => fdbEntry.encode({ kind: 'remote', nve: '192.0.2.9', rarpIp4: '10.9.9.9' }, b, 0),
    );
    expect(af).toBe(ac);
  });
});
