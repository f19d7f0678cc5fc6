// BpfProgram.testRun: frame in, frame and verdict out, repeat and duration, context in; and
// run statistics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BPF_PROG_TYPE, BpfObject, enableBpfStats } from '../../../src/bpf/index.ts';
import { CNT, TEST_OBJ, u32Key } from './fixtures.ts';

const XDP_PASS = 2;
const XDP_TX = 3;

describe('BpfProgram.testRun', () => {
  let obj: BpfObject;
  beforeAll(() => {
    obj = BpfObject.open(TEST_OBJ);
    obj.load();
  });
  afterAll(() => obj.close());

  it.each([
    {
      name: 'swaps MACs and bounces',
      prog: 'xdp_swap',
      frame: '0102030405060a0b0c0d0e0f08004500',
      verdict: XDP_TX,
      out: '0a0b0c0d0e0f01020304050608004500',
    },
    {
      name: 'swaps a bare Ethernet header',
      prog: 'xdp_swap',
      frame: 'ffffffffffff0000000000010806',
      verdict: XDP_TX,
      out: '000000000001ffffffffffff0806',
    },
    {
      name: 'passes and leaves the frame alone',
      prog: 'xdp_count',
      frame: 'ff'.repeat(60),
      verdict: XDP_PASS,
      out: 'ff'.repeat(60),
    },
  ])('$prog $name', ({ prog, frame, verdict, out }) => {
    const r = obj.program(prog).testRun({ data: Buffer.from(frame, 'hex') });
    expect(r.retval).toBe(verdict);
    expect(r.data.toString('hex')).toBe(out);
  });

  it('repeat runs the program N times and reports a duration', () => {
    const counters = obj.map('counters');
    const before = counters.sumPerCpuU64(u32Key(CNT.PACKETS));
    const r = obj.program('xdp_count').testRun({ data: Buffer.alloc(100), repeat: 1000 });
    expect(r.retval).toBe(XDP_PASS);
    expect(r.durationNs).toBeGreaterThan(0);
    expect(counters.sumPerCpuU64(u32Key(CNT.PACKETS)) - before).toBe(1000n);
    expect(counters.sumPerCpuU64(u32Key(CNT.BYTES))).toBeGreaterThanOrEqual(100_000n);
  });

  it('accepts an xdp_md context in', () => {
    const ctx = Buffer.alloc(24); // struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex
    ctx.writeUInt32LE(64, 4); // data_end = frame length
    const r = obj.program('xdp_count').testRun({ data: Buffer.alloc(64), ctxIn: ctx });
    expect(r.retval).toBe(XDP_PASS);
  });

  it('reports its type and, with stats enabled, run count and time', () => {
    const p = obj.program('xdp_count');
    expect(p.type).toBe(BPF_PROG_TYPE.XDP);
    expect(obj.program('tc_ingress_count').type).toBe(BPF_PROG_TYPE.SCHED_CLS);
    const restore = enableBpfStats();
    try {
      const before = p.runStats();
      p.testRun({ data: Buffer.alloc(64), repeat: 50 });
      const after = p.runStats();
      expect(after.runCount - before.runCount).toBe(50n);
      expect(after.runTimeNs).toBeGreaterThan(before.runTimeNs);
    } finally {
      restore();
    }
  });

  it('a frame shorter than an Ethernet header is refused by the kernel with EINVAL', () => {
    expect(() => obj.program('xdp_swap').testRun({ data: Buffer.alloc(10) })).toThrow(
      /program xdp_swap: test run: EINVAL/,
    );
  });

  it('a too-small output buffer is a typed ENOSPC error', () => {
    expect(() =>
      obj.program('xdp_count').testRun({ data: Buffer.alloc(64), dataSizeOut: 10 }),
    ).toThrow(/program xdp_count: test run: ENOSPC/);
  });
});
