// End to end, the other two announces of the issue: B moves and announces itself with an
// unsolicited Neighbor Advertisement (the stream runs over IPv6 then), and with QEMU's burst of
// five RARPs (the first one counts). As in the GARP test the move is announced by the
// orchestrator first, and NVE1's agent is paused across it (a slow peer), so NVE1 keeps sending to
// B's old NVE, which must re-tunnel.
import { describe, expect, it } from 'vitest';
import { useMobilityLab } from '../../helpers/mobility-lab.ts';
import type { AnnounceKind } from '../../../src/lab/announce.ts';
import { compareWithDirectory } from '../../../src/lab/mobility-check.ts';
import { analyzeStream, startReceiver, startSender } from '../../../src/lab/udp-stream.ts';

const STREAM_PPS = 1000;
const SLOW_PEER_MS = 300;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('e2e: moves announced by an unsolicited NA and by a RARP burst', () => {
  const env = useMobilityLab({
    vms: [
      { name: 'a', nve: 0 },
      { name: 'b', nve: 1 },
    ],
  });

  const cases: Array<{ kind: AnnounceKind; family: 'ipv4' | 'ipv6'; to: number }> = [
    { kind: 'na', family: 'ipv6', to: 2 },
    { kind: 'rarp', family: 'ipv4', to: 1 },
  ];

  it.each(cases)(
    'B moves to NVE$to announced by $kind over $family: re-tunnelled, nothing lost once announced',
    async ({ kind, family, to }) => {
      const a = env.lab.topo.vm('a');
      const b = env.lab.topo.vm('b');
      const from = b.nve;
      const rx = await startReceiver(b.ns, { family });
      const tx = await startSender(a.ns, family === 'ipv6' ? b.ipv6 : b.ipv4, {
        ratePps: STREAM_PPS,
      });
      await sleep(500);
      const retunnelBefore = env.lab.count(from, 'retunnel');
      env.lab.agents[0]!.child.kill('SIGSTOP');
      let move;
      try {
        move = await env.lab.move('b', to, { announce: kind, hint: true });
        await env.lab.waitFor(
          'the source to mark B moved',
          () => env.lab.fdb(from, b)?.kind === 'moved',
        );
        await sleep(SLOW_PEER_MS);
      } finally {
        env.lab.agents[0]!.child.kill('SIGCONT');
      }
      await env.lab.waitMoved(b, to);
      await sleep(500);
      const sent = await tx.stop();
      await sleep(100);
      const got = await rx.stop();
      const r = analyzeStream(sent, got, move.announcedAtMs[0]!);

      const e = await env.lab.entry(b);
      expect(e?.nveId).toBe(env.lab.nveId(to));
      expect(e!.seq).toBeGreaterThan(move.seqBefore);
      if (kind === 'rarp') {
        // QEMU's five frames went out, and the first one is what registered B.
        expect(move.announcedAtMs).toHaveLength(5);
        expect(e!.changedAtMs).toBeLessThan(move.announcedAtMs[1]!);
      }
      expect(env.lab.fdb(0, b)).toEqual({
        kind: 'remote',
        nve: env.lab.nveAddr(to),
        rarpIp4: b.ipv4,
      });
      expect(env.lab.fdb(to, b)).toMatchObject({ kind: 'local', ifindex: b.tsiIfindex });
      expect(env.lab.count(from, 'retunnel') - retunnelBefore).toBeGreaterThan(0);
      expect(sent.errors).toBe(0);
      expect(r.lostAfter).toBe(0);
      expect(r.lastArrivalMs).toBeGreaterThan(move.announcedAtMs[0]! + SLOW_PEER_MS);
      expect(await compareWithDirectory(env.lab, b.vni)).toEqual([]);
    },
  );
});
