// The benchmark's trafgen packet description: one 64-byte (60 + FCS) UDP frame from a to b.
import { describe, expect, it } from 'vitest';
import { FRAME_BYTES, udpFrameConfig } from '../../../src/lab/trafgen.ts';
import type { VmNode } from '../../../src/lab/topology.ts';

const vm = (mac: string, ipv4: string) => ({ mac, ipv4 }) as VmNode;

describe('udpFrameConfig', () => {
  it('describes one UDP frame of 60 bytes between the two VMs', () => {
    const cfg = udpFrameConfig(
      vm('02:00:00:00:64:01', '10.1.0.1'),
      vm('02:00:00:00:64:02', '10.1.0.2'),
    );
    expect(cfg).toContain('eth(da=02:00:00:00:64:02, sa=02:00:00:00:64:01)');
    expect(cfg).toContain('ipv4(sa=10.1.0.1, da=10.1.0.2, ttl=64)');
    // 14 Ethernet + 20 IPv4 + 8 UDP + 18 padding = 60
    expect(cfg).toContain(`fill(0x00, ${FRAME_BYTES - 42})`);
  });

  it('refuses a frame too short for its headers', () => {
    expect(() =>
      udpFrameConfig(vm('02:00:00:00:00:01', '1.1.1.1'), vm('02:00:00:00:00:02', '1.1.1.2'), 40),
    ).toThrow(/at least 42 bytes/);
  });
});
