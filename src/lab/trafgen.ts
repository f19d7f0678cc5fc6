// The benchmark's packet generator: trafgen (netsniff-ng) inside a VM namespace, one process
// pinned to one core, sending one 64-byte UDP flow as fast as it can through PACKET_MMAP (the
// qdisc bypassed). It touches nothing outside the namespace: no IRQ affinity (--notouch-irq) and no
// socket-memory sysctls (--no-sock-mem).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { VmNode } from './topology.ts';

/** Ethernet frame size without FCS: 64 bytes on the wire. */
export const FRAME_BYTES = 60;
const ETH_IP_UDP_HEADER_BYTES = 14 + 20 + 8;
const SRC_PORT = 9000;
const DST_PORT = 9001;
const STOP_TIMEOUT_MS = 5000;

/** A trafgen packet description of one UDP frame from `from` to `to` (IPv4, checksums set). */
export function udpFrameConfig(from: VmNode, to: VmNode, frameBytes = FRAME_BYTES): string {
  const pad = frameBytes - ETH_IP_UDP_HEADER_BYTES;
  if (pad < 0) throw new Error(`a UDP frame needs at least ${ETH_IP_UDP_HEADER_BYTES} bytes`);
  return [
    '{',
    `  eth(da=${to.mac}, sa=${from.mac}),`,
    `  ipv4(sa=${from.ipv4}, da=${to.ipv4}, ttl=64),`,
    `  udp(sp=${SRC_PORT}, dp=${DST_PORT}),`,
    `  fill(0x00, ${pad})`,
    '}',
    '',
  ].join('\n');
}

/** A running generator; stop() ends it and resolves once it has exited. */
export class Trafgen {
  private readonly exited: Promise<number | null>;
  private stderr = '';

  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    child.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
  }

  /**
   * Start sending from `from` to `to` on `cpu` (a core number). `nice` (default 0; the
   * benchmark uses -20) raises its CPU share against other work on a shared machine: the
   * whole forwarding path runs in softirq on the sender's core, so that share is the pps.
   */
  static start(from: VmNode, to: VmNode, cpu: number, nice = 0): Trafgen {
    const dir = mkdtempSync(join(tmpdir(), 'roam-trafgen-'));
    const conf = join(dir, 'udp.cfg');
    writeFileSync(conf, udpFrameConfig(from, to));
    // `ip netns exec` and taskset exec in place: the child is trafgen itself.
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        from.ns.name,
        'nice',
        '-n',
        String(nice),
        'taskset',
        '-c',
        String(cpu),
        'trafgen',
        '--dev',
        from.ifname,
        '--conf',
        conf,
        '--cpus',
        '1',
        '--gap',
        '0',
        '--notouch-irq',
        '--no-sock-mem',
        '--no-cpu-stats',
      ],
      // Its own process group: trafgen forks its sender, and a signal must reach both.
      { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
    );
    const gen = new Trafgen(child, dir);
    running.add(gen);
    return gen;
  }

  /** True while trafgen runs (it exits at once on a bad config or device). */
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get errors(): string {
    return this.stderr;
  }

  /** Process group id of trafgen (its parent and forked sender). */
  get pgid(): number | undefined {
    return this.child.pid;
  }

  /** Signal trafgen's process group (the parent and its forked sender). */
  signal(sig: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, sig);
    } catch {
      // the group is gone already
    }
  }

  /** Stop with SIGINT (trafgen's own clean exit), SIGKILL if it lingers. */
  async stop(): Promise<void> {
    if (this.running) {
      this.signal('SIGINT');
      const timer = setTimeout(() => this.signal('SIGKILL'), STOP_TIMEOUT_MS);
      await this.exited;
      clearTimeout(timer);
    }
    // The forked sender may outlive the parent by a moment: make sure it is gone.
    this.signal('SIGKILL');
    this.child.stderr?.destroy();
    running.delete(this);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const running = new Set<Trafgen>();
// A crashed or interrupted run must not leave a sender spinning in a namespace.
process.once('exit', () => {
  for (const g of running) g.signal('SIGKILL');
});
