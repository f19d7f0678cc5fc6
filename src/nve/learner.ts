// Local learning: what the dataplane reports on a TSI (gratuitous ARP, unsolicited NA, RARP, a new
// source MAC) makes the VM local here at once, before the NVA answers, and registers it with the
// next sequence number. Only addresses provisioned on that TSI count; anything else is ignored
// and counted (the NVA would refuse it anyway: a VM cannot steal another VM's address here).
import type { TsiConfig } from './config.ts';
import type { AnnouncementKind } from './nva-port.ts';
import type { LocalVm, NveState } from './nve-state.ts';
import type { MoveTracker } from './moves.ts';
import { macId } from './tables.ts';

/** What the dataplane's ring buffer reports. */
export type LearnKind = 'garp' | 'una' | 'rarp' | 'new_mac';

export interface LearnEvent {
  kind: LearnKind;
  ifindex: number;
  vni: number;
  mac: string;
  /** The announced IP (GARP, unsolicited NA); absent for RARP and a bare new source MAC. */
  ip?: string | undefined;
}

/** A TSI present on this host, matched against the config. */
export interface TsiInfo {
  name: string;
  ifindex: number;
  config: TsiConfig;
}

export type LearnOutcome =
  | 'installed'
  | 'activated'
  | 'updated'
  | 'repeat'
  | 'ignored_unknown_tsi'
  | 'ignored_vni'
  | 'ignored_mac'
  | 'ignored_ip';

export interface LearnerDeps {
  state: NveState;
  moves: MoveTracker;
  tsiByIfindex: (ifindex: number) => TsiInfo | undefined;
  /** Write the dirty state to the tables now (local entries go in before the NVA answers). */
  apply: () => void;
  /** Register (or re-register) a local VM with the NVA. */
  register: (vm: LocalVm, kind: AnnouncementKind) => void;
  /** Withdraw a VM that left. */
  withdraw: (k: { vni: number; mac: string }) => void;
}

const KIND_TO_WIRE: Record<LearnKind, AnnouncementKind> = {
  garp: 'garp',
  una: 'garp',
  rarp: 'rarp',
  new_mac: 'learned',
};

export class Learner {
  readonly counts = new Map<LearnOutcome, number>();

  constructor(private readonly d: LearnerDeps) {}

  /** Handle one ring-buffer event; says what it did. */
  handle(ev: LearnEvent): LearnOutcome {
    const out = this.decide(ev);
    this.counts.set(out, (this.counts.get(out) ?? 0) + 1);
    return out;
  }

  /** A TSI appeared: a VM the directory already places here (agent restart), or one whose
   * migration here was announced, is installed at once. Others wait for their first frame. */
  tsiAppeared(t: TsiInfo): void {
    const { state, moves } = this.d;
    const mac = t.config.mac;
    if (!mac) return;
    const k = { vni: t.config.vni, mac };
    const id = macId(k);
    const e = state.liveEntry(id);
    const atHere = e !== undefined && e.nveId === state.nveId;
    const expected = moves.expectedHere(k) !== undefined;
    if (!atHere && !expected) return;
    state.setLocal({
      ...k,
      ips: t.config.ips.length > 0 ? [...t.config.ips] : (e?.ips.map((b) => b.ip) ?? []),
      ifindex: t.ifindex,
      tsi: t.name,
      seq: atHere ? e.seq : 0,
      // Expected by a hint: deliver to the TSI, register on the first announce.
      active: atHere,
      confirmed: atHere,
    });
    this.d.apply();
  }

  /** A TSI vanished: its VMs are no longer here. Returns how many were withdrawn. */
  tsiGone(ifindex: number): number {
    const { state, moves } = this.d;
    let n = 0;
    for (const [id, vm] of [...state.locals]) {
      if (vm.ifindex !== ifindex) continue;
      state.deleteLocal(id);
      const k = { vni: vm.vni, mac: vm.mac };
      const migrating = state.hints.get(id)?.fromNve === state.nveId;
      moves.localGone(k);
      // A VM migrating away is handed over by the destination's registration; others withdraw.
      if (vm.active && !migrating) {
        this.d.withdraw(k);
        n++;
      }
    }
    this.d.apply();
    return n;
  }

  private decide(ev: LearnEvent): LearnOutcome {
    const { state, moves } = this.d;
    const tsi = this.d.tsiByIfindex(ev.ifindex);
    if (!tsi) return 'ignored_unknown_tsi';
    const cfg = tsi.config;
    if (ev.vni !== cfg.vni) return 'ignored_vni';
    const mac = ev.mac.toLowerCase();
    if (cfg.mac !== undefined && cfg.mac !== mac) return 'ignored_mac';
    if (ev.ip !== undefined && cfg.ips.length > 0 && !cfg.ips.includes(ev.ip)) return 'ignored_ip';

    const k = { vni: cfg.vni, mac };
    const id = macId(k);
    const local = state.locals.get(id);
    const newIp = ev.ip !== undefined && !(local?.ips.includes(ev.ip) ?? false);
    if (local && local.ifindex === ev.ifindex && local.active && !newIp) {
      // QEMU sends 5 RARPs after a migration: the first one counted, the rest change nothing.
      return 'repeat';
    }
    const e = state.directory.get(id);
    const ips =
      cfg.ips.length > 0
        ? [...cfg.ips]
        : [
            ...new Set([
              ...(local?.ips ?? e?.ips.map((b) => b.ip) ?? []),
              ...(ev.ip ? [ev.ip] : []),
            ]),
          ];
    const vm: LocalVm = {
      ...k,
      ips,
      ifindex: ev.ifindex,
      tsi: tsi.name,
      seq: nextSeq(state, id, local),
      active: true,
      confirmed: false,
    };
    const outcome: LearnOutcome = !local ? 'installed' : !local.active ? 'activated' : 'updated';
    moves.cancelHold(id);
    if (outcome === 'activated') moves.dropHint(id);
    state.setLocal(vm);
    // Installed before the NVA answers: local traffic to the VM works at once.
    this.d.apply();
    this.d.register(vm, KIND_TO_WIRE[ev.kind]);
    return outcome;
  }
}

/**
 * The sequence number to register with (EVPN MAC mobility): the directory's number when the VM
 * is already ours, one more when it is elsewhere or withdrawn (to win), 1 for a MAC never seen.
 */
export function nextSeq(state: NveState, id: string, local?: LocalVm): number {
  const e = state.lastKnown(id);
  const mine = local?.active ? local.seq : 0;
  if (!e) return Math.max(mine, 1);
  if (e.nveId === state.nveId && e.state !== 'withdrawn') return Math.max(e.seq, mine);
  return Math.max(e.seq + 1, mine);
}
