// RingBuffer: events from a program reach JS through a background poll while the event loop
// keeps running (a timer keeps ticking as events flow).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BpfError, BpfObject, RingBuffer } from '../../../src/bpf/index.ts';
import { TEST_OBJ } from './fixtures.ts';

const FLOW_MS = 1000;
const TICK_MS = 10;
const PRODUCE_EVERY_MS = 5;
const EVENTS_PER_BURST = 5;
/**
 * Ticks we accept as "kept ticking": a quarter of the nominal rate, generous for a loaded
 * 2-core machine; a poll that blocked the event loop would leave the timer at ~0.
 */
const MIN_TICKS = FLOW_MS / TICK_MS / 4;
/** Events must arrive spread over the flow, not all at the end. */
const MIN_TICKS_WITH_EVENTS = 10;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('RingBuffer', () => {
  let obj: BpfObject;
  beforeAll(() => {
    obj = BpfObject.open(TEST_OBJ);
    obj.load();
  });
  afterAll(() => obj.close());

  it('delivers every event, copied out, while a timer keeps ticking', async () => {
    const got: { len: number; seq: number; head: string }[] = [];
    let ticks = 0;
    const ticksWithEvents = new Set<number>();
    const rb = new RingBuffer(obj.map('events'), (data) => {
      ticksWithEvents.add(ticks);
      got.push({
        len: data.readUInt32LE(0),
        seq: data.readUInt32LE(4),
        head: data.subarray(8, 16).toString('hex'),
      });
    });
    rb.start();
    const timer = setInterval(() => ticks++, TICK_MS);
    let produced = 0;
    const frame = Buffer.from('0102030405060a0b0c0d0e0f0800' + '00'.repeat(50), 'hex');
    const prog = obj.program('xdp_event');
    const until = Date.now() + FLOW_MS;
    while (Date.now() < until) {
      // repeat: 1 per call: with repeat > 1 the kernel's test loop may yield the CPU for a
      // whole time slice on a busy machine, which would stall this loop, not the consumer.
      for (let i = 0; i < EVENTS_PER_BURST; i++) prog.testRun({ data: frame });
      produced += EVENTS_PER_BURST;
      await sleep(PRODUCE_EVERY_MS);
    }
    const deadline = Date.now() + 2000;
    while (got.length < produced && Date.now() < deadline) await sleep(10);
    clearInterval(timer);
    await rb.close();

    expect(got.length).toBe(produced);
    expect(ticks).toBeGreaterThanOrEqual(MIN_TICKS);
    expect(ticksWithEvents.size).toBeGreaterThanOrEqual(MIN_TICKS_WITH_EVENTS);
    expect(got[0]).toMatchObject({ len: frame.length, head: '0102030405060a0b' });
    // seq counts up by one per event (the program runs on one CPU here).
    for (let i = 1; i < got.length; i++) expect(got[i]!.seq).toBe(got[i - 1]!.seq + 1);
  });

  it('consume() drains synchronously; stop() resolves after the poll loop exits', async () => {
    let n = 0;
    const rb = new RingBuffer(obj.map('events'), () => n++);
    obj.program('xdp_event').testRun({ data: Buffer.alloc(64), repeat: 5 });
    expect(rb.consume()).toBe(5);
    expect(n).toBe(5);
    rb.start();
    await rb.stop();
    await rb.close();
    await rb.close(); // idempotent
  });

  it('refuses a map that is not a ring buffer', () => {
    expect(() => new RingBuffer(obj.map('kv'), () => {})).toThrow(BpfError);
  });
});
