// End to end soak: one VM moved back and forth among the three NVEs many times, each move
// announced by the orchestrator (roam vm move, so duplicate detection stays quiet) and by the
// VM's gratuitous ARP, with an NVA restart and an agent kill -9 + restart along the way. After
// it, every NVE's tables equal the directory, the directory's sequence number counted every
// move, and the VM answers from everywhere (EVPN stacks are reported to stop following a VM
// after a few dozen migrations or restarts). The issue asks 1,000 moves; one move takes about
// 0.55 s here (namespace plumbing, the announce, convergence everywhere), so the default is 100
// (about a minute); ROAM_SOAK_MOVES=1000 runs the full soak (about 9 minutes). See docs/demo.md.
import { describe, expect, it } from 'vitest';
import { useMobilityLab } from '../../helpers/mobility-lab.ts';
import { compareWithDirectory } from '../../../src/lab/mobility-check.ts';
import { ping } from '../../../src/lab/probes.ts';

const SOAK_MOVES = Number(process.env.ROAM_SOAK_MOVES ?? 100);
/** Budget per move (ms, about 3x what one takes): the test's timeout scales with the count. */
const SOAK_MOVE_MS = 1500;
const PINGS = 3;

describe('e2e: soak of moves with an NVA restart and an agent restart', () => {
  const env = useMobilityLab({
    vms: [
      { name: 'a', nve: 0 },
      { name: 'b', nve: 1 },
      { name: 'c', nve: 2 },
    ],
  });

  it(
    `${SOAK_MOVES} moves of one VM: tables equal the directory, reachable from everywhere`,
    async () => {
      const a = env.lab.topo.vm('a');
      const b = env.lab.topo.vm('b');
      const c = env.lab.topo.vm('c');
      const seq0 = (await env.lab.entry(b))!.seq;
      const t0 = Date.now();
      for (let k = 1; k <= SOAK_MOVES; k++) {
        const to = (b.nve + 1 + (k % 2)) % 3;
        await env.lab.move('b', to, { announce: 'garp', hint: true });
        await env.lab.waitMoved(b, to);
        if (k === Math.floor(SOAK_MOVES / 3)) {
          await env.lab.stopNva('SIGTERM');
          await env.lab.startNva();
          await env.lab.waitConverged();
        }
        if (k === Math.floor((2 * SOAK_MOVES) / 3)) {
          await env.lab.killAgent(b.nve);
          await env.lab.startAgent(b.nve);
          await env.lab.waitConverged();
        }
      }
      const perMoveMs = (Date.now() - t0) / SOAK_MOVES;
      console.info(`soak: ${SOAK_MOVES} moves, ${perMoveMs.toFixed(0)} ms per move`);

      const e = await env.lab.entry(b);
      expect(e?.nveId).toBe(env.lab.nveId(b.nve));
      expect(e?.seq).toBe(seq0 + SOAK_MOVES);
      expect(e?.state).toBe('ENTRY_STATE_ACTIVE');
      expect(await compareWithDirectory(env.lab, b.vni)).toEqual([]);
      expect(ping(a, b.ipv4, PINGS)).toBe(PINGS);
      expect(ping(c, b.ipv4, PINGS)).toBe(PINGS);
      expect(ping(b, a.ipv4, PINGS)).toBe(PINGS);
      expect(ping(a, b.ipv6, PINGS)).toBe(PINGS);
    },
    60_000 + SOAK_MOVES * SOAK_MOVE_MS,
  );
});
