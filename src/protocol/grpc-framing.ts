// gRPC's message framing over HTTP/2 (grpc/doc/PROTOCOL-HTTP2.md, "Length-Prefixed-Message"): a
// compressed flag byte, a 4-byte big-endian length, the message. Shared by the NVE's stream call
// (h2-stream-call.ts) and the NVA's server (nva/h2-grpc-server.ts); no compression is negotiated.

/** The 5-byte prefix and `body`, in one buffer (one write). */
export function frameMessage(body: Buffer): Buffer {
  const framed = Buffer.allocUnsafe(5 + body.length);
  framed[0] = 0; // not compressed
  framed.writeUInt32BE(body.length, 1);
  body.copy(framed, 5);
  return framed;
}

/** Why a byte stream cannot go on: a message too large, or compressed. */
export interface DeframeError {
  kind: 'too_large' | 'compressed';
  message: string;
}

/**
 * Messages out of a byte stream's chunks. A message's prefix may straddle chunks; a message whole
 * in one chunk is handed over as a view (no copy); a longer one is copied into one buffer of its
 * announced size (never concatenated chunk by chunk: a snapshot is tens of MB). A length over
 * `maxBytes` is refused before anything of it is buffered.
 */
export class MessageDeframer {
  private readonly prefix = Buffer.alloc(5);
  private prefixFill = 0;
  private body: Buffer | undefined;
  private bodyFill = 0;
  private stopped = false;

  constructor(
    private readonly maxBytes: number,
    /** Called per message; stop() from inside it drops the rest of the chunk. */
    private readonly onMessage: (body: Buffer) => void,
    private readonly onError: (e: DeframeError) => void,
  ) {}

  /** Part of a message was read and the rest has not come (yet). */
  get midMessage(): boolean {
    return this.prefixFill > 0 || this.body !== undefined;
  }

  /** No more messages (the call ended): later chunks are ignored. */
  stop(): void {
    this.stopped = true;
  }

  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && !this.stopped) {
      if (this.body === undefined) {
        const take = Math.min(5 - this.prefixFill, chunk.length - at);
        chunk.copy(this.prefix, this.prefixFill, at, at + take);
        this.prefixFill += take;
        at += take;
        if (this.prefixFill < 5) return;
        this.prefixFill = 0;
        if (this.prefix[0] !== 0) {
          this.stopped = true;
          this.onError({ kind: 'compressed', message: 'compressed message (none was negotiated)' });
          return;
        }
        const len = this.prefix.readUInt32BE(1);
        if (len > this.maxBytes) {
          this.stopped = true;
          this.onError({
            kind: 'too_large',
            message: `message of ${len} bytes, over the ${this.maxBytes} allowed`,
          });
          return;
        }
        if (chunk.length - at >= len) {
          this.onMessage(chunk.subarray(at, at + len));
          at += len;
          continue;
        }
        this.body = Buffer.allocUnsafe(len);
        this.bodyFill = 0;
      }
      const body = this.body;
      const take = Math.min(body.length - this.bodyFill, chunk.length - at);
      chunk.copy(body, this.bodyFill, at, at + take);
      this.bodyFill += take;
      at += take;
      if (this.bodyFill < body.length) return;
      this.body = undefined;
      this.onMessage(body);
    }
  }
}

/** gRPC status codes used by roam's transport (grpc/doc/statuscodes.md). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;
