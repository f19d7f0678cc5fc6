// The directory's mobility rules as pure functions: given what is stored, one registration (or
// withdrawal) and the time, decide what to write. EVPN MAC mobility (RFC 7432 §15) plus per-IP
// sequence numbers (RFC 9721), duplicate detection with freeze as FRR does, provisioning checks
// (draft-ietf-nvo3-vmm's security point) and orchestrator hints. No I/O: stores call these inside
// their compare-and-swap loop, tests call them with a fake clock.
import { compareAddr } from './address.ts';
import {
  HISTORY_MAX,
  type Entry,
  type IpBinding,
  type MoveHint,
  type MoveRecord,
  type Provision,
  type VnConfig,
} from './model.ts';

export interface RulesConfig {
  /** A MAC that moves more than this many times within dupWindowMs becomes `duplicate`. */
  dupMaxMoves: number;
  dupWindowMs: number;
  /** Frozen duplicates recover by themselves after this long; 0 = only an operator clears them. */
  dupRecoveryMs: number;
}

export const DEFAULT_RULES: RulesConfig = {
  dupMaxMoves: 5,
  dupWindowMs: 180_000,
  dupRecoveryMs: 0,
};

/** What an NVE announced. `seq` 0 lets the NVA pick (current + 1 on a move, 1 for a new MAC). */
export interface Registration {
  vni: number;
  mac: string;
  ips: string[];
  seq: number;
  nveId: string;
  nveAddr: string;
  tsi?: string;
}

/** Everything the rules look at besides the registration. */
export interface RulesContext {
  current: Entry | undefined;
  /** Other non-withdrawn entries of the VNI holding any of the registered IPs. */
  ipOwners: Entry[];
  vn: VnConfig | undefined;
  provision: Provision | undefined;
  /** An unexpired orchestrator hint for this MAC. */
  hint: MoveHint | undefined;
  /** Whether the registering NVE serves the VNI (said so in its Hello). */
  isMember: boolean;
}

export type RejectCode =
  | 'UNKNOWN_VNI'
  | 'NOT_MEMBER'
  | 'NOT_PROVISIONED'
  | 'STALE_SEQ'
  | 'SEQ_TIE_LOST'
  | 'DUPLICATE'
  | 'NOT_OWNER'
  | 'UNKNOWN_MAC';

export type Outcome =
  'new' | 'moved' | 'updated' | 'unchanged' | 'withdrawn' | 'duplicate' | 'cleared';

export type Decision =
  /** Write `upserts` (possibly nothing when unchanged); `entry` is this MAC as it now stands. */
  | { verdict: 'accept'; outcome: Outcome; entry: Entry; upserts: Entry[]; conflicts: string[] }
  /** The MAC just became (or stays) duplicate: write `upserts`, and tell the NVE `reason`. */
  | { verdict: 'duplicate'; outcome: 'duplicate'; entry: Entry; upserts: Entry[]; reason: string }
  | { verdict: 'reject'; code: RejectCode; reason: string };

function reject(code: RejectCode, reason: string): Decision {
  return { verdict: 'reject', code, reason };
}

/** Moves that count toward duplicate detection: recent, not announced, not before a clear. */
export function countedMoves(e: Entry, now: number, cfg: RulesConfig): number {
  const since = Math.max(now - cfg.dupWindowMs, e.duplicateClearedAt ?? -Infinity);
  return e.history.filter((m) => !m.hinted && m.at > since).length;
}

function pushHistory(history: MoveRecord[], rec: MoveRecord): MoveRecord[] {
  return [...history, rec].slice(-HISTORY_MAX);
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/**
 * Per-IP bindings of the new entry. An IP keeps its sequence number while it stays with this MAC;
 * taking it from another MAC bumps it past that MAC's number (RFC 9721: the IP moved). An IP that
 * another active MAC holds is a conflict unless provisioning gave it to this MAC (the orchestrator
 * is authoritative; provisioning refuses one IP for two MACs, see the admin service).
 */
function bindIps(
  ips: readonly string[],
  reg: Registration,
  ctx: RulesContext,
  now: number,
): { bindings: IpBinding[]; conflicts: string[]; losers: Entry[]; winnerConflicts: string[] } {
  const bindings: IpBinding[] = [];
  const conflicts: string[] = [];
  const losers = new Map<string, Entry>();
  const provisioned = ctx.vn?.learning !== 'open' && ctx.provision !== undefined;
  for (const ip of ips) {
    const mine = ctx.current?.ips.find((b) => b.ip === ip);
    const owner = ctx.ipOwners.find((o) => o.mac !== reg.mac && o.ips.some((b) => b.ip === ip));
    if (!owner) {
      bindings.push({ ip, seq: mine?.seq ?? 1 });
      continue;
    }
    const theirs = owner.ips.find((b) => b.ip === ip)?.seq ?? 0;
    if (provisioned && ctx.provision?.ips.includes(ip)) {
      // The orchestrator gave this IP to this MAC: it moves here; the old MAC loses it.
      bindings.push({ ip, seq: Math.max(mine?.seq ?? 0, theirs) + 1 });
      const prev = losers.get(owner.mac) ?? owner;
      losers.set(owner.mac, {
        ...prev,
        ips: prev.ips.filter((b) => b.ip !== ip),
        changedAt: now,
      });
    } else {
      // Two MACs claim one IP: the first keeps forwarding it, both are flagged.
      conflicts.push(ip);
      const prev = losers.get(owner.mac) ?? owner;
      const flagged = new Set([...(prev.conflictIps ?? []), ip]);
      losers.set(owner.mac, { ...prev, conflictIps: [...flagged].sort(), changedAt: now });
    }
  }
  return { bindings, conflicts, losers: [...losers.values()], winnerConflicts: conflicts };
}

/** Decide what a registration does to the directory. */
export function decideRegistration(
  ctx: RulesContext,
  reg: Registration,
  now: number,
  cfg: RulesConfig = DEFAULT_RULES,
): Decision {
  const { vn, provision, hint } = ctx;
  if (!vn) return reject('UNKNOWN_VNI', `VNI ${reg.vni} is not configured on this NVA`);
  if (!ctx.isMember) {
    return reject(
      'NOT_MEMBER',
      `NVE ${reg.nveId} did not say it serves VNI ${reg.vni} in its hello`,
    );
  }

  // Provisioning: an NVE may register only what the orchestrator gave to it (unless open VN).
  let ips = [...new Set(reg.ips)].sort();
  if (vn.learning === 'provisioned') {
    if (!provision) {
      return reject('NOT_PROVISIONED', `MAC ${reg.mac} is not provisioned in VNI ${reg.vni}`);
    }
    if (provision.nveId && provision.nveId !== reg.nveId) {
      return reject(
        'NOT_PROVISIONED',
        `MAC ${reg.mac} in VNI ${reg.vni} is provisioned to NVE ${provision.nveId}, not ${reg.nveId}`,
      );
    }
    const extra = ips.filter((ip) => !provision.ips.includes(ip));
    if (extra.length > 0) {
      return reject(
        'NOT_PROVISIONED',
        `IP ${extra.join(', ')} is not provisioned to MAC ${reg.mac} in VNI ${reg.vni}`,
      );
    }
    // A MAC-only announcement (a learnt source MAC) carries the provisioned IPs.
    if (ips.length === 0) ips = [...provision.ips].sort();
  }

  let cur = ctx.current;
  // Auto-recovery of a frozen duplicate, as FRR's "freeze <seconds>".
  if (
    cur?.state === 'duplicate' &&
    cfg.dupRecoveryMs > 0 &&
    now - (cur.duplicateSince ?? now) >= cfg.dupRecoveryMs
  ) {
    cur = { ...cur, state: 'active', duplicateSince: undefined, duplicateClearedAt: now };
  }

  const live = cur && cur.state !== 'withdrawn' ? cur : undefined;
  const sameNve = live?.nveId === reg.nveId;

  if (live?.state === 'duplicate' && !sameNve) {
    return reject(
      'DUPLICATE',
      `MAC ${reg.mac} in VNI ${reg.vni} moved too often and is frozen at NVE ${live.nveId} until an operator clears it`,
    );
  }

  // Sequence numbers (RFC 7432 §15): the highest wins; a tie goes to the lower NVE address.
  let seq: number;
  if (sameNve && live) {
    if (reg.seq !== 0 && reg.seq < live.seq) {
      return reject(
        'STALE_SEQ',
        `sequence ${reg.seq} for ${reg.mac} is older than the stored ${live.seq}`,
      );
    }
    seq = reg.seq === 0 ? live.seq : reg.seq;
  } else if (cur) {
    // A move (or a withdrawn MAC coming back): must beat the stored number.
    if (reg.seq === 0) seq = cur.seq + 1;
    else if (reg.seq > cur.seq) seq = reg.seq;
    else if (reg.seq === cur.seq && live && compareAddr(reg.nveAddr, live.nveAddr) < 0)
      seq = reg.seq;
    else if (reg.seq === cur.seq && live) {
      return reject(
        'SEQ_TIE_LOST',
        `sequence ${reg.seq} for ${reg.mac} ties with NVE ${live.nveId} (${live.nveAddr}), whose lower address wins`,
      );
    } else {
      return reject(
        'STALE_SEQ',
        `sequence ${reg.seq} for ${reg.mac} is not above the stored ${cur.seq}`,
      );
    }
  } else {
    seq = reg.seq === 0 ? 1 : reg.seq;
  }

  const { bindings, conflicts, losers } = bindIps(ips, reg, ctx, now);
  const base: Entry = {
    vni: reg.vni,
    mac: reg.mac,
    ips: bindings,
    nveId: reg.nveId,
    nveAddr: reg.nveAddr,
    seq,
    state: 'active',
    changedAt: now,
    tsi: reg.tsi || undefined,
    conflictIps: conflicts.length > 0 ? conflicts : undefined,
    history: cur?.history ?? [],
    duplicateClearedAt: cur?.duplicateClearedAt,
  };

  if (sameNve && live) {
    const unchanged =
      seq === live.seq &&
      live.nveAddr === reg.nveAddr &&
      (live.tsi ?? '') === (reg.tsi || live.tsi || '') &&
      sameSet(
        live.ips.map((b) => b.ip),
        bindings.map((b) => b.ip),
      ) &&
      sameSet(live.conflictIps ?? [], conflicts) &&
      losers.length === 0 &&
      cur === ctx.current;
    if (unchanged)
      return { verdict: 'accept', outcome: 'unchanged', entry: live, upserts: [], conflicts };
    const entry: Entry = {
      ...base,
      tsi: reg.tsi || live.tsi,
      // A refresh from the source keeps a pending migration (`moving`) and a freeze visible.
      state:
        live.state === 'duplicate' || (live.state === 'moving' && hint) ? live.state : 'active',
      duplicateSince: live.duplicateSince,
    };
    return { verdict: 'accept', outcome: 'updated', entry, upserts: [entry, ...losers], conflicts };
  }

  if (!live) {
    return {
      verdict: 'accept',
      outcome: 'new',
      entry: base,
      upserts: [base, ...losers],
      conflicts,
    };
  }

  // A move from live.nveId to reg.nveId.
  const hinted = hint !== undefined && hint.toNve === reg.nveId;
  const rec: MoveRecord = { at: now, fromNve: live.nveId, toNve: reg.nveId, seq, hinted };
  const moved: Entry = { ...base, history: pushHistory(live.history, rec) };
  if (!hinted && countedMoves(moved, now, cfg) > cfg.dupMaxMoves) {
    // Too many moves: freeze where it was, raise the alert, refuse this move.
    const frozen: Entry = {
      ...live,
      state: 'duplicate',
      duplicateSince: now,
      changedAt: now,
      history: moved.history,
    };
    return {
      verdict: 'duplicate',
      outcome: 'duplicate',
      entry: frozen,
      upserts: [frozen],
      reason: `MAC ${reg.mac} in VNI ${reg.vni} moved more than ${cfg.dupMaxMoves} times in ${cfg.dupWindowMs / 1000} s: frozen at NVE ${live.nveId}`,
    };
  }
  return {
    verdict: 'accept',
    outcome: 'moved',
    entry: moved,
    upserts: [moved, ...losers],
    conflicts,
  };
}

/** Decide a withdrawal: only the NVE that holds the MAC may withdraw it (a late withdraw from a
 *  source NVE must not remove the VM from its new home). The entry stays as a tombstone. */
export function decideWithdraw(current: Entry | undefined, nveId: string, now: number): Decision {
  if (!current || current.state === 'withdrawn') {
    return reject('UNKNOWN_MAC', `no registered entry to withdraw`);
  }
  if (current.nveId !== nveId) {
    return reject(
      'NOT_OWNER',
      `MAC ${current.mac} in VNI ${current.vni} is at NVE ${current.nveId}, not ${nveId}`,
    );
  }
  const entry: Entry = { ...current, state: 'withdrawn', changedAt: now, conflictIps: undefined };
  return { verdict: 'accept', outcome: 'withdrawn', entry, upserts: [entry], conflicts: [] };
}

/** An operator clears a duplicate (or conflict) flag: moves before now stop counting. */
export function decideClearDuplicate(current: Entry | undefined, now: number): Decision {
  if (!current || current.state === 'withdrawn') return reject('UNKNOWN_MAC', 'no such entry');
  if (current.state !== 'duplicate' && !current.conflictIps?.length) {
    return { verdict: 'accept', outcome: 'unchanged', entry: current, upserts: [], conflicts: [] };
  }
  const entry: Entry = {
    ...current,
    state: 'active',
    duplicateSince: undefined,
    duplicateClearedAt: now,
    conflictIps: undefined,
    changedAt: now,
  };
  return { verdict: 'accept', outcome: 'cleared', entry, upserts: [entry], conflicts: [] };
}

/** An orchestrator announced a migration: the entry to write (state `moving`; it still forwards
 *  as before until the VM registers at the destination), or undefined when nothing changes. */
export function decideHint(
  current: Entry | undefined,
  hint: MoveHint,
  now: number,
): Entry | undefined {
  if (!current || current.state !== 'active' || current.nveId === hint.toNve) return undefined;
  return { ...current, state: 'moving', changedAt: now };
}
