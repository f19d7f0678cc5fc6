// Everything the agent knows, and from it the desired content of each dataplane table. Four
// sources: the NVA's directory (snapshot + changes), the VMs running here (learnt locally,
// installed before the NVA answers), VMs that moved away (re-tunnelled for the hold time), and
// orchestrator hints of migrations under way. Every mutation marks the keys it touches dirty, so
// the reconciler writes only what changed. No timers and no I/O here: moves.ts and learner.ts
// decide, this file remembers and derives.
import { packEntries, type PackedEntries } from '../protocol/packed-snapshot.ts';
import { canonicalIp } from './config.ts';
import { DirectoryBase } from './directory-base.ts';
import { Directory, F_OVERLAID, F_TOUCHED } from './directory.ts';
import { L3State } from './l3-state.ts';
import type { DirEntry, Member, MoveHint } from './nva-port.ts';
import {
  ipId,
  macId,
  parseMacId,
  type FdbEntry,
  type IpKey,
  type MacKey,
  type NeighEntry,
  type FloodEntry,
  type PeerKey,
} from './tables.ts';

/** A VM whose TSI is on this host. */
export interface LocalVm {
  vni: number;
  mac: string;
  ips: string[];
  ifindex: number;
  tsi: string;
  /** Last sequence number registered (or to register) with the NVA. */
  seq: number;
  /**
   * False while an announced migration toward this NVE waits for the VM's first announce: frames
   * are delivered to the TSI, but the VM is not registered yet (it still runs at the source).
   */
  active: boolean;
  /** The NVA has confirmed this NVE hosts it (accepted, or the directory says so). */
  confirmed: boolean;
}

/** The VM left for the NVE at `vtep`; frames for it are re-tunnelled there until `untilMs`. */
export interface MovedVm {
  vtep: string;
  toNve: string;
  untilMs: number;
}

/** What a snapshot changed that moves and adoption must see: (previous entry, new entry). */
export type SnapshotChange = readonly [DirEntry | undefined, DirEntry];

export class NveState {
  /**
   * The NVA's directory: live entries (and any the NVA sends as withdrawn), by MAC id; the last
   * snapshot packed, under an overlay of later changes (directory.ts).
   */
  directory = new Directory(undefined);
  /**
   * The last entry of MACs the NVA deleted (it sends a withdrawal as a delete): their sequence
   * number is what a new registration must beat, and their NVE tells a source it had the VM.
   */
  readonly tombstones = new Map<string, DirEntry>();
  /**
   * Withdrawn VMs of other NVEs still forwarded to their last NVE for a few seconds: a cold move's
   * withdrawal followed at once by the registration elsewhere leaves no gap at peers (the old NVE
   * re-tunnels), and a peer that gets both late never drops the frames in between.
   */
  readonly lingering = new Set<string>();
  readonly locals = new Map<string, LocalVm>();
  readonly moved = new Map<string, MovedVm>();
  readonly hints = new Map<string, MoveHint>();
  /** vni -> nveId -> underlay address. */
  readonly members = new Map<number, Map<string, string>>();
  /** vni -> ifindexes of the TSIs of that VN present here (local part of the flood list). */
  readonly tsisByVni = new Map<number, Set<number>>();
  /** The L3 overlay of this NVE's VRFs (routed VNs, L3 VNIs) and the routes derived from it. */
  readonly l3 = new L3State();
  /**
   * Anchored addresses (docs/l3.md), by the id of the old address ("fromVni/ip"): the MAC id of
   * the entry that anchors it now and the anchor NVE.
   */
  readonly anchors = new Map<string, { id: string; nveId: string; nveAddr: string }>();
  revision = 0;

  readonly dirtyMacs = new Set<string>();
  readonly dirtyIps = new Set<string>();
  readonly dirtyVnis = new Set<number>();
  /** While a snapshot loads for a full resync: keys are not marked dirty one by one. */
  private resyncPending = false;

  /**
   * ip id -> the MAC ids that claim it; and the reverse, to undo a claim. Over the packed base:
   * only the IPs and MACs touched since the snapshot (an untouched entry of the base claims its
   * own IPs, alone unless the base says the IP is shared).
   */
  // One owner (the common case) is kept as the MAC id itself: no Set per IP.
  private ipOwners = new Map<string, string | Set<string>>();
  private ipsOfMac = new Map<string, string[]>();
  private readonly keys = new Map<string, MacKey>();
  /** Base slots touched since the snapshot, in order (their rows are derived one by one). */
  touchedSlots: number[] = [];
  /** Per IP index of the base: its owners are in ipOwners (not derived from the base). */
  ipOverlaid = new Uint8Array(0);

  constructor(
    readonly nveId: string,
    readonly underlayAddr: string,
    /**
     * VNIs this NVE serves (its TSIs' VNIs). Entries of other VNIs (routed VNs of its VRFs) are
     * for host routes only: no FDB or neighbour entry, no flood list. Undefined: all.
     */
    private readonly served?: ReadonlySet<number>,
  ) {}

  /** Whether a VNI gets L2 tables here (served, or the L3 VNI of one of its VRFs). */
  hasL2(vni: number, l3: L3State = this.l3): boolean {
    return this.served === undefined || this.served.has(vni) || l3.isL3Vni(vni);
  }

  /** True when some VNIs of the directory are for host routes only (L2 rows are filtered). */
  get routeOnly(): boolean {
    return this.routeOnlyWith(this.l3);
  }

  /** routeOnly under the L3 overlay `l3` (a snapshot's, before it is loaded). */
  routeOnlyWith(l3: L3State): boolean {
    return this.served !== undefined && !l3.empty;
  }

  // --- mutations (each marks what it touches) -----------------------------------------------

  /**
   * Replace the directory's content for the VNIs a snapshot covers (all of them when `vnis` is
   * empty). Returns the entries whose placement, state or number changed (and new entries of MACs
   * that are local, moved or hinted here, or placed here), for moves and adoption to look at.
   */
  loadSnapshot(
    revision: number,
    vnis: readonly number[],
    entries: readonly DirEntry[] | PackedEntries,
    members: readonly Member[],
    opts: { resyncFollows?: boolean } = {},
  ): SnapshotChange[] {
    // A full resync follows (the control loop's snapshot handler): it compares every key, so
    // marking a million keys dirty one by one would be wasted.
    this.resyncPending = opts.resyncFollows === true;
    try {
      const p = Array.isArray(entries)
        ? packEntries(entries as DirEntry[])
        : (entries as PackedEntries);
      return this.loadPacked(revision, vnis, p, members);
    } finally {
      this.resyncPending = false;
    }
  }

  private loadPacked(
    revision: number,
    vnis: readonly number[],
    packed: PackedEntries,
    members: readonly Member[],
  ): SnapshotChange[] {
    const listed = new Set(vnis);
    const covered = (vni: number) => vnis.length === 0 || listed.has(vni);
    const old = this.directory;
    // A snapshot of some VNIs: the entries of the others stay (rare: after a digest mismatch).
    const p = vnis.length > 0 ? mergeUncovered(old, covered, packed) : packed;
    const base = new DirectoryBase(p, this.nveId, old.base);
    const mark = !this.resyncPending;
    const changes: SnapshotChange[] = [];
    /** MAC ids whose desired rows may differ (only when no resync follows). */
    const dirty: string[] = [];
    const markDirty = (id: string) => {
      if (!mark) return;
      dirty.push(id);
      for (const ip of this.claimsOf(id)) this.dirtyIps.add(ip);
    };
    const oldBase = old.base;
    const seen = new Uint8Array(oldBase?.count ?? 0);
    // Entries the overlay changed since the last snapshot: compared as objects.
    const prevOf = new Map<number, DirEntry | null>();
    for (const [id, e] of old.overlay) {
      const os = oldBase ? oldBase.findId(id) : -1;
      if (os >= 0) seen[os] = 1;
      const ns = base.findId(id);
      if (ns >= 0) prevOf.set(ns, e);
      else if (e) {
        markDirty(id);
        this.tombstones.set(id, { ...e, state: 'withdrawn' });
      }
    }
    // MACs whose new entries matter to moves and adoption even when they are new.
    const special = new Set<number>();
    for (const m of [this.locals, this.moved, this.hints])
      for (const id of m.keys()) {
        const ns = base.findId(id);
        if (ns >= 0) special.add(ns);
      }
    const sameNve = oldBase ? nveMap(oldBase.p, p) : undefined;
    const keys = p.keys;
    // Old slot = new slot + shift while runs of entries are where they were, shifted by what was
    // deleted or added before them: one index lookup per shift, not per entry.
    let shift = 0;
    // Nothing to compare with (a first snapshot) and no keys to mark: only the new entries that
    // matter here are looked at (the else branch, without its lookups per entry).
    const firstLoad = !oldBase && prevOf.size === 0 && !mark;
    if (firstLoad) {
      for (let s = 0; s < base.count; s++) {
        if (!base.present[s]) continue;
        if (base.nveIsMe[p.nve[s]!] === 1 || (special.size > 0 && special.has(s)))
          changes.push([undefined, base.entry(s)]);
      }
    } else {
      for (let s = 0; s < base.count; s++) {
        if (!base.present[s]) continue;
        let prev: DirEntry | undefined;
        if (prevOf.has(s)) prev = prevOf.get(s) ?? undefined;
        else if (oldBase) {
          const a = keys[s * 3]!;
          const b = keys[s * 3 + 1]!;
          const c = keys[s * 3 + 2]!;
          const ok = oldBase.p.keys;
          // (the NVA sends its directory in the same order each time: most keys are where they were)
          const at = s + shift;
          const os =
            at >= 0 &&
            at < oldBase.count &&
            oldBase.present[at] &&
            ok[at * 3] === a &&
            ok[at * 3 + 1] === b &&
            ok[at * 3 + 2] === c
              ? at
              : oldBase.findWords(a, b, c);
          if (os >= 0 && os !== at) shift = os - s;
          if (os >= 0 && oldBase.present[os]) {
            seen[os] = 1;
            if (sameSlot(oldBase.p, os, p, s, sameNve!)) continue;
            prev = oldBase.entry(os);
          }
        }
        const here = base.nveIsMe[p.nve[s]!] === 1;
        if (prev === undefined) {
          if (mark) markDirty(base.id(s));
          if (here || special.has(s)) changes.push([undefined, base.entry(s)]);
          continue;
        }
        const e = base.entry(s);
        if (sameEntry(prev, e)) continue;
        markDirty(base.id(s));
        if (prev.nveId !== e.nveId || prev.state !== e.state || prev.seq !== e.seq)
          changes.push([prev, e]);
      }
    }
    // Entries the snapshot no longer has: withdrawn while we were away.
    if (oldBase)
      for (let os = 0; os < oldBase.count; os++) {
        if (!oldBase.present[os] || seen[os]) continue;
        const id = oldBase.id(os);
        markDirty(id);
        this.tombstones.set(id, { ...oldBase.entry(os), state: 'withdrawn' });
      }
    // The new directory; claims are derived from it again.
    this.directory = new Directory(base);
    this.ipOwners = new Map();
    this.ipsOfMac = new Map();
    this.touchedSlots = [];
    this.ipOverlaid = new Uint8Array(p.ipStart[p.count]!);
    if (this.tombstones.size > 0)
      for (const id of [...this.tombstones.keys()])
        if (this.directory.has(id)) this.tombstones.delete(id);
    if (this.lingering.size > 0)
      for (const id of [...this.lingering]) if (this.directory.has(id)) this.lingering.delete(id);
    for (const vni of [...this.members.keys()]) {
      if (!covered(vni)) continue;
      this.dirtyVnis.add(vni);
      this.members.delete(vni);
    }
    for (const m of members) this.upsertMember(m);
    this.revision = revision;
    // anchors from scratch (a resync of the routes follows every snapshot)
    this.anchors.clear();
    for (const s of base.anchored) this.indexAnchors(base.id(s), undefined, base.entry(s));
    // What is not the directory's alone (local, moved, hinted, lingering) is derived one by one.
    const own = new Set<string>([
      ...this.locals.keys(),
      ...this.moved.keys(),
      ...this.hints.keys(),
      ...this.lingering,
      ...dirty,
    ]);
    for (const id of own) this.touch(id);
    return changes;
  }

  /** Re-index the anchors of entry `id` (old version `prev`, new `next`); dirties their IPs. */
  private indexAnchors(id: string, prev: DirEntry | undefined, next: DirEntry | undefined): void {
    for (const a of prev?.anchors ?? []) {
      const k = `${a.fromVni}/${a.ip}`;
      if (this.anchors.get(k)?.id === id) this.anchors.delete(k);
      if (!this.resyncPending) this.dirtyIps.add(k);
    }
    if (next?.state === 'withdrawn') return;
    for (const a of next?.anchors ?? []) {
      const k = `${a.fromVni}/${a.ip}`;
      this.anchors.set(k, { id, nveId: a.nveId, nveAddr: a.nveAddr });
      if (!this.resyncPending) this.dirtyIps.add(k);
    }
  }

  upsertEntry(e: DirEntry, id = macId(e)): void {
    if (!this.keys.has(id)) this.keys.set(id, { vni: e.vni, mac: e.mac });
    // (no extra lookup per entry unless anchors exist: a snapshot re-upserts a million)
    if (e.anchors?.length || this.anchors.size > 0) {
      const prev = this.directory.get(id);
      if (prev?.anchors?.length || e.anchors?.length) this.indexAnchors(id, prev, e);
    }
    this.directory.set(id, e);
    if (this.tombstones.size > 0) this.tombstones.delete(id);
    if (this.lingering.size > 0) this.lingering.delete(id);
    this.touch(id);
  }

  /** The NVA deleted (withdrew) an entry; returns its tombstone. */
  deleteEntry(k: MacKey): DirEntry | undefined {
    const id = macId(k);
    const e = this.directory.get(id);
    if (!e) return undefined;
    if (e.anchors?.length) this.indexAnchors(id, e, undefined);
    this.directory.delete(id);
    const tomb: DirEntry = { ...e, state: 'withdrawn' };
    this.tombstones.set(id, tomb);
    this.touch(id);
    return tomb;
  }

  /** Keep (or stop) forwarding a withdrawn VM to its last NVE. */
  setLinger(id: string, on: boolean): void {
    const changed = on ? !this.lingering.has(id) : this.lingering.has(id);
    if (on) this.lingering.add(id);
    else this.lingering.delete(id);
    if (changed) this.touch(id);
  }

  /** The tombstone of a withdrawn VM still forwarded to its last NVE, if it is one. */
  lingeringEntry(id: string): DirEntry | undefined {
    if (!this.lingering.has(id) || this.directory.has(id)) return undefined;
    const t = this.tombstones.get(id);
    return t && t.nveId !== this.nveId ? t : undefined;
  }

  /** The directory's entry of a MAC, or its tombstone when the NVA deleted it. */
  lastKnown(id: string): DirEntry | undefined {
    return this.directory.get(id) ?? this.tombstones.get(id);
  }

  upsertMember(m: Member): void {
    // A route-only VN's flood list is not ours (the NVA does not send it; old NVAs might).
    if (!this.hasL2(m.vni)) return;
    let vn = this.members.get(m.vni);
    if (!vn) this.members.set(m.vni, (vn = new Map()));
    vn.set(m.nveId, m.nveAddr);
    this.dirtyVnis.add(m.vni);
  }

  removeMember(vni: number, nveId: string): void {
    if (this.members.get(vni)?.delete(nveId)) this.dirtyVnis.add(vni);
  }

  /** A TSI of `vni` is present (or gone): it joins (or leaves) the VN's local flood list. */
  setTsi(vni: number, ifindex: number, present: boolean): void {
    let s = this.tsisByVni.get(vni);
    if (!s) this.tsisByVni.set(vni, (s = new Set()));
    if (present) s.add(ifindex);
    else s.delete(ifindex);
    if (s.size === 0) this.tsisByVni.delete(vni);
    this.dirtyVnis.add(vni);
  }

  setLocal(vm: LocalVm): void {
    const id = macId(vm);
    this.keys.set(id, { vni: vm.vni, mac: vm.mac });
    this.locals.set(id, vm);
    this.touch(id);
  }

  deleteLocal(id: string): LocalVm | undefined {
    const vm = this.locals.get(id);
    if (vm) {
      this.locals.delete(id);
      this.touch(id);
    }
    return vm;
  }

  setMoved(k: MacKey, m: MovedVm): void {
    const id = macId(k);
    this.keys.set(id, { vni: k.vni, mac: k.mac });
    this.moved.set(id, m);
    this.touch(id);
  }

  deleteMoved(id: string): void {
    if (this.moved.delete(id)) this.touch(id);
  }

  setHint(h: MoveHint): void {
    const id = macId(h);
    this.keys.set(id, { vni: h.vni, mac: h.mac });
    this.hints.set(id, h);
    this.touch(id);
  }

  deleteHint(id: string): void {
    if (this.hints.delete(id)) this.touch(id);
  }

  /** Mark a MAC dirty and re-index the IPs it claims (old and new claims are dirtied). */
  touch(id: string): void {
    const mark = !this.resyncPending;
    if (mark) this.dirtyMacs.add(id);
    const d = this.directory;
    const slot = d.slot(id);
    let old: readonly string[];
    if (slot >= 0 && !(d.flags[slot]! & F_TOUCHED)) {
      // First touch of a base entry: from now on its claims are kept here, not derived.
      d.flags[slot]! |= F_TOUCHED;
      this.touchedSlots.push(slot);
      old = d.base!.claims(slot);
      for (const ip of old) this.ensureOwners(ip);
    } else old = this.ipsOfMac.get(id) ?? NO_IPS;
    const next = this.claimedIps(id);
    if (sameList(old, next)) {
      // Same claims: only which MAC wins may have changed.
      if (mark) for (const ip of next) this.dirtyIps.add(ip);
      if (next.length > 0) this.ipsOfMac.set(id, next);
      return;
    }
    for (const ip of old) {
      this.disown(ip, id);
      if (mark) this.dirtyIps.add(ip);
    }
    for (const ip of next) {
      this.own(ip, id);
      if (mark) this.dirtyIps.add(ip);
    }
    if (next.length > 0) this.ipsOfMac.set(id, next);
    else this.ipsOfMac.delete(id);
  }

  /** The IP ids a MAC claims now. */
  claimsOf(id: string): readonly string[] {
    const own = this.ipsOfMac.get(id);
    if (own) return own;
    const d = this.directory;
    const slot = d.slot(id);
    return slot >= 0 && !(d.flags[slot]! & F_TOUCHED) ? d.base!.claims(slot) : NO_IPS;
  }

  /** An IP's owners as the base gives them, copied into ipOwners before they change. */
  private ensureOwners(ip: string): void {
    if (this.ipOwners.has(ip)) return;
    const base = this.directory.base;
    if (!base) return;
    const js = base.claimants(ip);
    if (js.length === 0) return;
    for (const j of js) this.ipOverlaid[j] = 1;
    const ids = js.map((j) => base.id(base.ipSlot[j]!));
    this.ipOwners.set(ip, ids.length === 1 ? ids[0]! : new Set(ids));
  }

  /** The owners of an IP: ipOwners, else the base's. */
  private ownersOf(ip: string): string | Set<string> | undefined {
    const o = this.ipOwners.get(ip);
    if (o !== undefined) return o;
    const base = this.directory.base;
    if (!base) return undefined;
    const js = base.claimants(ip);
    if (js.length === 0) return undefined;
    const ids = js.map((j) => base.id(base.ipSlot[j]!));
    return ids.length === 1 ? ids[0]! : new Set(ids);
  }

  private own(ip: string, id: string): void {
    this.ensureOwners(ip);
    const o = this.ipOwners.get(ip);
    if (o === undefined) this.ipOwners.set(ip, id);
    else if (typeof o === 'string') {
      if (o !== id) this.ipOwners.set(ip, new Set([o, id]));
    } else o.add(id);
  }

  private disown(ip: string, id: string): void {
    this.ensureOwners(ip);
    const o = this.ipOwners.get(ip);
    // (over a base, an IP nobody claims stays as an empty set: the base's claim is undone)
    if (o === id) {
      if (this.directory.base) this.ipOwners.set(ip, new Set());
      else this.ipOwners.delete(ip);
    } else if (o instanceof Set) {
      o.delete(id);
      if (o.size === 1) this.ipOwners.set(ip, o.values().next().value!);
    }
  }

  /** Forget what is dirty (after the reconciler applied it). */
  clearDirty(): void {
    this.dirtyMacs.clear();
    this.dirtyIps.clear();
    this.dirtyVnis.clear();
  }

  // --- queries ------------------------------------------------------------------------------

  key(id: string): MacKey | undefined {
    return this.keys.get(id) ?? parseMacId(id);
  }

  /** The directory entry of a MAC if it is live (not withdrawn). */
  liveEntry(id: string): DirEntry | undefined {
    const e = this.directory.get(id);
    return e && e.state !== 'withdrawn' ? e : undefined;
  }

  /** True when the directory places this MAC on another NVE. */
  isElsewhere(e: DirEntry | undefined): e is DirEntry {
    return e !== undefined && e.state !== 'withdrawn' && e.nveId !== this.nveId;
  }

  /** VNIs this NVE serves. */
  vnis(): number[] {
    const s = new Set<number>(this.members.keys());
    this.directory.vnis(s);
    for (const l of this.locals.values()) s.add(l.vni);
    return [...s].sort((a, b) => a - b);
  }

  // --- desired state ------------------------------------------------------------------------

  /** Where frames for this MAC should go, or undefined (no entry). */
  desiredFdb(id: string): FdbEntry | undefined {
    const place = this.desiredPlace(id);
    if (!place) return undefined;
    // the IPv4 a RARP request for the MAC is answered with rides in the same entry
    const rarp = this.desiredRarp(id);
    return rarp === undefined ? place : { ...place, rarp };
  }

  /** desiredFdb without the RARP address. */
  private desiredPlace(id: string): FdbEntry | undefined {
    const local = this.locals.get(id);
    if (local) {
      const hint = this.hints.get(id);
      if (hint && hint.fromNve === this.nveId && hint.toNve !== this.nveId && hint.toAddr) {
        return { kind: 'dual', ifindex: local.ifindex, vtep: hint.toAddr };
      }
      return { kind: 'local', ifindex: local.ifindex };
    }
    const moved = this.moved.get(id);
    if (moved) return { kind: 'moved', vtep: moved.vtep, untilMs: moved.untilMs };
    const e = this.directory.get(id);
    if (this.isElsewhere(e)) return { kind: 'remote', vtep: e.nveAddr };
    const gone = this.lingeringEntry(id);
    if (gone) return { kind: 'remote', vtep: gone.nveAddr };
    return undefined;
  }

  /**
   * The MAC that answers for an IP: a local VM the NVA confirmed, else the directory's claim with
   * the highest IP sequence number, else a local VM still waiting for the NVA (so a VM claiming
   * someone else's address is not believed before the NVA has had its say).
   */
  desiredNeigh(ipKeyId: string): NeighEntry | undefined {
    const owners = this.ownersOf(ipKeyId);
    if (owners === undefined || (typeof owners !== 'string' && owners.size === 0)) return undefined;
    if (typeof owners === 'string') return { mac: this.key(owners)!.mac };
    let best: { id: string; rank: number; seq: number } | undefined;
    const ip = ipKeyId.slice(ipKeyId.indexOf('/') + 1);
    for (const id of owners) {
      const local = this.locals.get(id);
      const rank = local ? (local.confirmed ? 2 : 0) : 1;
      const seq = this.directory.get(id)?.ips.find((b) => b.ip === ip)?.seq ?? 0;
      const better =
        !best ||
        rank > best.rank ||
        (rank === best.rank && (seq > best.seq || (seq === best.seq && id < best.id)));
      if (better) best = { id, rank, seq };
    }
    return { mac: this.key(best!.id)!.mac };
  }

  /** The flood list of a VN: local TSIs and remote NVEs, sorted (a stable value to compare). */
  desiredFlood(vni: number): FloodEntry | undefined {
    const local = [...(this.tsisByVni.get(vni) ?? [])].sort((a, b) => a - b);
    const remote = this.remotePeers(vni);
    return local.length + remote.length > 0 ? { local, remote } : undefined;
  }

  /** The other NVEs serving a VN (their underlay addresses, sorted). */
  remotePeers(vni: number): string[] {
    const vn = this.members.get(vni);
    if (!vn) return [];
    return [...new Set([...vn].filter(([id]) => id !== this.nveId).map(([, addr]) => addr))].sort();
  }

  /** The IPv4 address a RARP request for this MAC is answered with. */
  desiredRarp(id: string): string | undefined {
    return firstIpv4(this.claimsOf(id));
  }

  // The all*() generators yield [key, value, key id] so the reconciler need not rebuild ids.

  *allFdb(): IterableIterator<readonly [MacKey, FdbEntry, string]> {
    // Each MAC once: locals, then moved ones not local, then the directory's other entries.
    for (const id of this.locals.keys()) yield this.fdbRow(id)!;
    for (const id of this.moved.keys()) if (!this.locals.has(id)) yield this.fdbRow(id)!;
    const others = this.locals.size + this.moved.size > 0;
    const d = this.directory;
    for (const [id, e] of d.overlay) {
      if (!e || (others && (this.locals.has(id) || this.moved.has(id)))) continue;
      // desiredFdb for a MAC neither local nor moved, without looking it up again.
      if (this.isElsewhere(e))
        yield [this.key(id)!, remoteEntry(e.nveAddr, this.desiredRarp(id)), id];
    }
    const b = d.base;
    if (b)
      for (let s = 0; s < b.count; s++) {
        if (!b.elsewhere[s] || d.flags[s]! & F_OVERLAID) continue;
        const id = b.id(s);
        if (d.flags[s]! & F_TOUCHED && (this.locals.has(id) || this.moved.has(id))) continue;
        const nve = b.p.nves[b.p.nve[s]!]!;
        const p = b.p;
        let rarp: string | undefined;
        for (let j = p.ipStart[s]!; j < p.ipStart[s + 1]! && rarp === undefined; j++)
          if (!p.ip6.has(j)) rarp = p.ip(j);
        yield [{ vni: p.vni(s), mac: p.mac(s) }, remoteEntry(nve.addr, rarp), id];
      }
    for (const id of this.lingering) {
      if (this.locals.has(id) || this.moved.has(id) || this.directory.has(id)) continue;
      const row = this.fdbRow(id);
      if (row) yield row;
    }
  }

  /**
   * The FDB rows not derived from the base's columns alone (local, moved, changed since the
   * snapshot, touched, lingering): with the base's untouched entries (packed-desired.ts), all.
   */
  *overlayFdb(): IterableIterator<readonly [MacKey, FdbEntry, string]> {
    const d = this.directory;
    const ids = new Set<string>([...this.locals.keys(), ...this.moved.keys()]);
    for (const [id, e] of d.overlay) if (e) ids.add(id);
    if (d.base) for (const s of this.touchedSlots) ids.add(d.base.id(s));
    for (const id of this.lingering) ids.add(id);
    for (const id of ids) {
      const row = this.fdbRow(id);
      if (row) yield row;
    }
  }

  /** Neighbour rows not derived from the base alone: IPs re-owned since, and shared ones. */
  *overlayNeigh(): IterableIterator<readonly [IpKey, NeighEntry, string]> {
    for (const id of this.ipOwners.keys()) {
      const v = this.desiredNeigh(id);
      if (v) yield [parseIpId(id), v, id];
    }
    for (const id of this.directory.base?.sharedIps ?? []) {
      if (this.ipOwners.has(id)) continue;
      const v = this.desiredNeigh(id);
      if (v) yield [parseIpId(id), v, id];
    }
  }

  private fdbRow(id: string): readonly [MacKey, FdbEntry, string] | undefined {
    const v = this.desiredFdb(id);
    return v ? [this.key(id)!, v, id] : undefined;
  }

  *allNeigh(): IterableIterator<readonly [IpKey, NeighEntry, string]> {
    yield* this.overlayNeigh();
    const d = this.directory;
    const b = d.base;
    if (!b) return;
    const p = b.p;
    for (let s = 0; s < b.count; s++) {
      if (!b.elsewhere[s] || d.flags[s]! & F_TOUCHED) continue;
      const vni = p.vni(s);
      for (let j = p.ipStart[s]!; j < p.ipStart[s + 1]!; j++) {
        if (this.ipOverlaid[j] || b.ipShared[j]) continue;
        const ip = p.ip(j);
        yield [{ vni, ip }, { mac: p.mac(s) }, `${vni}/${ip}`];
      }
    }
  }

  *allFlood(): IterableIterator<readonly [number, FloodEntry]> {
    for (const vni of new Set([...this.members.keys(), ...this.tsisByVni.keys()])) {
      const v = this.desiredFlood(vni);
      if (v) yield [vni, v];
    }
  }

  *allPeers(): IterableIterator<readonly [PeerKey, true]> {
    for (const vni of this.members.keys())
      for (const vtep of this.remotePeers(vni)) yield [{ vni, vtep }, true];
  }

  /** The IPs a MAC claims in its VN while it has an FDB entry here. */
  private claimedIps(id: string): string[] {
    const k = this.key(id);
    if (!k) return [];
    const local = this.locals.get(id);
    const e = this.directory.get(id);
    if (local) {
      // What it announced, plus what the directory holds for it here: a VM announced by RARP
      // (no IP in it) still answers for its provisioned IPs once the NVA confirmed it.
      const ips = new Set(local.ips.map(canonicalIp));
      if (e && e.state !== 'withdrawn' && e.nveId === this.nveId)
        for (const b of e.ips) ips.add(canonicalIp(b.ip));
      return [...ips].map((ip) => ipId({ vni: k.vni, ip }));
    }
    const src = this.isElsewhere(e) ? e : this.lingeringEntry(id);
    if (!src || src.ips.length === 0) return NO_IPS as string[];
    const out: string[] = [];
    for (const b of src.ips) out.push(`${k.vni}/${canonicalIpFast(b.ip)}`);
    return out;
  }
}

const NO_IPS: readonly string[] = [];

/** The first IPv4 of a MAC's claimed ip ids ("vni/ip"). */
function firstIpv4(ipIds: readonly string[]): string | undefined {
  for (const i of ipIds) {
    const ip = i.slice(i.indexOf('/') + 1);
    if (!ip.includes(':')) return ip;
  }
  return undefined;
}

/** Remote FDB entries, one per NVE address (desired values are never mutated: shared); with a
 * RARP address, one per entry. */
const remoteEntries = new Map<string, FdbEntry>();
const REMOTE_ENTRIES_MAX = 4096;
function remoteEntry(vtep: string, rarp: string | undefined): FdbEntry {
  if (rarp !== undefined) return { kind: 'remote', vtep, rarp };
  let v = remoteEntries.get(vtep);
  if (!v) {
    if (remoteEntries.size >= REMOTE_ENTRIES_MAX) remoteEntries.clear();
    remoteEntries.set(vtep, (v = { kind: 'remote', vtep }));
  }
  return v;
}

/** Same directory entry for the tables (placement, number, state and IPs). */
function sameEntry(a: DirEntry, b: DirEntry): boolean {
  if (
    a.nveId !== b.nveId ||
    a.nveAddr !== b.nveAddr ||
    a.seq !== b.seq ||
    a.state !== b.state ||
    a.ips.length !== b.ips.length ||
    (a.anchors?.length ?? 0) !== (b.anchors?.length ?? 0)
  )
    return false;
  for (let i = 0; i < (a.anchors?.length ?? 0); i++) {
    const x = a.anchors![i]!;
    const y = b.anchors![i]!;
    if (x.ip !== y.ip || x.fromVni !== y.fromVni || x.nveAddr !== y.nveAddr) return false;
  }
  for (let i = 0; i < a.ips.length; i++)
    if (a.ips[i]!.ip !== b.ips[i]!.ip || a.ips[i]!.seq !== b.ips[i]!.seq) return false;
  return true;
}

/** canonicalIp without its IPv6 check for what cannot be IPv6 (IPv4 text is kept as is). */
const canonicalIpFast = (ip: string): string => (ip.includes(':') ? canonicalIp(ip) : ip);

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** New NVE index -> old NVE index of the same (id, address), or -1. */
function nveMap(a: PackedEntries, b: PackedEntries): Int32Array {
  const at = new Map(a.nves.map((v, i) => [`${v.id}\n${v.addr}`, i]));
  return Int32Array.from(b.nves, (v) => at.get(`${v.id}\n${v.addr}`) ?? -1);
}

/** Entry os of `a` and entry s of `b` are the same for the tables (as sameEntry says). */
function sameSlot(
  a: PackedEntries,
  os: number,
  b: PackedEntries,
  s: number,
  nveOfB: Int32Array,
): boolean {
  if (nveOfB[b.nve[s]!] !== a.nve[os] || a.seq[os] !== b.seq[s] || a.state[os] !== b.state[s])
    return false;
  const ia = a.ipStart[os]!;
  const ib = b.ipStart[s]!;
  const n = a.ipStart[os + 1]! - ia;
  if (b.ipStart[s + 1]! - ib !== n) return false;
  for (let k = 0; k < n; k++) {
    if (a.ip4[ia + k] !== b.ip4[ib + k] || a.ipSeq[ia + k] !== b.ipSeq[ib + k]) return false;
    if (a.ip6.get(ia + k) !== b.ip6.get(ib + k)) return false;
  }
  const xa = a.extras.get(os)?.anchors;
  const xb = b.extras.get(s)?.anchors;
  if (xa?.length || xb?.length) return sameEntry(a.entry(os), b.entry(s));
  return true;
}

/** The entries of VNIs a partial snapshot does not cover, then the snapshot's, packed. */
function mergeUncovered(
  old: Directory,
  covered: (vni: number) => boolean,
  p: PackedEntries,
): PackedEntries {
  // The NVA lists every VNI it covers, also in a full snapshot: nothing to keep is the usual case
  // (a cold start, a reconnect), and then the decoded columns are the directory as they are.
  if (!hasUncovered(old, covered)) return p;
  const keep: DirEntry[] = [];
  for (const [, e] of old.entries()) if (!covered(e.vni)) keep.push(e);
  for (let i = 0; i < p.count; i++) keep.push(p.entry(i));
  return packEntries(keep);
}

/** Whether the directory holds an entry of a VNI not `covered` (the base knows its VNIs). */
function hasUncovered(old: Directory, covered: (vni: number) => boolean): boolean {
  for (const vni of old.base?.vnis ?? []) if (!covered(vni)) return true;
  for (const e of old.overlay.values()) if (e && !covered(e.vni)) return true;
  return false;
}

export function parseIpId(id: string): IpKey {
  const slash = id.indexOf('/');
  return { vni: Number(id.slice(0, slash)), ip: id.slice(slash + 1) };
}
