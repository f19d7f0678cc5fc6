// Running an NVA process from a resolved NvaConfig, in a fixed order: open the store, make sure
// an admin token exists, load NVE tokens, apply configured VNs, start gRPC, start HTTP; one
// clean-up path closes them in reverse. SIGHUP reloads the NVE token file.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { logger } from '../log.ts';
import { newToken, type AuthConfig } from './auth.ts';
import { NvaConfigError, readNveTokens, splitHostPort, type NvaConfig } from './config.ts';
import { startHttp, type HttpEndpoint } from './http.ts';
import { createMetrics } from './metrics.ts';
import { NvaServer } from './server.ts';
import { SqliteStore } from './store-sqlite.ts';
import type { DirectoryStore } from './store.ts';

export interface RunningNva {
  server: NvaServer;
  store: DirectoryStore;
  grpcAddress: string;
  metricsAddress?: string;
  stop(): Promise<void>;
}

/** The admin token from its file, or a new one written there (mode 0600) on first start. */
export function ensureAdminToken(file: string): string {
  if (existsSync(file)) {
    const t = readFileSync(file, 'utf8').trim();
    if (t.length < 16)
      throw new NvaConfigError(`admin token file ${file} holds fewer than 16 characters`);
    return t;
  }
  const t = newToken();
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, `${t}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return t;
}

async function openStore(cfg: NvaConfig): Promise<DirectoryStore> {
  if (cfg.etcd) {
    // Loaded only when asked for, so the embedded default needs nothing of etcd.
    const { EtcdStore } = await import('./store-etcd.ts');
    return EtcdStore.open({ hosts: cfg.etcd.hosts, prefix: cfg.etcd.prefix });
  }
  return new SqliteStore({ path: cfg.db });
}

export async function runNva(cfg: NvaConfig): Promise<RunningNva> {
  const log = logger('nva');
  // 1. store
  const store = await openStore(cfg);
  let http: HttpEndpoint | undefined;
  let server: NvaServer | undefined;
  try {
    // 2. credentials
    const authConfig = (): AuthConfig => ({
      adminToken: ensureAdminToken(cfg.adminTokenFile),
      nveTokens: readNveTokens(cfg.nveTokensFile),
      openNves: cfg.openNves,
    });
    const auth = authConfig();
    if (cfg.openNves) log.warn('open NVE mode: NVEs connect without a token (lab use only)');
    else if (auth.nveTokens?.size === 0) {
      log.warn(
        { file: cfg.nveTokensFile },
        'no NVE tokens yet: add some with `roam nva token add NVE-ID`',
      );
    }
    // 3. VNs from the config
    for (const vn of cfg.vns) await store.putVn(vn);
    // 4. gRPC
    const metrics = createMetrics({ defaultMetrics: true });
    server = new NvaServer({
      store,
      auth,
      metrics,
      rules: {
        dupMaxMoves: cfg.duplicate.maxMoves,
        dupWindowMs: cfg.duplicate.windowSeconds * 1000,
        dupRecoveryMs: cfg.duplicate.recoverySeconds * 1000,
      },
      hintTtlMs: cfg.hintTtlSeconds * 1000,
      maxQueuedChanges: cfg.maxQueuedChanges,
      tls: cfg.tls && { cert: readFileSync(cfg.tls.cert), key: readFileSync(cfg.tls.key) },
    });
    const port = await server.listen(cfg.listen);
    const { host } = cfg.listen.startsWith('unix:') ? { host: '' } : splitHostPort(cfg.listen);
    const grpcAddress = cfg.listen.startsWith('unix:')
      ? cfg.listen
      : `${host.includes(':') ? `[${host}]` : host}:${port}`;
    // 5. HTTP
    let metricsAddress: string | undefined;
    if (cfg.metricsListen) {
      const m = splitHostPort(cfg.metricsListen);
      http = await startHttp(m.host, m.port, metrics.registry, async () => {
        const rev = await store.currentRevision();
        return { ok: true, detail: `ok ${store.kind} revision ${rev}` };
      });
      metricsAddress = `${m.host}:${http.port}`;
    }
    const reload = () => {
      try {
        (server as NvaServer).auth.update(authConfig());
        log.info('NVE tokens reloaded');
      } catch (err) {
        log.error({ err: (err as Error).message }, 'token reload failed; keeping the old tokens');
      }
    };
    process.on('SIGHUP', reload);
    log.info(
      {
        grpc: grpcAddress,
        metrics: metricsAddress,
        store: store.kind,
        db: cfg.etcd ? undefined : cfg.db,
      },
      'NVA serving',
    );
    const srv = server;
    const httpEnd = http;
    return {
      server: srv,
      store,
      grpcAddress,
      metricsAddress,
      async stop() {
        process.off('SIGHUP', reload);
        await httpEnd?.close();
        await srv.close();
        await store.close();
      },
    };
  } catch (err) {
    await http?.close();
    await server?.close();
    await store.close();
    throw err;
  }
}
