// Keeps the dataplane tables equal to NveState's desired content. Two ways: `apply()` writes only
// the keys marked dirty since the last pass (the steady state: one change, a few map writes), and
// `resync()` compares everything against the real tables (after a reconnect, a restart that
// re-adopted pinned maps, or a digest mismatch): it updates and deletes only what differs, mark
// and sweep, never a flush, so traffic to unchanged entries is never disturbed.
import { performance } from 'node:perf_hooks';
import type { NveState } from './nve-state.ts';
import { parseIpId } from './nve-state.ts';
import { TableSync, type SyncCounts } from './table-sync.ts';
import {
  fdbEqual,
  floodEqual,
  ipId,
  macId,
  neighEqual,
  peerId,
  vniId,
  type AgentTables,
  type FdbEntry,
  type FloodEntry,
  type IpKey,
  type MacKey,
  type NeighEntry,
  type PeerKey,
} from './tables.ts';

/** What one pass did, per table, and how long it took. */
export interface ReconcileReport {
  mode: 'apply' | 'resync';
  fdb: SyncCounts;
  neigh: SyncCounts;
  flood: SyncCounts;
  peers: SyncCounts;
  rarp: SyncCounts;
  /** Wall time of the pass in milliseconds. */
  ms: number;
  /** VNIs whose installed content may have changed (their digests need recomputing). */
  vnis: number[];
}

export class Reconciler {
  readonly fdb: TableSync<MacKey, FdbEntry>;
  readonly neigh: TableSync<IpKey, NeighEntry>;
  readonly flood: TableSync<number, FloodEntry>;
  readonly peers: TableSync<PeerKey, true>;
  readonly rarp: TableSync<MacKey, string>;

  constructor(
    tables: AgentTables,
    private readonly state: NveState,
  ) {
    const keyOfMac = (id: string) => state.key(id);
    this.fdb = new TableSync(tables.fdb, macId, fdbEqual, keyOfMac);
    this.neigh = new TableSync(tables.neigh, ipId, neighEqual, parseIpId);
    this.flood = new TableSync(tables.flood, vniId, floodEqual);
    this.peers = new TableSync(tables.peers, peerId, () => true);
    this.rarp = new TableSync(tables.rarp, macId, (a, b) => a === b, keyOfMac);
  }

  /** Read the installed tables into the shadow copies without writing (re-adopting pinned maps). */
  adopt(): void {
    this.fdb.adopt();
    this.neigh.adopt();
    this.flood.adopt();
    this.peers.adopt();
    this.rarp.adopt();
  }

  /** Write what changed since the last pass (the dirty keys), in one batch per table. */
  apply(): ReconcileReport {
    const t0 = performance.now();
    const s = this.state;
    const vnis = new Set<number>(s.dirtyVnis);
    for (const id of s.dirtyMacs) vnis.add(Number(id.slice(0, id.indexOf('/'))));
    for (const id of s.dirtyIps) vnis.add(Number(id.slice(0, id.indexOf('/'))));
    const fdb = this.fdb.update(s.dirtyMacs, (id) => {
      const v = s.desiredFdb(id);
      const k = s.key(id);
      return v && k ? [k, v] : undefined;
    });
    const neigh = this.neigh.update(s.dirtyIps, (id) => {
      const v = s.desiredNeigh(id);
      return v ? [parseIpId(id), v] : undefined;
    });
    const flood = this.flood.update(
      [...s.dirtyVnis].map((v) => vniId(v)),
      (id) => {
        const v = s.desiredFlood(Number(id));
        return v ? [Number(id), v] : undefined;
      },
    );
    // Peers of the dirty VNIs: what is installed for them and what should be.
    const peerIds = new Set<string>();
    for (const [k] of this.peers.installed()) if (s.dirtyVnis.has(k.vni)) peerIds.add(peerId(k));
    for (const vni of s.dirtyVnis)
      for (const vtep of s.remotePeers(vni)) peerIds.add(peerId({ vni, vtep }));
    const peers = this.peers.update(peerIds, (id) => {
      const slash = id.indexOf('/');
      const vni = Number(id.slice(0, slash));
      const vtep = id.slice(slash + 1);
      return s.remotePeers(vni).includes(vtep) ? [{ vni, vtep }, true] : undefined;
    });
    const rarp = this.rarp.update(s.dirtyMacs, (id) => {
      const ip = s.desiredRarp(id);
      const k = s.key(id);
      return ip && k ? [k, ip] : undefined;
    });
    s.clearDirty();
    return {
      mode: 'apply',
      fdb,
      neigh,
      flood,
      peers,
      rarp,
      ms: performance.now() - t0,
      vnis: [...vnis],
    };
  }

  /** Mark and sweep every table against the full desired state. */
  resync(): ReconcileReport {
    const t0 = performance.now();
    const s = this.state;
    // About one FDB, neighbour and RARP row per directory entry: sizes the shadows once.
    const hint = s.directory.size + s.locals.size;
    const fdb = this.fdb.resync(s.allFdb(), hint);
    const neigh = this.neigh.resync(s.allNeigh(), hint);
    const flood = this.flood.resync(s.allFlood());
    const peers = this.peers.resync(s.allPeers());
    const rarp = this.rarp.resync(s.allRarp(), hint);
    s.clearDirty();
    const vnis = this.fdb.installedVnis((k) => k.vni);
    for (const v of s.vnis()) vnis.add(v);
    return {
      mode: 'resync',
      fdb,
      neigh,
      flood,
      peers,
      rarp,
      ms: performance.now() - t0,
      vnis: [...vnis].sort((a, b) => a - b),
    };
  }
}
