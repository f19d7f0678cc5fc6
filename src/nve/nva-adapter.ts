// The agent's NvaPort over the real protocol client (src/protocol/client.ts): connect, resume,
// backoff and validation are the client's; this file only translates. A refusal (Reject) becomes
// an { ok: false } answer; a dropped stream or a timeout rejects the promise, which the control
// loop treats as "still pending, re-send on reconnect".
import { NvaClient, NvaRejectError, type NvaClientOptions } from '../protocol/client.ts';
import type { NvaHandlers, NvaPort, NvaResult, Registration } from './nva-port.ts';

/** Codes the client uses for "no answer" (not a refusal by the NVA). */
const TRANSIENT_CODES = new Set(['DISCONNECTED', 'TIMEOUT']);

export type NvaPortOptions = Omit<NvaClientOptions, 'handlers' | 'autoAck' | 'lastRevision'>;

export class NvaClientPort implements NvaPort {
  private client?: NvaClient;

  constructor(private readonly opts: NvaPortOptions) {}

  start(h: NvaHandlers, lastRevision: number): void {
    this.client = new NvaClient({
      ...this.opts,
      lastRevision,
      autoAck: false,
      handlers: {
        connected: () => h.connected(),
        disconnected: (reason) => h.disconnected(reason),
        snapshot: (s) => h.snapshot(s),
        packedSnapshot: (s) => h.snapshot(s),
        change: (c) => h.change(c),
        moveHint: (m) => h.moveHint(m),
        digestMismatch: (m) => h.digestMismatch(m),
      },
    });
    this.client.start();
  }

  register(r: Registration): Promise<NvaResult> {
    return this.answer(this.need().register(r));
  }

  withdraw(k: { vni: number; mac: string }): Promise<NvaResult> {
    return this.answer(this.need().withdraw(k.vni, k.mac));
  }

  releaseAnchor(k: { vni: number; mac: string; ip: string }): Promise<NvaResult> {
    return this.answer(this.need().releaseAnchor(k.vni, k.mac, k.ip));
  }

  ack(revision: number, digests: Array<{ vni: number; digest: string }>): void {
    this.client?.ack(revision, digests);
  }

  stop(): void {
    this.client?.close();
    this.client = undefined;
  }

  private need(): NvaClient {
    if (!this.client) throw new Error('NVA port used before start()');
    return this.client;
  }

  private answer(
    p: Promise<{ seq: number; revision: number; outcome: string }>,
  ): Promise<NvaResult> {
    return p.then(
      (a) => ({ ok: true, seq: a.seq, revision: a.revision, outcome: a.outcome }),
      (err: unknown) => {
        if (err instanceof NvaRejectError && !TRANSIENT_CODES.has(err.code)) {
          return { ok: false, code: err.code, reason: err.message };
        }
        throw err;
      },
    );
  }
}
