// End to end, the first scenario: VM B on NVE2 receives a continuous UDP stream from VM A
// on NVE1. The orchestrator says "B migrates NVE2 -> NVE3" (roam vm move, as OpenStack does
// before a live migration), B's TSI is removed at NVE2 and recreated at NVE3 (same MAC and
// IPs), and B announces itself with a gratuitous ARP. NVE1's agent is paused across the move (a
// slow peer), so frames keep reaching NVE2 after it learnt the move: NVE2 must re-tunnel them.
// Real agents, a real NVA, real XDP, real namespaces.
import { describe, expect, it } from 'vitest';
import { useMobilityLab } from '../../helpers/mobility-lab.ts';
import { garpFrame, sendFrames } from '../../../src/lab/announce.ts';
import { analyzeStream, startReceiver, startSender } from '../../../src/lab/udp-stream.ts';

const STREAM_PPS = 1000;
/** How long NVE1's agent stays paused after NVE2 has learnt the move (ms). */
const SLOW_PEER_MS = 300;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('e2e: a VM moves and announces itself with a gratuitous ARP', () => {
  const env = useMobilityLab({
    vms: [
      { name: 'a', nve: 0 },
      { name: 'b', nve: 1 },
      // Never provisioned: whatever it claims must change nothing.
      { name: 'rogue', nve: 0, provisioned: false },
    ],
  });

  it("an unprovisioned VM's GARP for B's IP changes nothing", async () => {
    const b = env.lab.topo.vm('b');
    const rogue = env.lab.topo.vm('rogue');
    const before = await env.lab.entry(b);
    const neighBefore = env.lab.tables(0).tables.neigh.get({ vni: b.vni, ip: b.ipv4 });
    expect(neighBefore).toBe(b.mac);
    await sendFrames(rogue, [garpFrame(rogue.mac, b.ipv4)]);
    await sleep(300);
    expect(await env.lab.entry(b)).toEqual(before);
    const rogueEntry = await env.lab.entry(rogue);
    expect(rogueEntry === undefined || rogueEntry.state !== 'ENTRY_STATE_ACTIVE').toBe(true);
    for (let i = 0; i < 3; i++) {
      expect(env.lab.tables(i).tables.neigh.get({ vni: b.vni, ip: b.ipv4 })).toBe(b.mac);
      expect(env.lab.fdb(i, rogue)?.kind ?? 'none').not.toBe('remote');
    }
  });

  it('moves B from NVE2 to NVE3 under a stream: no datagram lost once B announced itself', async () => {
    const a = env.lab.topo.vm('a');
    const b = env.lab.topo.vm('b');
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
    await sleep(500);
    const sent = await tx.stop();
    await sleep(100);
    const got = await rx.stop();
    const announcedAt = move.announcedAtMs[0]!;
    const r = analyzeStream(sent, got, announcedAt);

    // The directory: B at NVE3, registered with a higher sequence number.
    const e = await env.lab.entry(b);
    expect(e?.nveId).toBe('nve3');
    expect(e?.nveAddr).toBe(env.lab.nveAddr(2));
    expect(e!.seq).toBeGreaterThan(move.seqBefore);
    // NVE1 encapsulates to NVE3; NVE3 delivers locally; NVE2 re-tunnels what still reaches it.
    expect(env.lab.fdb(0, b)).toEqual({ kind: 'remote', nve: env.lab.nveAddr(2), rarpIp4: b.ipv4 });
    expect(env.lab.fdb(2, b)).toMatchObject({ kind: 'local', ifindex: b.tsiIfindex });
    expect(env.lab.fdb(1, b)).toMatchObject({ kind: 'moved', nve: env.lab.nveAddr(2) });
    expect(env.lab.count(1, 'retunnel') - retunnelBefore).toBeGreaterThan(0);
    // The stream: it ran, lost datagrams only while B was between NVEs, none sent after B's
    // announce, and still reached B at NVE3 afterwards (through NVE2's re-tunnel while NVE1 was
    // paused, then directly).
    expect(sent.sent).toBeGreaterThan(STREAM_PPS);
    expect(sent.errors).toBe(0);
    expect(r.gaps.every((g) => g.sentAtMs < announcedAt)).toBe(true);
    expect(r.lostAfter).toBe(0);
    expect(r.lastArrivalMs).toBeGreaterThan(announcedAt + SLOW_PEER_MS);
  });
});
