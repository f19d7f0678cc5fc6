// Keeps the dataplane tables equal to NveState's desired content. Two ways: `apply()` writes only
// the keys marked dirty since the last pass (the steady state: one change, a few map writes), and
// `resync()` compares everything against the real tables (after a reconnect, a restart that
// re-adopted pinned maps, or a digest mismatch): it updates and deletes only what differs, mark
// and sweep, never a flush, so traffic to unchanged entries is never disturbed.
import { performance } from 'node:perf_hooks';
import type { NveState } from './nve-state.ts';
import { parseIpId } from './nve-state.ts';
import {
  type L3State,
  parsePrefixId,
  parseRouteId,
  prefixId,
  routedVniEqual,
  routeEqual,
  routeId,
} from './l3-state.ts';
import type { PrefixKey, RouteEntry, RouteKey, RoutedVni } from '../dataplane/l3-codecs.ts';
import { TableSync, type SyncCounts } from './table-sync.ts';
import { emitFdb, emitNeigh } from './packed-desired.ts';
import { BatchWriter } from './batch-writer.ts';
import { ColdFdbStream } from './cold-stream.ts';
import {
  fdbEqual,
  floodEqual,
  ipId,
  macId,
  parseMacId,
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
  /** The L3 overlay's tables (absent when the dataplane has none, e.g. some unit tests). */
  routedVnis?: SyncCounts;
  hostRoutes?: SyncCounts;
  prefixRoutes?: SyncCounts;
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
  readonly routedVnis?: TableSync<number, RoutedVni>;
  readonly hostRoutes?: TableSync<RouteKey, RouteEntry>;
  readonly prefixRoutes?: TableSync<PrefixKey, RouteEntry>;
  private writer: BatchWriter | undefined;

  constructor(
    tables: AgentTables,
    private readonly state: NveState,
  ) {
    // A MAC the state does not know may still be in the kernel (XDP installs announcing VMs)
    const keyOfMac = (id: string) => state.key(id) ?? parseMacId(id);
    this.fdb = new TableSync(tables.fdb, macId, fdbEqual, keyOfMac);
    this.neigh = new TableSync(tables.neigh, ipId, neighEqual, parseIpId);
    this.flood = new TableSync(tables.flood, vniId, floodEqual);
    this.peers = new TableSync(tables.peers, peerId, () => true);
    // Started now, not at the first resync: its thread takes a moment to load.
    if (this.fdb.sharedMap) this.writer = new BatchWriter();
    if (tables.l3) {
      this.routedVnis = new TableSync(tables.l3.routedVnis, vniId, routedVniEqual);
      this.hostRoutes = new TableSync(tables.l3.hostRoutes, routeId, routeEqual);
      this.prefixRoutes = new TableSync(tables.l3.prefixRoutes, prefixId, routeEqual);
    }
  }

  /**
   * For a snapshot about to be decoded into an empty FDB map (a cold start, with the batch
   * writer): a sink that writes its FDB rows as its entries are decoded (cold-stream.ts), to
   * pass to `resync` after; else undefined. `entries`: how many the snapshot has at most; `l3`:
   * its L3 overlay.
   */
  coldFdbStream(entries: number, l3: L3State): ColdFdbStream | undefined {
    const writer = this.batchWriter();
    const enc = this.fdb.valueEncoder;
    const cold = writer && enc && this.fdb.coldRows({ writer }, entries);
    return cold && new ColdFdbStream(cold.rows, cold.hand, writer, cold.map, enc, this.state, l3);
  }

  /** The worker that writes big batches (over real maps only; started with the reconciler). */
  private batchWriter(): BatchWriter | undefined {
    return this.writer;
  }

  /** The batch writer's worker has loaded (false without one). */
  get batchWriterReady(): boolean {
    return this.writer?.ready ?? false;
  }

  /** Stop the batch writer's worker (the maps stay as they are). */
  close(): void {
    this.writer?.close();
    this.writer = undefined;
  }

  /** The routed_vnis rows wanted now (few: a full pass each time they may have changed). */
  private syncRoutedVnis(): SyncCounts | undefined {
    return this.routedVnis?.resync(this.state.l3.routedVnis((v) => this.state.hasL2(v)));
  }

  /** Read the installed tables into the shadow copies without writing (re-adopting pinned maps). */
  adopt(): void {
    this.fdb.adopt();
    this.neigh.adopt();
    this.flood.adopt();
    this.peers.adopt();
    this.routedVnis?.adopt();
    this.hostRoutes?.adopt();
    this.prefixRoutes?.adopt();
  }

  /** Write what changed since the last pass (the dirty keys), in one batch per table. */
  apply(): ReconcileReport {
    const t0 = performance.now();
    const s = this.state;
    const vnis = new Set<number>(s.dirtyVnis);
    for (const id of s.dirtyMacs) vnis.add(Number(id.slice(0, id.indexOf('/'))));
    for (const id of s.dirtyIps) vnis.add(Number(id.slice(0, id.indexOf('/'))));
    // Routes first: a VM's host routes change with its FDB entry (moves), and before the L2
    // tables forget a route-only VM.
    const routeIds = s.l3.routeIdsOf(s.dirtyIps);
    const hostRoutes = this.hostRoutes?.update(routeIds, (id) => {
      const k = parseRouteId(id);
      const v = s.l3.hostRoute(s, k);
      return v ? [k, v] : undefined;
    });
    // static routes go where their next hop's host route goes: they follow it
    const prefixRoutes = this.prefixRoutes?.update(s.l3.prefixIdsVia(routeIds), (id) => {
      const v = s.l3.prefixRoute(s, id);
      return v ? [parsePrefixId(id), v] : undefined;
    });
    const fdb = this.fdb.update(s.dirtyMacs, (id) => {
      const v = s.desiredFdb(id);
      const k = s.key(id);
      return v && k && s.hasL2(k.vni) ? [k, v] : undefined;
    });
    const neigh = this.neigh.update(s.dirtyIps, (id) => {
      const v = s.desiredNeigh(id);
      const k = v && parseIpId(id);
      return k && s.hasL2(k.vni) ? [k, v] : undefined;
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
    // A VN served or gone changes its routed_vnis row (the flood list changes with it).
    const routedVnis = s.dirtyVnis.size > 0 ? this.syncRoutedVnis() : undefined;
    s.clearDirty();
    return {
      mode: 'apply',
      fdb,
      neigh,
      flood,
      peers,
      ...(routedVnis ? { routedVnis } : {}),
      ...(hostRoutes ? { hostRoutes } : {}),
      ...(prefixRoutes ? { prefixRoutes } : {}),
      ms: performance.now() - t0,
      vnis: [...vnis],
    };
  }

  /**
   * Mark and sweep every table against the full desired state. `readBack` (default): against
   * the maps as they are, read whole (repairs drift behind the agent: a digest mismatch); false:
   * the FDB and neighbour maps against this agent's shadow of them (read from the maps at
   * adoption, kept equal by every write since: a snapshot after a reconnect).
   */
  resync(opts: { readBack?: boolean; streamed?: ColdFdbStream } = {}): ReconcileReport {
    const readBack = opts.readBack ?? true;
    const t0 = performance.now();
    const s = this.state;
    // About one FDB and neighbour row per directory entry: sizes the shadows once.
    const hint = s.directory.size + s.locals.size;
    // Entries of route-only VNs (routed VNs of our VRFs not served here) get no L2 rows.
    const filter = s.routeOnly;
    const l2 = <K extends { vni: number }, V>(
      rows: Iterable<readonly [K, V, string]>,
    ): Iterable<readonly [K, V, string]> => (filter ? onlyL2(rows, (v) => s.hasL2(v)) : rows);
    const hostRoutes = this.hostRoutes?.resync(s.l3.hostRoutes(s));
    const prefixRoutes = this.prefixRoutes?.resync(s.l3.prefixRoutes(s));
    const routedVnis = this.syncRoutedVnis();
    // Over BPF maps the directory's untouched entries are encoded straight from its columns.
    // Batches into empty maps (a cold start) go to the worker thread as they are encoded: it
    // writes the FDB while this thread encodes the neighbour rows, then both share the rest.
    const enc = this.fdb.valueEncoder;
    const writer = this.batchWriter();
    // FDB rows streamed while the snapshot was decoded (a cold start) are the rows, if the
    // directory is as the stream assumed; else the map holds some of them: read it back.
    const streamed = opts.streamed;
    const useStreamed = streamed !== undefined && streamed.matches(s);
    if (streamed && !useStreamed) writer?.wait();
    const fdb = this.fdb.resyncPacked(
      (rows, _ks, vs, emitted) => enc && emitFdb(s, rows, enc, vs, emitted),
      l2(s.overlayFdb()),
      () => l2(s.allFdb()),
      hint,
      readBack || (streamed !== undefined && !useStreamed),
      writer && { writer },
      useStreamed ? streamed : undefined,
    );
    const neigh = this.neigh.resyncPacked(
      (rows, ks, vs, emitted) => emitNeigh(s, rows, ks, vs, emitted),
      l2(s.overlayNeigh()),
      () => l2(s.allNeigh()),
      hint,
      readBack,
      writer && { writer },
    );
    // (while the worker writes what was handed over: the small tables, the VNIs installed)
    const flood = this.flood.resync(s.allFlood());
    const peers = this.peers.resync(s.allPeers());
    s.clearDirty();
    const vnis = this.fdb.installedVnis((k) => k.vni);
    for (const v of s.vnis()) vnis.add(v);
    writer?.wait();
    return {
      mode: 'resync',
      fdb,
      neigh,
      flood,
      peers,
      ...(routedVnis ? { routedVnis } : {}),
      ...(hostRoutes ? { hostRoutes } : {}),
      ...(prefixRoutes ? { prefixRoutes } : {}),
      ms: performance.now() - t0,
      vnis: [...vnis].sort((a, b) => a - b),
    };
  }
}

function* onlyL2<K extends { vni: number }, V>(
  rows: Iterable<readonly [K, V, string]>,
  hasL2: (vni: number) => boolean,
): IterableIterator<readonly [K, V, string]> {
  for (const r of rows) if (hasL2(r[0].vni)) yield r;
}
