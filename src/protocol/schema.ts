// Validation of every protocol message, on both sides of the wire. proto3 decodes anything (missing
// fields become zeros, unknown enum names pass), so each message is checked here against limits
// that make sense for roam before any code uses it. The TS message types are inferred from these
// schemas, so the types cannot drift from what is checked.
import { isIP } from 'node:net';
import { canonicalIp, canonicalIpPrefix } from './ip-text.ts';
import { z } from 'zod';

import { LIMITS } from './limits.ts';
import { fastAck, fastChange, fastRegister, fastSnapshot } from './fast-check.ts';

export { LIMITS };

const VNI_MAX = 0xffffff;
/** Sequence numbers stay within what a JS number holds exactly. */
const SEQ_MAX = Number.MAX_SAFE_INTEGER;

export const vni = z.number().int().min(1).max(VNI_MAX);
export const mac = z
  .string()
  .max(17)
  .transform((s) => s.toLowerCase())
  .pipe(
    z.string().regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/, 'not a MAC address (aa:bb:cc:dd:ee:ff)'),
  );
export const ip = z
  .string()
  .max(45)
  .refine((s) => isIP(s) !== 0, 'not an IPv4 or IPv6 address')
  // one text per address: "FD01:0::2" and "fd01::2" must be the same IP in the directory
  .transform(canonicalIp);
export const nveId = z
  .string()
  .min(1)
  .max(LIMITS.nveIdChars)
  .regex(/^[A-Za-z0-9._-]+$/, 'NVE ids use letters, digits, ".", "_" and "-"');
export const seq = z.number().int().min(0).max(SEQ_MAX);
export const revision = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const tsi = z.string().max(LIMITS.tsiChars);
const requestId = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const entryStates = ['active', 'moving', 'duplicate', 'withdrawn'] as const;
export const announcementKinds = ['unspecified', 'learned', 'garp', 'rarp', 'provisioned'] as const;

/** proto enum name ("ENTRY_STATE_ACTIVE") <-> roam's short name ("active"). */
function protoEnum<T extends readonly string[]>(prefix: string, names: T) {
  return z.union([z.string(), z.number()]).transform((v, ctx) => {
    const name =
      typeof v === 'number'
        ? v === 0
          ? 'unspecified'
          : names[v - (names[0] === 'unspecified' ? 0 : 1)]
        : v.startsWith(prefix)
          ? v.slice(prefix.length).toLowerCase()
          : v.toLowerCase();
    if (!name || !(names as readonly string[]).includes(name)) {
      ctx.addIssue({
        code: 'custom',
        message: `unknown ${prefix.slice(0, -1).toLowerCase()} ${String(v)}`,
      });
      return z.NEVER;
    }
    return name as T[number];
  });
}

export const ipBinding = z.object({ ip, seq });
export const anchor = z.object({
  ip,
  fromVni: vni,
  nveId,
  nveAddr: ip,
  sinceMs: z.number().int().min(0),
});
export const entry = z.object({
  vni,
  mac,
  ips: z.array(ipBinding).max(LIMITS.ipsPerEntry),
  nveId,
  nveAddr: ip,
  seq,
  state: protoEnum('ENTRY_STATE_', entryStates),
  changedAtMs: z.number().int().min(0),
  tsi: tsi.optional().default(''),
  anchors: z.array(anchor).max(LIMITS.ipsPerEntry).optional().default([]),
});
export const entryKey = z.object({ vni, mac });
export const member = z.object({ vni, nveId, nveAddr: ip });

// --- NVE -> NVA -----------------------------------------------------------------------------

export const hello = z.object({
  nveId,
  underlayAddr: ip,
  vnis: z.array(vni).max(LIMITS.vnisPerHello),
  lastRevision: revision,
});
export const register = z.object({
  requestId,
  vni,
  mac,
  ips: z.array(ip).max(LIMITS.ipsPerEntry),
  seq,
  tsi: tsi.optional().default(''),
  kind: protoEnum('ANNOUNCEMENT_KIND_', announcementKinds).optional().default('unspecified'),
});
export const withdraw = z.object({ requestId, vni, mac });
export const releaseAnchor = z.object({ requestId, vni, mac, ip });
export const vniDigest = z.object({ vni, digest: z.string().max(LIMITS.digestChars) });
export const ack = z.object({ revision, digests: z.array(vniDigest).max(LIMITS.vnisPerHello) });

export const nveMessage = z.union([
  z.object({ hello }),
  z.object({ register }),
  z.object({ withdraw }),
  z.object({ ack }),
  z.object({ releaseAnchor }),
]);

// --- NVA -> NVE -----------------------------------------------------------------------------

/** VRF ids: 32 bits, 0 is proto3's "missing". */
export const vrf = z.number().int().min(1).max(0xffffffff);
/** "ip/len" in canonical text, or '' (none). */
export const ipPrefixOrNone = z
  .string()
  .max(49)
  .refine((s) => s === '' || canonicalIpPrefix(s) !== null, 'not an address/len (10.1.0.1/24)')
  .transform((s) => (s === '' ? '' : (canonicalIpPrefix(s) as string)));
/** "ip/len" in canonical text. */
export const ipPrefix = z
  .string()
  .max(49)
  .refine((s) => canonicalIpPrefix(s) !== null, 'not an address/len (10.1.0.0/16)')
  .transform((s) => canonicalIpPrefix(s) as string);
export const routedVn = z.object({
  vni,
  vrf,
  l3: z.boolean(),
  gatewayMac: mac,
  gatewayIp4: ipPrefixOrNone,
  gatewayIp6: ipPrefixOrNone,
  unreachable: z.boolean(),
  routes: z
    .array(z.object({ prefix: ipPrefix, via: ip }))
    .max(LIMITS.routesPerVrf)
    .optional()
    .default([]),
});
export const snapshot = z.object({
  revision,
  vnis: z.array(vni),
  entries: z.array(entry),
  members: z.array(member),
  routedVns: z.array(routedVn).max(LIMITS.routedVnsPerSnapshot).optional().default([]),
});
export const change = z.object({
  revision,
  vni,
  upserts: z.array(entry),
  deletes: z.array(entryKey),
  membersUpserted: z.array(member),
  membersRemoved: z.array(nveId),
});
export const accepted = z.object({
  requestId,
  revision,
  seq,
  outcome: z.string().max(32),
});
export const reject = z.object({
  requestId,
  code: z.string().max(64),
  reason: z.string().max(LIMITS.reasonChars),
});
export const moveHint = z.object({
  vni,
  mac,
  fromNve: nveId,
  toNve: nveId,
  expiresAtMs: z.number().int().min(0),
  toAddr: z.string().max(45),
});
export const digestMismatch = z.object({
  vni,
  revision,
  expected: z.string().max(LIMITS.digestChars),
  got: z.string().max(LIMITS.digestChars),
});

export const nvaMessage = z.union([
  z.object({ snapshot }),
  z.object({ change }),
  z.object({ accepted }),
  z.object({ reject }),
  z.object({ moveHint }),
  z.object({ digestMismatch }),
]);

export type WireEntry = z.infer<typeof entry>;
export type WireEntryKey = z.infer<typeof entryKey>;
export type WireMember = z.infer<typeof member>;
export type WireRoutedVn = z.infer<typeof routedVn>;
export type EntryStateName = (typeof entryStates)[number];
export type AnnouncementKind = (typeof announcementKinds)[number];
export type Hello = z.infer<typeof hello>;
export type Register = z.infer<typeof register>;
export type Withdraw = z.infer<typeof withdraw>;
export type ReleaseAnchor = z.infer<typeof releaseAnchor>;
export type Ack = z.infer<typeof ack>;
export type NveMessage = z.infer<typeof nveMessage>;
export type SnapshotMsg = z.infer<typeof snapshot>;
export type ChangeMsg = z.infer<typeof change>;
export type Accepted = z.infer<typeof accepted>;
export type Reject = z.infer<typeof reject>;
export type MoveHintMsg = z.infer<typeof moveHint>;
export type DigestMismatch = z.infer<typeof digestMismatch>;
export type NvaMessage = z.infer<typeof nvaMessage>;

/** Input types (before defaults/transforms): what a sender may write. */
export type NveMessageInput = z.input<typeof nveMessage>;
export type NvaMessageInput = z.input<typeof nvaMessage>;

/** A message that failed validation: `reason` is one readable sentence. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

const nveMembers = { hello, register, withdraw, ack, releaseAnchor } as const;
const nvaMembers = { snapshot, change, accepted, reject, moveHint, digestMismatch } as const;

/**
 * Validate a oneof message: exactly one known member set (proto-loader's `msg` field names it),
 * checked by its own schema so the reason says which field is wrong.
 */
function parseOneof<T>(
  members: Record<string, z.ZodType>,
  raw: unknown,
  fast?: Record<string, (v: unknown) => object | null>,
): Parsed<T> {
  if (!raw || typeof raw !== 'object') return { ok: false, reason: 'message is not an object' };
  const r = raw as Record<string, unknown>;
  const present =
    typeof r.msg === 'string'
      ? [r.msg]
      : Object.keys(members).filter((k) => r[k] !== undefined && r[k] !== null);
  if (present.length !== 1) {
    return {
      ok: false,
      reason: `message must carry exactly one of ${Object.keys(members).join(', ')}`,
    };
  }
  const key = present[0] as string;
  const schema = members[key];
  // Bulk messages first through the hand-written checks (same acceptance as zod, much cheaper).
  const quick = schema && fast?.[key]?.(r[key]);
  if (quick) return { ok: true, value: { [key]: quick } as T };
  if (!schema) return { ok: false, reason: `unknown message type ${key}` };
  const res = schema.safeParse(r[key]);
  if (res.success) return { ok: true, value: { [key]: res.data } as T };
  const issue = res.error.issues[0];
  const where = [key, ...(issue?.path ?? [])].join('.');
  return { ok: false, reason: `${where}: ${issue?.message ?? 'invalid'}` };
}

/** Validate a message an NVE sent. */
export function parseNveMessage(raw: unknown): Parsed<NveMessage> {
  return parseOneof<NveMessage>(nveMembers, raw, { ack: fastAck, register: fastRegister });
}

/** Validate a message the NVA sent. */
export function parseNvaMessage(raw: unknown): Parsed<NvaMessage> {
  return parseOneof<NvaMessage>(nvaMembers, raw, { change: fastChange, snapshot: fastSnapshot });
}

/** roam's short state name -> the proto enum name the wire carries. */
export function entryStateToProto(s: EntryStateName): string {
  return `ENTRY_STATE_${s.toUpperCase()}`;
}

/** roam's short announcement kind -> the proto enum name the wire carries. */
export function announcementKindToProto(k: AnnouncementKind): string {
  return `ANNOUNCEMENT_KIND_${k.toUpperCase()}`;
}
