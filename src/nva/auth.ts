// Who may talk to the NVA. NVEs present a bearer token bound to one NVE id (a stolen token cannot
// speak for another NVE); orchestrators and the CLI present the admin token. Tokens travel in the
// call metadata ("authorization: Bearer <token>"), so grpcurl -H can test everything.
import type { Metadata } from '@grpc/grpc-js';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export interface AuthConfig {
  /** Token of the Admin service; absent = the Admin service refuses every call. */
  adminToken?: string;
  /** nveId -> token. */
  nveTokens?: Map<string, string>;
  /** Lab mode: any NVE id is accepted without a token (never on a shared underlay). */
  openNves?: boolean;
}

export type AuthResult = { ok: true } | { ok: false; reason: string };

/** The bearer token of a call, if any. */
export function bearerToken(md: Metadata): string | undefined {
  const v = md.get('authorization')[0];
  if (typeof v !== 'string') return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(v.trim());
  return m?.[1];
}

/** A fresh random token (256 bits, URL-safe). */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

function sameSecret(a: string, b: string): boolean {
  // Hash first so lengths match and the comparison time says nothing about the token.
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y);
}

export class Authenticator {
  constructor(private cfg: AuthConfig) {}

  /** Swap the token set (a reloaded token file). */
  update(cfg: AuthConfig): void {
    this.cfg = cfg;
  }

  /** May this call speak as NVE `nveId`? */
  checkNve(md: Metadata, nveId: string): AuthResult {
    if (this.cfg.openNves) return { ok: true };
    const token = bearerToken(md);
    if (!token) return { ok: false, reason: 'no bearer token in the authorization metadata' };
    const want = this.cfg.nveTokens?.get(nveId);
    if (!want || !sameSecret(token, want)) {
      return { ok: false, reason: `the token is not valid for NVE ${nveId}` };
    }
    return { ok: true };
  }

  /** May this call use the Admin service? */
  checkAdmin(md: Metadata): AuthResult {
    const token = bearerToken(md);
    if (!this.cfg.adminToken)
      return { ok: false, reason: 'the admin API is disabled (no admin token set)' };
    if (!token || !sameSecret(token, this.cfg.adminToken)) {
      return { ok: false, reason: 'a valid admin bearer token is required' };
    }
    return { ok: true };
  }
}
