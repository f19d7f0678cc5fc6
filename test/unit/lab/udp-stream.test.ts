// analyzeStream joins a sender's and a receiver's reports: losses, losses after an instant, the
// first arrival after it, and the gaps, on hand-built reports whose answers are known.
import { describe, expect, it } from 'vitest';
import {
  analyzeStream,
  type ReceiverReport,
  type SenderReport,
} from '../../../src/lab/udp-stream.ts';

// 100 datagrams, one batch of 10 every 10 ms from t = 1000.
const sender: SenderReport = {
  sent: 100,
  errors: 0,
  startMs: 1000,
  marks: Array.from({ length: 10 }, (_, i) => [i * 10, 1000 + i * 10] as [number, number]),
};

function receiver(runs: Array<[number, number, number, number]>): ReceiverReport {
  const received = runs.reduce((n, [a, b]) => n + b - a + 1, 0);
  return { received, late: 0, runs };
}

describe('analyzeStream', () => {
  it('counts nothing lost when every datagram arrived', () => {
    const r = analyzeStream(sender, receiver([[0, 99, 1000, 1095]]), 1050);
    expect(r).toMatchObject({ sent: 100, received: 100, lost: 0, lostAfter: 0, gaps: [] });
    expect(r.lostAfterReachable).toBe(0);
  });

  it('splits a gap across the instant: only datagrams sent from then on count as lost after', () => {
    // 30..59 lost; batches from seq 50 were sent at t >= 1050.
    const r = analyzeStream(
      sender,
      receiver([
        [0, 29, 1000, 1025],
        [60, 99, 1062, 1095],
      ]),
      1050,
    );
    expect(r.lost).toBe(30);
    expect(r.lostAfter).toBe(10);
    expect(r.gaps).toEqual([{ from: 30, to: 59, count: 30, sentAtMs: 1030 }]);
    expect(r.reachable).toEqual({ seq: 60, atMs: 1062 });
    expect(r.lostAfterReachable).toBe(0);
  });

  it('counts losses after the first arrival past the instant, and the lost tail', () => {
    const r = analyzeStream(
      sender,
      receiver([
        [0, 49, 1000, 1045],
        [55, 69, 1056, 1069],
        [75, 89, 1076, 1089],
      ]),
      1050,
    );
    expect(r.lost).toBe(5 + 5 + 10);
    expect(r.reachable).toEqual({ seq: 55, atMs: 1056 });
    expect(r.lostAfterReachable).toBe(5 + 10);
    expect(r.gaps.map((g) => [g.from, g.to])).toEqual([
      [50, 54],
      [70, 74],
      [90, 99],
    ]);
  });

  it('counts a late (re-tunnelled) datagram as received, and duplicates apart', () => {
    const r = analyzeStream(
      sender,
      {
        received: 101,
        late: 1,
        runs: [
          [0, 39, 1000, 1035],
          [41, 99, 1041, 1095],
          [40, 40, 1096, 1096],
          [99, 99, 1097, 1097],
        ],
      },
      1050,
    );
    expect(r.lost).toBe(0);
    expect(r.duplicates).toBe(1);
    expect(r.late).toBe(1);
  });
});
