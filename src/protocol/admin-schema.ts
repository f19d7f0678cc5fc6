// Validation of Admin service requests (orchestrator, CLI). Same rule as the stream: proto3 lets
// anything through, so every request is checked here before the NVA acts on it.
import { z } from 'zod';
import { ip, ipPrefix, ipPrefixOrNone, LIMITS, mac, nveId, vni } from './schema.ts';

const optionalNveId = z
  .union([z.literal(''), nveId])
  .optional()
  .default('');

export const provisionRequest = z.object({
  vni,
  mac,
  ips: z.array(ip).max(LIMITS.ipsPerEntry),
  nveId: optionalNveId,
  tsi: z.string().max(LIMITS.tsiChars).optional().default(''),
});
export const entryKeyRequest = z.object({ vni, mac });
export const listEntriesRequest = z.object({
  vni: z.number().int().min(0).max(0xffffff),
  includeWithdrawn: z.boolean().optional().default(false),
});
export const moveRequest = z.object({
  vni,
  mac,
  toNve: nveId,
  fromNve: optionalNveId,
  ttlMs: z
    .number()
    .int()
    .min(0)
    .max(24 * 3600 * 1000)
    .optional()
    .default(0),
});
const vrfOrNone = z.number().int().min(0).max(0xffffffff).optional().default(0);
const macOrNone = z
  .union([z.literal(''), mac])
  .optional()
  .default('');

export const vnConfigRequest = z.object({
  vni,
  name: z.string().max(64).optional().default(''),
  routed: z.boolean().optional().default(false),
  learning: z.enum(['provisioned', 'open']),
  // routed VNs (docs/l3.md): VRF, anycast gateway addresses with their subnet, gateway MAC
  vrf: vrfOrNone,
  gatewayIp4: ipPrefixOrNone.optional().default(''),
  gatewayIp6: ipPrefixOrNone.optional().default(''),
  gatewayMac: macOrNone,
  unreachable: z.boolean().optional().default(false),
});
export const vrfConfigRequest = z.object({
  vrf: z.number().int().min(1).max(0xffffffff),
  l3Vni: vni,
  routerMac: macOrNone,
  name: z.string().max(64).optional().default(''),
});

const vrfId = z.number().int().min(1).max(0xffffffff);
export const addRouteRequest = z.object({ vrf: vrfId, prefix: ipPrefix, via: ip });
export const deleteRouteRequest = z.object({ vrf: vrfId, prefix: ipPrefix });
export const listRoutesRequest = z.object({ vrf: vrfOrNone });

export const releaseAnchorRequest = z.object({
  vni,
  mac,
  ip: z
    .union([z.literal(''), ip])
    .optional()
    .default(''),
});

export const removeMemberRequest = z.object({ vni, nveId });

export type ProvisionRequest = z.infer<typeof provisionRequest>;
export type MoveRequest = z.infer<typeof moveRequest>;
export type VnConfigRequest = z.infer<typeof vnConfigRequest>;
export type VrfConfigRequest = z.infer<typeof vrfConfigRequest>;

/** Validate, or return one readable sentence naming the bad field. */
export function parseAdmin<T>(
  schema: z.ZodType<T>,
  raw: unknown,
): { ok: true; value: T } | { ok: false; reason: string } {
  const r = schema.safeParse(raw);
  if (r.success) return { ok: true, value: r.data };
  const issue = r.error.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  return { ok: false, reason: `${where}${issue?.message ?? 'invalid request'}` };
}
