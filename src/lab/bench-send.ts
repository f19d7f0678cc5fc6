// A fixed number of the benchmark generator's frames, for checks that a forwarder really
// delivers them (the benchmark itself runs trafgen until stopped, src/lab/trafgen.ts).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { udpFrameConfig } from './trafgen.ts';
import type { VmNode } from './topology.ts';

const SEND_TIMEOUT_MS = 10_000;

/**
 * Send `count` 64-byte UDP frames from `from` to `to` (its MAC and IPv4, e.g. a gateway MAC
 * with a routed destination) with trafgen, the same frame the benchmark sends; returns when sent.
 */
export function sendUdpFrames(from: VmNode, to: VmNode, count: number): void {
  const dir = mkdtempSync(join(tmpdir(), 'roam-send-'));
  try {
    const conf = join(dir, 'udp.cfg');
    writeFileSync(conf, udpFrameConfig(from, to));
    from.ns.run(
      'trafgen',
      [
        '--dev',
        from.ifname,
        '--conf',
        conf,
        '--cpus',
        '1',
        '--num',
        String(count),
        '--notouch-irq',
        '--no-sock-mem',
        '--no-cpu-stats',
      ],
      { timeoutMs: SEND_TIMEOUT_MS },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
