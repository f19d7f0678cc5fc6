// How CLI commands reach a running NVA's Admin service: address and admin token from flags,
// environment or the NVA's default state directory, and gRPC failures turned into one-line
// UserErrors (never a stack trace for "the NVA is not running").
import * as grpc from '@grpc/grpc-js';
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultStateDir, DEFAULT_GRPC_PORT } from '../../nva/config.ts';
import { AdminCallError, AdminClient } from '../../protocol/admin-client.ts';
import { UserError } from '../user-error.ts';

export interface ConnectionOpts {
  nva?: string;
  token?: string;
  tokenFile?: string;
  json?: boolean;
}

/** Add --nva, --token-file and --json to a command. */
export function withConnection(cmd: Command): Command {
  return cmd
    .option(
      '--nva <host:port>',
      `NVA address (env ROAM_NVA, default 127.0.0.1:${DEFAULT_GRPC_PORT})`,
    )
    .option(
      '--token-file <file>',
      "admin token file (env ROAM_ADMIN_TOKEN_FILE, default: the local NVA's)",
    )
    .option('--json', 'print JSON instead of a table');
}

function adminToken(opts: ConnectionOpts): string {
  if (process.env.ROAM_ADMIN_TOKEN) return process.env.ROAM_ADMIN_TOKEN;
  const file =
    opts.tokenFile ?? process.env.ROAM_ADMIN_TOKEN_FILE ?? join(defaultStateDir(), 'admin.token');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    throw new UserError(
      `cannot read the admin token file ${file}; pass --token-file or set ROAM_ADMIN_TOKEN`,
    );
  }
}

/** Run `fn` with an Admin client; gRPC errors become UserErrors. */
export async function withAdmin<T>(
  opts: ConnectionOpts,
  fn: (c: AdminClient) => Promise<T>,
): Promise<T> {
  const address = opts.nva ?? process.env.ROAM_NVA ?? `127.0.0.1:${DEFAULT_GRPC_PORT}`;
  const client = new AdminClient({ address, token: adminToken(opts) });
  try {
    return await fn(client);
  } catch (err) {
    if (err instanceof AdminCallError) {
      if (err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.DEADLINE_EXCEEDED) {
        throw new UserError(
          `cannot reach the NVA at ${address} (is \`roam nva serve\` running?)`,
          1,
        );
      }
      throw new UserError(err.message, 1);
    }
    throw err;
  } finally {
    client.close();
  }
}

/** Print rows as an aligned text table. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  process.stdout.write(`${[line(header), ...rows.map(line)].join('\n')}\n`);
}

export function printJson(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
}

/** Parse a VNI argument or throw a UserError. */
export function parseVni(s: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1 || n > 0xffffff)
    throw new UserError(`VNI must be 1..16777215, not "${s}"`);
  return n;
}

/** Parse a VRF id argument or throw a UserError. */
export function parseVrf(s: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1 || n > 0xffffffff)
    throw new UserError(`VRF id must be 1..4294967295, not "${s}"`);
  return n;
}
