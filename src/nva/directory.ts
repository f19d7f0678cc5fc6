// The directory service: applies the pure rules (rules.ts) to a store with compare-and-swap, and
// implements the orchestrator's operations (provision, move hint, clear duplicate, configure VN).
// The gRPC server and any other front end call this; it knows nothing of the wire.
import type { Entry, Mac, MoveHint, Provision, VnConfig, VrfConfig, Vni } from './model.ts';
import {
  decideAnchors,
  decideRoute,
  decideVn,
  decideVrf,
  sameAnchors,
  siblingVns,
  vrfsOf,
} from './l3-rules.ts';
import {
  DEFAULT_RULES,
  decideClearDuplicate,
  decideHint,
  decideRegistration,
  decideWithdraw,
  type Decision,
  type Outcome,
  type Registration,
  type RejectCode,
  type RulesConfig,
} from './rules.ts';
import type { DirectoryStore } from './store.ts';

/** How long an orchestrator's move hint stays valid when it gives no TTL. */
export const DEFAULT_HINT_TTL_MS = 60_000;

export interface DirectoryOptions {
  rules?: RulesConfig;
  now?: () => number;
  hintTtlMs?: number;
}

export type DirectoryResult =
  | { ok: true; outcome: Outcome; entry: Entry; revision?: number }
  | { ok: false; code: RejectCode | AdminErrorCode; reason: string; revision?: number };

export type AdminErrorCode = 'INVALID' | 'IP_TAKEN' | 'UNKNOWN_NVE';

/** An orchestrator request the directory refuses (bad VNI, IP provisioned twice...). */
export class AdminError extends Error {
  constructor(
    readonly code: AdminErrorCode | RejectCode,
    message: string,
  ) {
    super(message);
    this.name = 'AdminError';
  }
}

function toResult(d: Decision, revision: number | undefined): DirectoryResult {
  if (d.verdict === 'accept') return { ok: true, outcome: d.outcome, entry: d.entry, revision };
  if (d.verdict === 'duplicate')
    return { ok: false, code: 'DUPLICATE', reason: d.reason, revision };
  return { ok: false, code: d.code, reason: d.reason };
}

export class Directory {
  readonly rules: RulesConfig;
  private readonly now: () => number;
  private readonly hintTtlMs: number;

  constructor(
    readonly store: DirectoryStore,
    opts: DirectoryOptions = {},
  ) {
    this.rules = opts.rules ?? DEFAULT_RULES;
    this.now = opts.now ?? Date.now;
    this.hintTtlMs = opts.hintTtlMs ?? DEFAULT_HINT_TTL_MS;
  }

  /** Apply an NVE's registration. `isMember`: the NVE said it serves reg.vni. */
  async register(reg: Registration, isMember: boolean): Promise<DirectoryResult> {
    const registeredAt = this.now();
    const [vn, provision, hint] = await Promise.all([
      this.store.getVn(reg.vni),
      this.store.getProvision(reg.vni, reg.mac),
      this.store.getHint(reg.vni, reg.mac, registeredAt),
    ]);
    if (vn?.l3?.kind === 'vrf') {
      const reason = `VNI ${reg.vni} is the L3 VNI of VRF ${vn.l3.vrf}: no VM registers there`;
      return { ok: false, code: 'UNKNOWN_VNI', reason };
    }
    // A routed VN: where else in its VRF this MAC was (its old addresses get anchored).
    const others = vn?.l3?.kind === 'gateway' ? await this.entriesElsewhereInVrf(reg) : [];
    const { result: d, revision } = await this.store.update(reg.vni, reg.mac, reg.ips, (input) => {
      const decision = decideRegistration(
        { ...input, vn, provision, hint, isMember },
        reg,
        this.now(),
        this.rules,
      );
      let upserts = decision.verdict === 'reject' ? [] : decision.upserts;
      if (decision.verdict === 'accept' && vn?.l3?.kind === 'gateway') {
        // new anchors only when the VM arrives in this VN; later registrations keep what is left
        // (an anchor released by the orchestrator or for idleness does not come back)
        const arriving = !input.current || input.current.state === 'withdrawn';
        upserts = this.anchored(decision.entry, input.current, arriving ? others : [], upserts);
        decision.entry =
          upserts.find((e) => e.mac === reg.mac && e.vni === reg.vni) ?? decision.entry;
      }
      return { upserts, result: decision, cause: { nveId: reg.nveId, mac: reg.mac, registeredAt } };
    });
    // The announced migration happened: the hint has done its job.
    if (hint && d.verdict === 'accept' && d.outcome === 'moved' && hint.toNve === reg.nveId) {
      await this.store.deleteHint(reg.vni, reg.mac);
    }
    return toResult(d, revision);
  }

  /** This MAC's entries in the other routed VNs of reg.vni's VRF. */
  private async entriesElsewhereInVrf(reg: Registration): Promise<Entry[]> {
    const vnis = siblingVns(await this.store.listVns(), reg.vni);
    const found = await Promise.all(vnis.map((v) => this.store.getEntry(v, reg.mac)));
    return found.filter((e): e is Entry => e !== undefined);
  }

  /** The upserts with the registering entry's anchors decided (l3-rules decideAnchors). */
  private anchored(
    entry: Entry,
    current: Entry | undefined,
    others: readonly Entry[],
    upserts: Entry[],
  ): Entry[] {
    const anchors = decideAnchors(
      current?.anchors ?? [],
      others,
      entry.ips.map((b) => b.ip),
      this.now(),
    );
    const changed = !sameAnchors(anchors, current?.anchors);
    const next: Entry = { ...entry, anchors: anchors.length > 0 ? anchors : undefined };
    const i = upserts.findIndex((e) => e.vni === entry.vni && e.mac === entry.mac);
    if (i >= 0) return upserts.map((e, j) => (j === i ? next : e));
    return changed ? [next, ...upserts] : upserts;
  }

  /**
   * Release anchored addresses of a VM (`ip` undefined: all): by the orchestrator, or by the VM's
   * NVE (`byNve`) when it judged them idle. Returns the revision, or undefined if none was held.
   */
  async releaseAnchor(
    vni: Vni,
    mac: Mac,
    ip: string | undefined,
    byNve?: string,
  ): Promise<number | undefined> {
    const r = await this.store.update(vni, mac, [], ({ current }) => {
      if (!current?.anchors?.length) return { upserts: [], result: 'none' as const };
      if (byNve !== undefined && current.nveId !== byNve)
        return { upserts: [], result: 'not-owner' as const };
      const kept = current.anchors.filter((a) => ip !== undefined && a.ip !== ip);
      if (kept.length === current.anchors.length) return { upserts: [], result: 'none' as const };
      const next: Entry = { ...current, anchors: kept.length > 0 ? kept : undefined };
      return { upserts: [next], result: 'released' as const };
    });
    if (r.result === 'not-owner')
      throw new AdminError('NOT_OWNER', `MAC ${mac} in VNI ${vni} is not at NVE ${byNve}`);
    return r.revision;
  }

  /** An NVE withdraws a MAC (VM gone from its TSI). */
  async withdraw(vni: Vni, mac: Mac, nveId: string): Promise<DirectoryResult> {
    const registeredAt = this.now();
    const { result: d, revision } = await this.store.update(vni, mac, [], ({ current }) => {
      const decision = decideWithdraw(current, nveId, this.now());
      return {
        upserts: decision.verdict === 'accept' ? decision.upserts : [],
        result: decision,
        cause: { nveId, mac, registeredAt },
      };
    });
    return toResult(d, revision);
  }

  /** An operator clears a duplicate/conflict flag. */
  async clearDuplicate(vni: Vni, mac: Mac): Promise<DirectoryResult> {
    const { result: d, revision } = await this.store.update(vni, mac, [], ({ current }) => {
      const decision = decideClearDuplicate(current, this.now());
      return { upserts: decision.verdict === 'accept' ? decision.upserts : [], result: decision };
    });
    return toResult(d, revision);
  }

  /**
   * Create or change a VN (l3-rules.ts decides what is coherent). A change of its routing is
   * announced: NVEs of its VRF hear of it through the change log (a Change with `vnConfig`).
   */
  async configureVn(cfg: VnConfig): Promise<VnConfig> {
    const vns = await this.store.listVns();
    const d = decideVn(cfg, vns);
    if (!d.ok) throw new AdminError('INVALID', d.reason);
    const prev = vns.find((v) => v.vni === cfg.vni);
    if (d.vn.l3 || prev?.l3) await this.store.announceVn(d.vn);
    else await this.store.putVn(d.vn);
    return d.vn;
  }

  /** Create a VRF (or rename it, or change its router MAC): the config of its L3 VNI. */
  async configureVrf(cfg: VrfConfig): Promise<VrfConfig> {
    const d = decideVrf(cfg, await this.store.listVns());
    if (!d.ok) throw new AdminError('INVALID', d.reason);
    await this.store.announceVn(d.vn);
    return cfg;
  }

  /**
   * Add (replace) a static route of a VRF, or delete it (`via` undefined). The VRF's config
   * carries its routes: the change reaches its NVEs like any routing change. Returns the revision.
   */
  async setRoute(vrf: number, prefix: string, via: string | undefined): Promise<number> {
    const d = decideRoute(await this.store.listVns(), vrf, prefix, via);
    if (!d.ok) throw new AdminError('INVALID', d.reason);
    return this.store.announceVn(d.vn);
  }

  /** Every VRF. */
  async listVrfs(): Promise<VrfConfig[]> {
    return vrfsOf(await this.store.listVns());
  }

  /**
   * Allow a MAC/IPs on a TSI (and optionally one NVE). Creates the VN in provisioned mode if it
   * does not exist. One IP cannot be provisioned to two MACs of a VN (unprovision the old first).
   */
  async provision(p: Provision): Promise<void> {
    const others = await this.store.listProvisions(p.vni);
    for (const o of others) {
      if (o.mac === p.mac) continue;
      const shared = o.ips.filter((ip) => p.ips.includes(ip));
      if (shared.length > 0) {
        throw new AdminError(
          'IP_TAKEN',
          `IP ${shared.join(', ')} is already provisioned to MAC ${o.mac} in VNI ${p.vni}`,
        );
      }
    }
    if (!(await this.store.getVn(p.vni))) {
      await this.store.putVn({ vni: p.vni, routed: false, learning: 'provisioned' });
    }
    await this.store.putProvision({ ...p, ips: [...new Set(p.ips)].sort() });
  }

  /**
   * Revoke a provision. In a provisioned VN the MAC's registration goes too (the VM is gone as
   * far as the orchestrator is concerned): its entry is withdrawn and every NVE removes it.
   */
  async unprovision(vni: Vni, mac: Mac): Promise<boolean> {
    const existed = await this.store.deleteProvision(vni, mac);
    if ((await this.store.getVn(vni))?.learning !== 'open') {
      await this.store.update(vni, mac, [], ({ current }) => ({
        upserts:
          current && current.state !== 'withdrawn'
            ? [
                {
                  ...current,
                  state: 'withdrawn' as const,
                  changedAt: this.now(),
                  conflictIps: undefined,
                },
              ]
            : [],
        result: null,
      }));
    }
    return existed;
  }

  /**
   * An orchestrator announces "VM (vni, mac) migrates to NVE `toNve`": store the hint (every NVA
   * replica tells the source and destination NVEs) and mark the entry `moving`.
   */
  async move(
    vni: Vni,
    mac: Mac,
    toNve: string,
    opts: { fromNve?: string; ttlMs?: number } = {},
  ): Promise<{ revision: number; hint: MoveHint }> {
    const current = await this.store.getEntry(vni, mac);
    const fromNve = opts.fromNve || current?.nveId;
    if (!fromNve) {
      throw new AdminError('UNKNOWN_MAC', `MAC ${mac} in VNI ${vni} is not registered; say --from`);
    }
    const now = this.now();
    const hint: MoveHint = {
      vni,
      mac,
      fromNve,
      toNve,
      expiresAt: now + (opts.ttlMs || this.hintTtlMs),
    };
    let revision = await this.store.putHint(hint);
    const r = await this.store.update(vni, mac, [], ({ current: cur }) => {
      const next = decideHint(cur, hint, this.now());
      return { upserts: next ? [next] : [], result: null };
    });
    revision = r.revision ?? revision;
    return { revision, hint };
  }

  /** A hint ran out without the VM arriving: the entry stops being `moving`. */
  async expireHint(vni: Vni, mac: Mac): Promise<number | undefined> {
    const now = this.now();
    if (await this.store.getHint(vni, mac, now)) return undefined; // renewed meanwhile
    await this.store.deleteHint(vni, mac);
    const r = await this.store.update(vni, mac, [], ({ current }) => ({
      upserts:
        current?.state === 'moving'
          ? [{ ...current, state: 'active' as const, changedAt: this.now() }]
          : [],
      result: null,
    }));
    return r.revision;
  }
}
