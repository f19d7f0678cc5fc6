// The announce frames, byte for byte against what the protocols (and QEMU) send.
import { describe, expect, it } from 'vitest';
import {
  announceFrames,
  garpFrame,
  ipv6Bytes,
  rarpFrame,
  unsolicitedNaFrame,
} from '../../../src/lab/announce.ts';

const MAC = '02:00:00:00:64:02';

/** RFC 1071 sum over the ICMPv6 message and its pseudo-header: 0xffff when the checksum is right. */
function icmpv6Verify(frame: Buffer): number {
  const ip6 = frame.subarray(14, 54);
  const icmp = frame.subarray(54);
  const pseudo = Buffer.alloc(40);
  ip6.copy(pseudo, 0, 8, 40);
  pseudo.writeUInt32BE(icmp.length, 32);
  pseudo[39] = 58;
  const all = Buffer.concat([pseudo, icmp]);
  let sum = 0;
  for (let i = 0; i < all.length; i += 2) sum += all.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

describe('announce frames', () => {
  it('GARP: broadcast ARP request with sender IP = target IP', () => {
    const f = garpFrame(MAC, '10.1.0.2');
    expect(f.length).toBe(60);
    expect(f.subarray(0, 14).toString('hex')).toBe('ffffffffffff' + '020000006402' + '0806');
    expect(f.subarray(14, 22).toString('hex')).toBe('0001080006040001');
    expect(f.subarray(22, 28).toString('hex')).toBe('020000006402');
    expect(f.subarray(28, 32).toString('hex')).toBe('0a010002');
    expect(f.subarray(32, 38).toString('hex')).toBe('000000000000');
    expect(f.subarray(38, 42).toString('hex')).toBe('0a010002');
  });

  it("RARP: QEMU's announce (ethertype 0x8035, op 3, sender = target = MAC, no IPs)", () => {
    const f = rarpFrame(MAC);
    expect(f.length).toBe(60);
    expect(f.readUInt16BE(12)).toBe(0x8035);
    expect(f.readUInt16BE(20)).toBe(3);
    expect(f.subarray(22, 28).toString('hex')).toBe('020000006402');
    expect(f.subarray(28, 32).toString('hex')).toBe('00000000');
    expect(f.subarray(32, 38).toString('hex')).toBe('020000006402');
    expect(f.subarray(38, 42).toString('hex')).toBe('00000000');
  });

  it('unsolicited NA: all-nodes, hop limit 255, Override, target = own IP, valid checksum', () => {
    const f = unsolicitedNaFrame(MAC, 'fd01:0::2');
    expect(f.subarray(0, 6).toString('hex')).toBe('333300000001');
    expect(f.readUInt16BE(12)).toBe(0x86dd);
    expect(f[14 + 6]).toBe(58);
    expect(f[14 + 7]).toBe(255);
    expect(f.subarray(14 + 24, 14 + 40)).toEqual(ipv6Bytes('ff02::1'));
    const icmp = f.subarray(54);
    expect(icmp[0]).toBe(136);
    expect(icmp.readUInt32BE(4)).toBe(0x2000_0000);
    expect(icmp.subarray(8, 24)).toEqual(ipv6Bytes('fd01::2'));
    expect(icmp.subarray(24, 32).toString('hex')).toBe('0201' + '020000006402');
    expect(icmpv6Verify(f)).toBe(0xffff);
  });

  it('parses IPv6 text forms', () => {
    expect(ipv6Bytes('::1').toString('hex')).toBe('0'.repeat(31) + '1');
    expect(ipv6Bytes('fd99::3').toString('hex')).toBe('fd99' + '0'.repeat(27) + '3');
    expect(() => ipv6Bytes('10.0.0.1')).toThrow(/not an IPv6/);
  });

  it('QEMU announces with 5 RARPs over about half a second', () => {
    const { frames, gapsMs } = announceFrames(
      { mac: MAC, ipv4: '10.1.0.2', ipv6: 'fd01::2' },
      'rarp',
    );
    expect(frames).toHaveLength(5);
    expect(gapsMs.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(500);
  });
});
