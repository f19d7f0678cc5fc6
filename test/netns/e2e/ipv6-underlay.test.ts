// End to end over an IPv6 underlay: the NVEs tunnel to each other's IPv6 addresses (VXLAN over
// IPv6, re-tunnelling included) and a move behaves as over IPv4.
import { describe, expect, it } from 'vitest';
import { useMobilityLab } from '../../helpers/mobility-lab.ts';
import { compareWithDirectory } from '../../../src/lab/mobility-check.ts';
import { analyzeStream, startReceiver, startSender } from '../../../src/lab/udp-stream.ts';

const STREAM_PPS = 1000;
const SLOW_PEER_MS = 300;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('e2e: a move over an IPv6 underlay', () => {
  const env = useMobilityLab({
    family: 'ipv6',
    vms: [
      { name: 'a', nve: 0 },
      { name: 'b', nve: 1 },
    ],
  });

  it('B moves NVE2 -> NVE3: IPv6 tunnels, re-tunnelled over IPv6, nothing lost once announced', async () => {
    const a = env.lab.topo.vm('a');
    const b = env.lab.topo.vm('b');
    expect(env.lab.fdb(0, b)).toEqual({
      kind: 'remote',
      nve: env.lab.topo.nve(1).ipv6,
      rarpIp4: b.ipv4,
    });
    const rx = await startReceiver(b.ns);
    const tx = await startSender(a.ns, b.ipv4, { ratePps: STREAM_PPS });
    await sleep(500);
    const retunnelBefore = env.lab.count(1, 'retunnel');
    env.lab.agents[0]!.child.kill('SIGSTOP');
    let move;
    try {
      move = await env.lab.move('b', 2, { announce: 'garp', hint: true });
      await env.lab.waitFor('NVE2 to mark B moved', () => env.lab.fdb(1, b)?.kind === 'moved');
      await sleep(SLOW_PEER_MS);
    } finally {
      env.lab.agents[0]!.child.kill('SIGCONT');
    }
    await env.lab.waitMoved(b, 2);
    await sleep(300);
    const sent = await tx.stop();
    await sleep(100);
    const r = analyzeStream(sent, await rx.stop(), move.announcedAtMs[0]!);

    const e = await env.lab.entry(b);
    expect(e?.nveAddr).toBe(env.lab.topo.nve(2).ipv6);
    expect(env.lab.fdb(0, b)).toEqual({
      kind: 'remote',
      nve: env.lab.topo.nve(2).ipv6,
      rarpIp4: b.ipv4,
    });
    expect(env.lab.fdb(1, b)).toMatchObject({ kind: 'moved', nve: env.lab.topo.nve(2).ipv6 });
    expect(env.lab.count(1, 'retunnel') - retunnelBefore).toBeGreaterThan(0);
    expect(r.lostAfter).toBe(0);
    expect(r.lastArrivalMs).toBeGreaterThan(move.announcedAtMs[0]! + SLOW_PEER_MS);
    expect(await compareWithDirectory(env.lab, b.vni)).toEqual([]);
  });
});
