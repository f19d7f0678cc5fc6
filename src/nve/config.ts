// The NVE agent's configuration: one YAML file, validated with zod. A mistake is reported as one
// sentence naming the field's path and its line in the file ("tsis[1].vni: expected a number
// from 1 to 16777215 (nve.yaml line 14)"), never as a stack trace.
import { parseTargets } from '../protocol/h2-stream-call.ts';
import { DEFAULT_ANCHOR_IDLE_MS } from './anchor-idle.ts';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { isIP } from 'node:net';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import { z } from 'zod';
import { UserError } from '../cli/user-error.ts';
import { canonicalIp } from '../protocol/ip-text.ts';

export const VNI_MIN = 1;
export const VNI_MAX = 0xff_ffff;
export const DEFAULT_HOLD_TIME_MS = 30_000;
export const DEFAULT_PIN_ROOT = '/sys/fs/bpf/roam';
/** Linux interface names are at most 15 bytes (IFNAMSIZ - 1). */
export const IFNAME_MAX_LEN = 15;

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const DURATION_RE = /^(\d+(?:\.\d+)?)\s*(ms|s|m)$/;
const DURATION_UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };

const ifname = z
  .string({ error: 'expected an interface name' })
  .min(1, { error: 'expected an interface name' })
  .max(IFNAME_MAX_LEN, {
    error: `expected an interface name of at most ${IFNAME_MAX_LEN} characters`,
  })
  .regex(/^[^\s/]+$/, { error: 'expected an interface name without spaces or slashes' });

const ipAddress = z
  .string({ error: 'expected an IPv4 or IPv6 address' })
  .refine((s) => isIP(s) !== 0, { error: 'expected an IPv4 or IPv6 address' })
  .transform(canonicalIp);

const macAddress = z
  .string({ error: 'expected a MAC address like 52:54:00:12:34:56' })
  .regex(MAC_RE, { error: 'expected a MAC address like 52:54:00:12:34:56' })
  .refine((s) => (parseInt(s.slice(0, 2), 16) & 1) === 0, {
    error: 'expected a unicast MAC address (the group bit of the first octet is set)',
  })
  .transform((s) => s.toLowerCase());

const vni = z
  .number({ error: `expected a number from ${VNI_MIN} to ${VNI_MAX}` })
  .int({ error: `expected a number from ${VNI_MIN} to ${VNI_MAX}` })
  .min(VNI_MIN, { error: `expected a number from ${VNI_MIN} to ${VNI_MAX}` })
  .max(VNI_MAX, { error: `expected a number from ${VNI_MIN} to ${VNI_MAX}` });

/** A duration: a number of seconds, or a string with a unit ("500ms", "30s", "2m"). */
const DURATION_ERROR = 'expected a duration such as 30s, 500ms or 2m';
const durationMs = z
  .union([z.number(), z.string()], { error: DURATION_ERROR })
  .transform((v, ctx) => {
    const m = typeof v === 'string' ? DURATION_RE.exec(v) : null;
    const ms =
      typeof v === 'number' ? v * 1000 : m ? Number(m[1]) * DURATION_UNIT_MS[m[2]!]! : Number.NaN;
    if (!(ms > 0) || !Number.isFinite(ms)) {
      ctx.issues.push({ code: 'custom', message: DURATION_ERROR, input: v });
      return z.NEVER;
    }
    return Math.round(ms);
  });

const hostPort = z
  .string({ error: 'expected host:port, e.g. 127.0.0.1:7400' })
  .regex(/^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):\d{1,5}$/, {
    error: 'expected host:port, e.g. 127.0.0.1:7400',
  });

/**
 * The NVA: host:port, a Unix domain socket "unix:/path" (an NVA on this host), or "ipv4:" /
 * "ipv6:" and the host:port of its replicas, comma-separated (tried in turn): what the client
 * accepts (parseTargets), checked here so a mistake is a config error with its line.
 */
const NVA_ENDPOINT_ERROR =
  'expected host:port, e.g. 127.0.0.1:7400 (or unix:/path, or ipv4:host:port,host:port for NVA replicas)';
const nvaEndpoint = z.string({ error: NVA_ENDPOINT_ERROR }).refine(
  (s) => {
    try {
      parseTargets(s);
      return true;
    } catch {
      return false;
    }
  },
  { error: NVA_ENDPOINT_ERROR },
);

const tsiSchema = z
  .strictObject({
    interface: ifname.optional(),
    pattern: z
      .string({ error: 'expected a glob pattern such as tap-*' })
      .min(1, { error: 'expected a glob pattern such as tap-*' })
      .optional(),
    vni,
    mac: macAddress.optional(),
    ips: z.array(ipAddress, { error: 'expected a list of IP addresses' }).default([]),
  })
  .refine((t) => (t.interface === undefined) !== (t.pattern === undefined), {
    error: 'give exactly one of interface or pattern',
  });

const schema = z.strictObject({
  id: z
    .string({ error: 'expected the NVE id, a non-empty string' })
    .min(1, { error: 'expected the NVE id, a non-empty string' }),
  underlay: z.strictObject(
    { interface: ifname, address: ipAddress },
    { error: 'expected underlay: { interface, address }' },
  ),
  nva: z.strictObject(
    {
      endpoint: nvaEndpoint,
      tokenFile: z.string({ error: 'expected the path of a file holding the NVE token' }).min(1),
      caFile: z.string().min(1).optional(),
    },
    { error: 'expected nva: { endpoint, tokenFile }' },
  ),
  pin: z
    .strictObject({
      root: z.string().min(1).default(DEFAULT_PIN_ROOT),
      instance: z
        .string()
        .regex(/^[A-Za-z0-9_.-]+$/, { error: 'expected a name of letters, digits, _ . -' })
        .optional(),
    })
    .default({ root: DEFAULT_PIN_ROOT }),
  holdTime: durationMs.default(DEFAULT_HOLD_TIME_MS),
  /** An anchored (old) address of a VM here unused this long is released (docs/l3.md). */
  anchorIdleTime: durationMs.default(DEFAULT_ANCHOR_IDLE_MS),
  metrics: z.strictObject({ listen: hostPort }).optional(),
  tsis: z.array(tsiSchema, { error: 'expected a list of TSIs' }).default([]),
});

/** One provisioned TSI: the interface (exact name or glob), its VNI and the addresses it may carry. */
export interface TsiConfig {
  interface?: string | undefined;
  pattern?: string | undefined;
  vni: number;
  /** The only MAC a VM on this TSI may announce; undefined: any MAC (open learning). */
  mac?: string | undefined;
  /** IPs a VM on this TSI may announce; empty: any IP of the VM's MAC. */
  ips: string[];
}

export interface NveConfig {
  id: string;
  underlay: { interface: string; address: string };
  nva: { endpoint: string; tokenFile: string; caFile?: string | undefined };
  pin: { root: string; instance: string };
  holdTimeMs: number;
  anchorIdleMs: number;
  metrics?: { listen: string } | undefined;
  tsis: TsiConfig[];
}

export { canonicalIp };

/** Parse and validate config text; `fileName` only names the file in error messages. */
export function parseConfig(text: string, fileName = 'config.yaml'): NveConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const syntax = doc.errors[0];
  if (syntax) {
    const line = lines.linePos(syntax.pos[0]).line;
    throw new UserError(`${fileName} line ${line}: ${firstLine(syntax.message)}`);
  }
  const parsed = schema.safeParse(doc.toJS() ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = lineOf(doc, lines, issue.path);
    const path = formatPath(issue.path);
    const at = where === undefined ? fileName : `${fileName} line ${where}`;
    throw new UserError(`${path ? `${path}: ` : ''}${issue.message} (${at})`);
  }
  const c = parsed.data;
  checkDuplicates(c.tsis, doc, lines, fileName);
  return {
    id: c.id,
    underlay: c.underlay,
    nva: c.nva,
    pin: { root: c.pin.root, instance: c.pin.instance ?? c.id },
    holdTimeMs: c.holdTime,
    anchorIdleMs: c.anchorIdleTime,
    metrics: c.metrics,
    tsis: c.tsis,
  };
}

/** Read and validate the config file at `path`. */
export function loadConfig(path: string): NveConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UserError(
      `cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  return parseConfig(text, basename(path));
}

/** A MAC provisioned on two TSIs, or one interface listed twice, is a mistake worth a clear message. */
function checkDuplicates(
  tsis: ReadonlyArray<TsiConfig>,
  doc: Document,
  lines: LineCounter,
  fileName: string,
): void {
  const seenIf = new Map<string, number>();
  const seenMac = new Map<string, number>();
  tsis.forEach((t, i) => {
    const dup = (field: string, other: number, what: string): never => {
      const line = lineOf(doc, lines, ['tsis', i, field]);
      throw new UserError(
        `tsis[${i}].${field}: ${what} already given in tsis[${other}] (${fileName}${line === undefined ? '' : ` line ${line}`})`,
      );
    };
    const name = t.interface ?? t.pattern!;
    const f = t.interface ? 'interface' : 'pattern';
    const prevIf = seenIf.get(name);
    if (prevIf !== undefined) dup(f, prevIf, `${f} ${name}`);
    seenIf.set(name, i);
    if (t.mac) {
      const prevMac = seenMac.get(`${t.vni}/${t.mac}`);
      if (prevMac !== undefined) dup('mac', prevMac, `MAC ${t.mac} in VNI ${t.vni}`);
      seenMac.set(`${t.vni}/${t.mac}`, i);
    }
  });
}

/** The 1-based line of the node at `path`, or of its nearest existing parent. */
function lineOf(
  doc: Document,
  lines: LineCounter,
  path: ReadonlyArray<PropertyKey>,
): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const keys = path.slice(0, n).map((k) => (typeof k === 'symbol' ? String(k) : k));
    const node: unknown = n === 0 ? doc.contents : doc.getIn(keys, true);
    if (isNode(node) && node.range) return lines.linePos(node.range[0]).line;
  }
  return undefined;
}

/** tsis[1].vni, as an operator would write it. */
function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const k of path) {
    if (typeof k === 'number') out += `[${k}]`;
    else out += out ? `.${String(k)}` : String(k);
  }
  return out;
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}

/** True when interface `name` matches a TSI's exact name or its glob (`*` and `?`). */
export function tsiMatches(t: TsiConfig, name: string): boolean {
  if (t.interface !== undefined) return t.interface === name;
  return globToRegExp(t.pattern!).test(name);
}

/** The TSI config an interface belongs to (the first that matches, exact names first). */
export function findTsi(tsis: ReadonlyArray<TsiConfig>, name: string): TsiConfig | undefined {
  return (
    tsis.find((t) => t.interface === name) ??
    tsis.find((t) => t.pattern !== undefined && tsiMatches(t, name))
  );
}

function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}
