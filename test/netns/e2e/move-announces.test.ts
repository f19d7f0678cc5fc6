// End to end, the other two announces of the issue: B moves and announces itself with an
// unsolicited Neighbor Advertisement (the stream runs over IPv6 then), and with QEMU's burst of
// five RARPs (the first one counts). As in the GARP test the move is announced by the
// orchestrator first, and NVE1's agent is paused across it (a slow peer), so NVE1 keeps sending to
// B's old NVE, which must re-tunnel.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyAll } from '../../helpers/netns.ts';
import { MobilityLab } from '../../../src/lab/mobility-lab.ts';
import type { AnnounceKind } from '../../../src/lab/announce.ts';
import { compareWithDirectory } from '../../../src/lab/mobility-check.ts';
import { analyzeStream, startReceiver, startSender } from '../../../src/lab/udp-stream.ts';

const STREAM_PPS = 1000;
const SLOW_PEER_MS = 300;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('e2e: moves announced by an unsolicited NA and by a RARP burst', () => {
  let lab: MobilityLab;

  beforeAll(async () => {
    lab = await MobilityLab.start({
      vms: [
        { name: 'a', nve: 0 },
        { name: 'b', nve: 1 },
      ],
    });
  });

  afterAll(async () => {
    await lab?.destroy();
    destroyAll();
  });

  const cases: Array<{ kind: AnnounceKind; family: 'ipv4' | 'ipv6'; to: number }> = [
    { kind: 'na', family: 'ipv6', to: 2 },
    { kind: 'rarp', family: 'ipv4', to: 1 },
  ];

  it.each(cases)(
    'B moves to NVE$to announced by $kind over $family: re-tunnelled, nothing lost once announced',
    async ({ kind, family, to }) => {
      const a = lab.topo.vm('a');
      const b = lab.topo.vm('b');
      const from = b.nve;
      const rx = await startReceiver(b.ns, { family });
      const tx = await startSender(a.ns, family === 'ipv6' ? b.ipv6 : b.ipv4, {
        ratePps: STREAM_PPS,
      });
      await sleep(500);
      const retunnelBefore = lab.count(from, 'retunnel');
      lab.agents[0]!.child.kill('SIGSTOP');
      let move;
      try {
        move = await lab.move('b', to, { announce: kind, hint: true });
        await lab.waitFor('the source to mark B moved', () => lab.fdb(from, b)?.kind === 'moved');
        await sleep(SLOW_PEER_MS);
      } finally {
        lab.agents[0]!.child.kill('SIGCONT');
      }
      await lab.waitMoved(b, to);
      await sleep(500);
      const sent = await tx.stop();
      await sleep(100);
      const got = await rx.stop();
      const r = analyzeStream(sent, got, move.announcedAtMs[0]!);

      const e = await lab.entry(b);
      expect(e?.nveId).toBe(lab.nveId(to));
      expect(e!.seq).toBeGreaterThan(move.seqBefore);
      if (kind === 'rarp') {
        // QEMU's five frames went out, and the first one is what registered B.
        expect(move.announcedAtMs).toHaveLength(5);
        expect(e!.changedAtMs).toBeLessThan(move.announcedAtMs[1]!);
      }
      expect(lab.fdb(0, b)).toEqual({ kind: 'remote', nve: lab.nveAddr(to), rarpIp4: b.ipv4 });
      expect(lab.fdb(to, b)).toMatchObject({ kind: 'local', ifindex: b.tsiIfindex });
      expect(lab.count(from, 'retunnel') - retunnelBefore).toBeGreaterThan(0);
      expect(sent.errors).toBe(0);
      expect(r.lostAfter).toBe(0);
      expect(r.lastArrivalMs).toBeGreaterThan(move.announcedAtMs[0]! + SLOW_PEER_MS);
      expect(await compareWithDirectory(lab, b.vni)).toEqual([]);
    },
  );
});
