// Configuration of `roam nva serve`: a YAML file and command-line flags (flags win), validated
// with zod into one NvaConfig with every default filled in. A bad value gives one sentence naming
// the field; with nothing given at all, an embedded SQLite NVA starts under the state directory.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { isIP } from 'node:net';

/** gRPC port NVEs and the CLI talk to. */
export const DEFAULT_GRPC_PORT = 7470;
/** HTTP port of /metrics and /healthz. */
export const DEFAULT_METRICS_PORT = 7471;

/** Where the NVA keeps its database and tokens unless told otherwise. */
export function defaultStateDir(): string {
  if (process.env.ROAM_STATE_DIR) return join(process.env.ROAM_STATE_DIR, 'nva');
  return process.getuid?.() === 0 ? '/var/lib/roam/nva' : join(homedir(), '.local/state/roam/nva');
}

/** A configuration mistake: the CLI shows the message as one line. */
export class NvaConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NvaConfigError';
  }
}

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port (e.g. 0.0.0.0:7470)');

/**
 * Where gRPC listens: host:port, or a Unix domain socket "unix:/path" (reachable from every
 * network namespace of the host, so lab NVEs in namespaces reach an NVA without any address).
 */
const grpcListen = z
  .string()
  .regex(
    /^((\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}|unix:\/\S+)$/,
    'expected host:port (e.g. 0.0.0.0:7470) or unix:/path/to/socket',
  );

const vnSchema = z.object({
  vni: z.number().int().min(1).max(0xffffff),
  name: z.string().max(64).optional(),
  routed: z.boolean().default(false),
  learning: z.enum(['provisioned', 'open']).default('provisioned'),
});

export const nvaConfigSchema = z
  .object({
    listen: grpcListen.default(`0.0.0.0:${DEFAULT_GRPC_PORT}`),
    metricsListen: z.union([hostPort, z.literal('')]).default(`127.0.0.1:${DEFAULT_METRICS_PORT}`),
    stateDir: z.string().min(1).optional(),
    /** SQLite file; default <stateDir>/nva.db. */
    db: z.string().min(1).optional(),
    /** Use etcd instead of SQLite. */
    etcd: z
      .object({
        hosts: z.array(z.string().url()).min(1),
        prefix: z.string().regex(/\/$/, 'must end with "/"').optional(),
      })
      .optional(),
    /** File holding the admin token; generated (mode 0600) when missing. */
    adminTokenFile: z.string().optional(),
    /** YAML map nveId -> token; default <stateDir>/nve-tokens.yaml. */
    nveTokensFile: z.string().optional(),
    /** Lab mode: NVEs need no token. Never on a shared underlay. */
    openNves: z.boolean().default(false),
    tls: z.object({ cert: z.string(), key: z.string() }).optional(),
    duplicate: z
      .object({
        maxMoves: z.number().int().min(1).default(5),
        windowSeconds: z.number().positive().default(180),
        recoverySeconds: z.number().min(0).default(0),
      })
      .default({ maxMoves: 5, windowSeconds: 180, recoverySeconds: 0 }),
    hintTtlSeconds: z.number().positive().default(60),
    maxQueuedChanges: z.number().int().min(1).default(4096),
    /** VNs configured at start (created or updated). */
    vns: z.array(vnSchema).default([]),
  })
  .strict();

export type NvaConfigInput = z.input<typeof nvaConfigSchema>;

/** The resolved configuration, paths filled in. */
export type NvaConfig = z.output<typeof nvaConfigSchema> & {
  stateDir: string;
  db: string;
  adminTokenFile: string;
  nveTokensFile: string;
};

function describe(err: z.ZodError, source: string): string {
  const issue = err.issues[0];
  const where = issue?.path.length ? issue.path.join('.') : '(top level)';
  return `${source}: ${where}: ${issue?.message ?? 'invalid'}`;
}

/** Read a YAML config file (or nothing) and overlay flags; throws NvaConfigError. */
export function loadNvaConfig(file: string | undefined, flags: NvaConfigInput): NvaConfig {
  let fromFile: unknown = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new NvaConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
    }
    try {
      fromFile = parseYaml(text) ?? {};
    } catch (err) {
      throw new NvaConfigError(
        `config file ${file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`,
      );
    }
    if (typeof fromFile !== 'object' || Array.isArray(fromFile)) {
      throw new NvaConfigError(`config file ${file} must hold a YAML mapping`);
    }
  }
  const base = fromFile as { duplicate?: object };
  const merged: Record<string, unknown> = { ...base, ...stripUndefined(flags) };
  // The duplicate block merges field by field: --dup-window alone keeps the file's maxMoves.
  if (flags.duplicate || base.duplicate) {
    merged.duplicate = { ...(base.duplicate ?? {}), ...stripUndefined(flags.duplicate ?? {}) };
  }
  const r = nvaConfigSchema.safeParse(merged);
  if (!r.success) throw new NvaConfigError(describe(r.error, file ?? 'flags'));
  const stateDir = r.data.stateDir ?? defaultStateDir();
  return {
    ...r.data,
    stateDir,
    db: r.data.db ?? join(stateDir, 'nva.db'),
    adminTokenFile: r.data.adminTokenFile ?? join(stateDir, 'admin.token'),
    nveTokensFile: r.data.nveTokensFile ?? join(stateDir, 'nve-tokens.yaml'),
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  }
  return out;
}

/** Read the NVE token file: a YAML map nveId -> token. Missing file = no tokens. */
export function readNveTokens(file: string): Map<string, string> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw new NvaConfigError(`cannot read NVE token file ${file}: ${(err as Error).message}`);
  }
  const parsed = z
    .record(z.string().regex(/^[A-Za-z0-9._-]+$/), z.string().min(16))
    .safeParse(parseYaml(text) ?? {});
  if (!parsed.success) {
    throw new NvaConfigError(
      `NVE token file ${file}: ${describe(parsed.error, 'entry')} (want "nve-id: token", tokens of 16+ characters)`,
    );
  }
  return new Map(Object.entries(parsed.data));
}

/** Split "host:port" for node:http (brackets removed from IPv6). */
export function splitHostPort(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  const host = addr.slice(0, i).replace(/^\[|\]$/g, '');
  return { host: isIP(host) || host ? host : '0.0.0.0', port: Number(addr.slice(i + 1)) };
}
