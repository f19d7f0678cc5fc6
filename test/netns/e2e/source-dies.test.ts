// End to end: the source NVE dies outright (its namespace deleted, as when a host fails and the
// VM is restarted elsewhere): no withdraw, no hand-over, no re-tunnelling. B comes up at NVE3 and
// announces itself; the move converges through the NVA alone and the stream reaches B again.
import { describe, expect, it } from 'vitest';
import { useMobilityLab } from '../../helpers/mobility-lab.ts';
import { compareWithDirectory } from '../../../src/lab/mobility-check.ts';
import { analyzeStream, startReceiver, startSender } from '../../../src/lab/udp-stream.ts';

const STREAM_PPS = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('e2e: the source NVE dies', () => {
  const env = useMobilityLab({
    vms: [
      { name: 'a', nve: 0 },
      { name: 'b', nve: 1 },
    ],
  });

  it('B restarts at NVE3 after NVE2 vanished: directory and NVE1 follow, the stream resumes', async () => {
    const a = env.lab.topo.vm('a');
    const b = env.lab.topo.vm('b');
    const rx = await startReceiver(b.ns);
    const tx = await startSender(a.ns, b.ipv4, { ratePps: STREAM_PPS });
    await sleep(300);
    // NVE2's host fails: its agent and its whole namespace go (B's interface with it).
    await env.lab.killAgent(1, 'SIGKILL', true);
    env.lab.topo.nve(1).ns.destroy();
    // The kernel tears a deleted namespace's devices down asynchronously: B's end goes a moment
    // later.
    await env.lab.waitFor('B to lose its interface', () => {
      try {
        b.ns.ip('link', 'show', 'dev', b.ifname);
        return false;
      } catch {
        return true;
      }
    });
    const m = await env.lab.move('b', 2, { announce: 'garp' });
    await env.lab.waitMoved(b, 2);
    await sleep(500);
    const sent = await tx.stop();
    await sleep(100);
    const r = analyzeStream(sent, await rx.stop(), m.announcedAtMs[0]!);

    const e = await env.lab.entry(b);
    expect(e?.nveId).toBe('nve3');
    expect(e!.seq).toBeGreaterThan(m.seqBefore);
    expect(env.lab.fdb(0, b)).toEqual({ kind: 'remote', nve: env.lab.nveAddr(2), rarpIp4: b.ipv4 });
    expect(env.lab.fdb(2, b)).toMatchObject({ kind: 'local', ifindex: b.tsiIfindex });
    expect(r.reachable).toBeDefined();
    expect(r.lostAfterReachable).toBe(0);
    expect(await compareWithDirectory(env.lab, b.vni)).toEqual([]);
  });
});
