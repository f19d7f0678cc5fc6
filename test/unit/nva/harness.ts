// A real NVA server on 127.0.0.1 (port 0) and real protocol clients, for protocol tests.
import { pino } from 'pino';
import { NvaServer, type NvaServerOptions } from '../../../src/nva/server.ts';
import { MemoryStore } from '../../../src/nva/store-memory.ts';
import type { DirectoryStore } from '../../../src/nva/store.ts';
import { AdminClient } from '../../../src/protocol/admin-client.ts';
import { NvaClient, type NvaClientOptions } from '../../../src/protocol/client.ts';
import type { ChangeMsg, MoveHintMsg, Reject, SnapshotMsg } from '../../../src/protocol/schema.ts';

export const ADMIN_TOKEN = 'admin-secret';
export const tokenOf = (nveId: string) => `tok-${nveId}`;

export interface Nva {
  server: NvaServer;
  store: DirectoryStore;
  address: string;
  admin: AdminClient;
  close(): Promise<void>;
}

export async function startNva(
  opts: Partial<NvaServerOptions> & { nves?: string[] } = {},
): Promise<Nva> {
  const store = opts.store ?? new MemoryStore();
  const nves = opts.nves ?? ['a', 'b', 'c', 'd'];
  const server = new NvaServer({
    log: pino({ level: process.env.ROAM_TEST_LOG ?? 'silent' }),
    auth: { adminToken: ADMIN_TOKEN, nveTokens: new Map(nves.map((n) => [n, tokenOf(n)])) },
    ...opts,
    store,
  });
  const port = await server.listen('127.0.0.1:0');
  const address = `127.0.0.1:${port}`;
  const admin = new AdminClient({ address, token: ADMIN_TOKEN });
  return {
    server,
    store,
    address,
    admin,
    async close() {
      admin.close();
      await server.close();
      await store.close();
    },
  };
}

/** An NVE client that records everything it receives. */
export class TestNve {
  readonly snapshots: SnapshotMsg[] = [];
  readonly changes: ChangeMsg[] = [];
  readonly hints: MoveHintMsg[] = [];
  readonly rejects: Reject[] = [];
  readonly client: NvaClient;
  /** mac -> entry as this NVE would have installed it. */
  readonly installed = new Map<string, { nveId: string; seq: number; state: string }>();

  constructor(
    nva: Nva,
    readonly nveId: string,
    vnis: number[],
    over: Partial<NvaClientOptions> = {},
  ) {
    const n = nveId.charCodeAt(0) - 96;
    this.client = new NvaClient({
      address: nva.address,
      nveId,
      underlayAddr: `192.0.2.${n > 0 && n < 255 ? n : 250}`,
      vnis,
      token: tokenOf(nveId),
      autoAck: true,
      initialBackoffMs: 20,
      maxBackoffMs: 200,
      ...over,
      handlers: {
        snapshot: (s) => {
          this.snapshots.push(s);
          for (const v of s.vnis)
            for (const k of [...this.installed.keys()])
              if (k.startsWith(`${v}/`)) this.installed.delete(k);
          for (const e of s.entries) this.installed.set(`${e.vni}/${e.mac}`, e);
        },
        change: (c) => {
          this.changes.push(c);
          for (const e of c.upserts) this.installed.set(`${e.vni}/${e.mac}`, e);
          for (const d of c.deletes) this.installed.delete(`${d.vni}/${d.mac}`);
        },
        moveHint: (h) => {
          this.hints.push(h);
        },
        reject: (r) => {
          this.rejects.push(r);
        },
        ...over.handlers,
      },
    });
    this.client.start();
  }

  close(): void {
    this.client.close();
  }
}

/** Poll until `pred` holds (or fail after timeoutMs with `what`). */
export async function until(
  what: string,
  pred: () => boolean | Promise<boolean>,
  timeoutMs = 5_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const mac = (i: number) =>
  `02:00:00:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
