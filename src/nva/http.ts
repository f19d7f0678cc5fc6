// The NVA's small HTTP endpoint: Prometheus /metrics and /healthz (200 when the store answers).
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

export interface HttpEndpoint {
  port: number;
  close(): Promise<void>;
}

/** Serve /metrics and /healthz on host:port (port 0 = any); resolves once listening. */
export async function startHttp(
  host: string,
  port: number,
  registry: Registry,
  health: () => Promise<{ ok: boolean; detail: string }>,
): Promise<HttpEndpoint> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: Error) => res.writeHead(500).end(err.message),
      );
      return;
    }
    if (path === '/healthz') {
      health().then(
        (h) =>
          res.writeHead(h.ok ? 200 : 503, { 'content-type': 'text/plain' }).end(`${h.detail}\n`),
        (err: Error) =>
          res.writeHead(503, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('try /metrics or /healthz\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
