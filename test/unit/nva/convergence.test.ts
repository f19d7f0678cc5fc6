import { describe, expect, it } from 'vitest';
import { ConvergenceTracker } from '../../../src/nva/convergence.ts';
import type { ConvergenceRecord } from '../../../src/nva/model.ts';

function tracker(timeoutMs = 1000) {
  let now = 1000;
  const done: ConvergenceRecord[] = [];
  const t = new ConvergenceTracker({ now: () => now, timeoutMs, onConverged: (r) => done.push(r) });
  return { t, done, advance: (ms: number) => (now += ms) };
}

describe('ConvergenceTracker', () => {
  it('converges when the last NVE acks a revision at or past the change', () => {
    const { t, done, advance } = tracker();
    t.track(5, 100, 'm', 1000, ['a', 'b', 'c']);
    advance(3);
    t.ack('a', 5);
    t.ack('b', 7); // later revision covers it
    expect(done).toEqual([]);
    advance(4);
    t.ack('c', 5);
    expect(done).toEqual([
      {
        revision: 5,
        vni: 100,
        mac: 'm',
        registeredAt: 1000,
        convergedAt: 1007,
        durationMs: 7,
        nves: 3,
      },
    ]);
  });

  it('an ack below the revision does not count; one ack can finish several changes', () => {
    const { t, done } = tracker();
    t.track(5, 100, 'm1', 1000, ['a']);
    t.track(6, 100, 'm2', 1000, ['a']);
    t.ack('a', 4);
    expect(done).toEqual([]);
    t.ack('a', 6);
    expect(done.map((r) => r.revision)).toEqual([5, 6]);
  });

  it('NVEs that already acked further, or none at all, converge at once', () => {
    const { t, done } = tracker();
    t.ack('a', 10);
    t.track(8, 100, 'm', 1000, ['a']);
    t.track(9, 100, 'm', 1000, []);
    expect(done.map((r) => [r.revision, r.nves])).toEqual([
      [8, 0],
      [9, 0],
    ]);
  });

  it('a disconnected NVE stops being waited for; unacked changes expire', () => {
    const { t, done, advance } = tracker(1000);
    t.track(5, 100, 'm', 1000, ['a', 'b']);
    t.ack('a', 5);
    t.forget('b');
    expect(done.map((r) => r.revision)).toEqual([5]);
    t.track(6, 100, 'm', 1000, ['a']);
    advance(1001);
    expect(t.pendingCount()).toBe(0);
    expect(t.expired()).toBe(1);
  });

  it('an NVE counts only for changes made while it served; after a reconnect it counts again', () => {
    const { t, done } = tracker();
    t.track(5, 100, 'm1', 1000, ['a']);
    t.track(6, 100, 'm2', 1000, ['a', 'b']); // b joined between the two changes
    t.track(7, 200, 'm3', 1000, ['c']); // another VNI, its own NVEs
    t.ack('b', 6);
    expect(done).toEqual([]);
    t.ack('a', 6);
    expect(done.map((r) => [r.revision, r.nves])).toEqual([
      [5, 1],
      [6, 2],
    ]);
    t.forget('c');
    expect(done.map((r) => r.revision)).toEqual([5, 6, 7]);
    // c is back: the next change of its VNI waits for it, its old ack does not cover it.
    t.track(8, 200, 'm4', 1000, ['c']);
    t.ack('c', 7);
    expect(done.map((r) => r.revision)).toEqual([5, 6, 7]);
    t.ack('c', 8);
    expect(done.map((r) => r.revision)).toEqual([5, 6, 7, 8]);
  });
});
