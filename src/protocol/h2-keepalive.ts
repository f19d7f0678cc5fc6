// Keepalive for an HTTP/2 connection, as gRPC's keepalive pings do: a PING every `everyMs`; no
// answer within `timeoutMs` (or a failed ping) destroys the connection, so its calls end with a
// transport error instead of waiting on a peer that is gone. Used on both sides of the NVE-NVA
// stream (h2-stream-call.ts, nva/h2-grpc-server.ts).
import type http2 from 'node:http2';

/** Start pinging `session` (never keeps the process alive); returns what stops it. */
export function keepAlive(
  session: http2.Http2Session,
  everyMs: number,
  timeoutMs: number,
): () => void {
  const interval = setInterval(() => {
    // ping() throws on a closed or destroyed session: stop with it.
    if (session.destroyed || session.closed) return clearInterval(interval);
    const timer = setTimeout(() => session.destroy(), timeoutMs).unref();
    const sent = session.ping((err) => {
      clearTimeout(timer);
      if (err) session.destroy();
    });
    if (!sent) clearTimeout(timer);
  }, everyMs).unref();
  session.once('close', () => clearInterval(interval));
  return () => clearInterval(interval);
}
