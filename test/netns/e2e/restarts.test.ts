// End to end: the control plane fails under traffic and no datagram is lost. The NVA is killed
// and restarted mid-stream (the NVEs forward on their last tables meanwhile, then resync); NVE
// agents are killed with SIGKILL mid-stream (maps and links are pinned: the dataplane keeps
// forwarding, and the new agent re-adopts them and resyncs). Afterwards every NVE's tables equal
// the directory and a move still converges.
import { describe, expect, it } from 'vitest';
import { useMobilityLab } from '../../helpers/mobility-lab.ts';
import { compareWithDirectory } from '../../../src/lab/mobility-check.ts';
import { analyzeStream, startReceiver, startSender } from '../../../src/lab/udp-stream.ts';

const STREAM_PPS = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('e2e: NVA restart and agent kill -9 under traffic', () => {
  const env = useMobilityLab({
    vms: [
      { name: 'a', nve: 0 },
      { name: 'b', nve: 1 },
    ],
  });

  /** Run `during` while A streams to B; returns the stream's result. */
  async function underStream(during: () => Promise<void>) {
    const a = env.lab.topo.vm('a');
    const b = env.lab.topo.vm('b');
    const rx = await startReceiver(b.ns);
    const tx = await startSender(a.ns, b.ipv4, { ratePps: STREAM_PPS });
    try {
      await sleep(300);
      await during();
      await sleep(300);
    } catch (err) {
      tx.kill();
      rx.kill();
      throw err;
    }
    const sent = await tx.stop();
    await sleep(100);
    return { sent, r: analyzeStream(sent, await rx.stop()) };
  }

  it('the NVA is killed and restarted mid-stream: nothing lost, everyone resyncs', async () => {
    const b = env.lab.topo.vm('b');
    const entryBefore = await env.lab.entry(b);
    const { sent, r } = await underStream(async () => {
      await env.lab.stopNva('SIGKILL');
      await sleep(500);
      await env.lab.startNva();
      await env.lab.waitConverged();
    });
    expect(sent.sent).toBeGreaterThan(STREAM_PPS);
    expect(r.lost).toBe(0);
    expect(await env.lab.entry(b)).toEqual(entryBefore);
    expect(await compareWithDirectory(env.lab, b.vni)).toEqual([]);
  });

  it('both agents of the stream are killed -9 and restarted mid-stream: nothing lost', async () => {
    const b = env.lab.topo.vm('b');
    const fdbBefore = [0, 1, 2].map((i) => env.lab.fdb(i, b));
    const { sent, r } = await underStream(async () => {
      await env.lab.killAgent(0);
      await env.lab.killAgent(1);
      await sleep(500);
      // Nothing installed went away with them.
      expect([0, 1, 2].map((i) => env.lab.fdb(i, b))).toEqual(fdbBefore);
      await env.lab.startAgent(0);
      await env.lab.startAgent(1);
      await env.lab.waitConverged();
    });
    expect(sent.sent).toBeGreaterThan(STREAM_PPS);
    expect(r.lost).toBe(0);
    expect(await compareWithDirectory(env.lab, b.vni)).toEqual([]);
  });

  it('after both, a move still converges everywhere', async () => {
    const b = env.lab.topo.vm('b');
    const m = await env.lab.move('b', 2, { announce: 'garp', hint: true });
    await env.lab.waitMoved(b, 2);
    const e = await env.lab.entry(b);
    expect(e?.nveId).toBe('nve3');
    expect(e!.seq).toBeGreaterThan(m.seqBefore);
    expect(env.lab.fdb(0, b)).toEqual({ kind: 'remote', nve: env.lab.nveAddr(2), rarpIp4: b.ipv4 });
    expect(await compareWithDirectory(env.lab, b.vni)).toEqual([]);
  });
});
