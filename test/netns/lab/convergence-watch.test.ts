// The convergence watch of bench:move and the demo (src/lab/mobility-convergence.ts): each NVE's
// instant is when its map changed, read on the watcher's own thread, so the lab's thread being
// blocked (it runs `ip` and `nft` synchronously during a move) does not delay it.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { useMobilityLab } from '../../helpers/mobility-lab.ts';
import { announce } from '../../../src/lab/announce.ts';
import { watchConvergence } from '../../../src/lab/mobility-convergence.ts';

/** How long the lab's thread is blocked right after the announce (ms). */
const BLOCK_MS = 400;

describe('lab: convergence watch', () => {
  const env = useMobilityLab({
    vms: [
      { name: 'a', nve: 0 },
      { name: 'b', nve: 1 },
    ],
  });

  it("records each NVE's instant while the lab's thread is blocked", async () => {
    const b = env.lab.topo.vm('b');
    const watch = await watchConvergence(env.lab, b, 2);
    await env.lab.admin.move({
      vni: b.vni,
      mac: b.mac,
      toNve: env.lab.nveId(2),
      fromNve: env.lab.nveId(1),
    });
    env.lab.topo.moveVm('b', 2);
    await env.lab.waitTsiAttached(b);
    // the announce's sender is spawned now; the lab's thread then blocks while it sends
    const sent = announce(b, 'garp');
    execFileSync('sleep', [String(BLOCK_MS / 1000)]);
    const blockedUntil = performance.timeOrigin + performance.now();
    const [announcedAt] = await sent;
    await env.lab.waitMoved(b, 2);
    const at = await watch.done;
    expect([...at.keys()].sort()).toEqual([0, 1, 2]);
    // The peer (NVE1) learns the move from the NVA after the announce: its instant is after the
    // announce and, seen from the watcher's thread, not pushed to the end of the block.
    const peer = at.get(0)!;
    expect(peer).toBeGreaterThan(announcedAt!);
    expect(peer).toBeLessThan(blockedUntil - BLOCK_MS / 2);
    // The hint made the source and the destination follow before the announce.
    expect(at.get(1)!).toBeLessThanOrEqual(announcedAt!);
    expect(at.get(2)!).toBeLessThanOrEqual(announcedAt!);
    expect(env.lab.fdb(0, b)).toMatchObject({ kind: 'remote', nve: env.lab.nveAddr(2) });
  });

  it("bench:move's order: the watch, a move holding the VM quiet, release once converged", async () => {
    const b = env.lab.topo.vm('b');
    const quietTable = () => b.ns.run('nft', ['list', 'tables']).includes('roamquiet');
    const watch = await watchConvergence(env.lab, b, 1);
    const m = await env.lab.move('b', 1, { announce: 'garp', hint: true, holdQuiet: true });
    const at = await watch.done;
    expect([...at.keys()].sort()).toEqual([0, 1, 2]);
    expect(at.get(0)!).toBeGreaterThan(m.announcedAtMs[0]!);
    // the VM's own output is still dropped until the bench releases it
    expect(quietTable()).toBe(true);
    env.lab.release(b);
    expect(quietTable()).toBe(false);
    env.lab.release(b); // a second release is a no-op
    await env.lab.waitMoved(b, 1);
    // a move without holdQuiet lets the VM out itself
    await env.lab.move('b', 2, { announce: 'garp', hint: true });
    expect(quietTable()).toBe(false);
    await env.lab.waitMoved(b, 2);
  });

  it('a second watch on the same thread works, and stop() ends one early', async () => {
    const b = env.lab.topo.vm('b');
    const w = await watchConvergence(env.lab, b, 1);
    w.stop();
    const at = await w.done;
    // b is still at NVE3: nobody follows a move to NVE2 that did not happen
    expect(at.size).toBe(0);
  });
});
