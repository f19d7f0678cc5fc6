// A BPF ring-buffer consumer. ring_buffer__poll runs in a koffi async call (a worker thread), so
// the event loop keeps running; libbpf calls our registered callback per event, koffi runs it on
// the main thread, and the event is copied out of the ring before the callback returns.
import koffi from 'koffi';
import { logger } from '../log.ts';
import { BpfError, checkPtr } from './errors.ts';
import * as L from './libbpf.ts';
import { installLibbpfLogger } from './log.ts';
import type { BpfMap } from './map.ts';
import { BPF_MAP_TYPE } from './map-types.ts';

// libbpf's messages go to pino from the first call on, not only after an object was opened.
installLibbpfLogger();

const EINTR = 4;
const EINVAL = 22;
/** How long one poll waits for events; bounds how long stop() takes. */
const POLL_TIMEOUT_MS = 50;

export type RingBufferHandler = (data: Buffer) => void;

export class RingBuffer {
  private rb: L.Ptr | null = null;
  private cb: bigint | null = null;
  private running = false;
  private stopped: Promise<void> | null = null;
  private resolveStopped: (() => void) | null = null;
  private readonly label: string;
  private handlerError: unknown = null;
  /** Events delivered so far. */
  delivered = 0;

  constructor(
    readonly map: BpfMap,
    private readonly handler: RingBufferHandler,
  ) {
    this.label = `ring buffer ${map.name}`;
    if (map.type !== BPF_MAP_TYPE.RINGBUF) {
      throw new BpfError('open', this.label, EINVAL, `map type ${map.type} is not a ring buffer`);
    }
  }

  private open(): L.Ptr {
    if (this.rb !== null) return this.rb;
    this.cb = koffi.register(this.onSample.bind(this), koffi.pointer(L.SampleFn));
    const rb = L.ring_buffer__new(this.map.fd, this.cb, null, null);
    if (rb === null) {
      koffi.unregister(this.cb);
      this.cb = null;
    }
    this.rb = checkPtr(rb, 'open', this.label);
    return this.rb;
  }

  private onSample(_ctx: L.Ptr, data: L.Ptr, size: number): number {
    const copy = Buffer.from(koffi.view(data, size).slice(0));
    this.delivered++;
    try {
      this.handler(copy);
    } catch (err) {
      // A throwing handler must not unwind into libbpf: keep it, log it, go on.
      this.handlerError ??= err;
      logger('bpf').error({ err }, `${this.label}: event handler threw`);
    }
    return 0;
  }

  /** Drain what is in the ring now, synchronously, on the calling thread. Returns events consumed. */
  consume(): number {
    const ret = L.ring_buffer__consume(this.open());
    if (ret < 0) throw new BpfError('consume', this.label, -ret);
    return ret;
  }

  /** Poll in the background until stop(); events reach the handler on the event loop. */
  start(): void {
    if (this.running) return;
    const rb = this.open();
    this.running = true;
    this.stopped = new Promise((resolve) => (this.resolveStopped = resolve));
    const loop = (): void => {
      if (!this.running) {
        this.resolveStopped?.();
        return;
      }
      L.ring_buffer__poll.async(rb, POLL_TIMEOUT_MS, (err: unknown, ret: number) => {
        if (err || (ret < 0 && ret !== -EINTR)) {
          logger('bpf').error({ err, ret }, `${this.label}: poll failed, consumer stopped`);
          this.running = false;
        }
        loop();
      });
    };
    loop();
  }

  /** Stop polling; resolves once the poll loop has exited. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.stopped) await this.stopped;
    this.stopped = null;
  }

  /** Stop and free the ring buffer and the callback. */
  async close(): Promise<void> {
    await this.stop();
    if (this.rb !== null) L.ring_buffer__free(this.rb);
    this.rb = null;
    if (this.cb !== null) koffi.unregister(this.cb);
    this.cb = null;
  }

  /** The first error a handler threw, if any (handlers must not throw into libbpf). */
  get lastHandlerError(): unknown {
    return this.handlerError;
  }
}
