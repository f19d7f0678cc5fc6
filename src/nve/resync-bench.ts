// Times the agent's full resync into real BPF maps (issue 5: 1,000,000 directory entries <= 1 s).
// A ControlLoop over roam's dataplane tables gets a snapshot from a scripted NVA as the wire
// bytes the NVA sends (encoded by the NVA's own serializer before the clock starts); the clock
// runs from those bytes ("snapshot received": what gRPC hands the client's deserializer) through
// decoding and validation (the deserializer the NVA client uses, snapshot-decoder.ts) and the
// snapshot handler, to its return ("maps equal desired": the mark-and-sweep resync has written
// its batches). Used by scripts/bench-resync.ts and by
// bench:move's resync_1m_ms. Needs root; the maps live under a temporary pin root in bpffs that
// is removed before returning (and by `cleanupResyncBench` on a signal).
import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { BPF_MAP_TYPE } from '../bpf/map-types.ts';
import { BpfMap } from '../bpf/map.ts';
import { fdbEntry, fdbKey } from '../dataplane/codecs.ts';
import { Dataplane } from '../dataplane/dataplane.ts';
import { logger } from '../log.ts';
import { ControlLoop } from './control-loop.ts';
import { agentTablesOver } from './dataplane-adapter.ts';
import type { ReconcileReport } from './reconciler.ts';
import type * as grpc from '@grpc/grpc-js';
import { withChangeDecoder } from '../protocol/change-decoder.ts';
import { isPackedSnapshot } from '../protocol/packed-snapshot.ts';
import { loadServices } from '../protocol/proto.ts';
import { parseNvaMessage } from '../protocol/schema.ts';
import { withSnapshotDecoder } from '../protocol/snapshot-decoder.ts';
import type { DirEntry, Member, NvaHandlers, NvaPort, NvaResult } from './nva-port.ts';

/** MACs per VN in the generated directory (the VNIs follow from the total). */
export const BENCH_MACS_PER_VNI = 1000;
/** Map sizes: room for the entries plus headroom (a full hash map is slower). */
const MAP_SLACK = 1.25;
/** Share of entries that differ in the "1%" case (half moved, half gone). */
const DIFF_SHARE = 0.01;
const ME = { id: 'nve1', addr: '10.99.0.1' };
const PEER = { id: 'nve2', addr: '10.99.0.2' };
const OTHER = { id: 'nve3', addr: '10.99.0.3' };

/** One timed case. */
export interface ResyncTiming {
  wallMs: number;
  /** CPU time of the whole process (user + system) over the same span. */
  cpuMs: number;
  /** FDB (with the RARP address) + neighbour entries written, and deleted. */
  written: number;
  deleted: number;
}

export interface ResyncBenchResult {
  entries: number;
  /** Empty maps, every entry written. */
  cold: ResyncTiming;
  /** A reconnect: the same snapshot again, nothing differs. */
  steady: ResyncTiming;
  /** A reconnect: 0.5% of the VMs moved to another NVE, 0.5% gone. */
  onePercent: ResyncTiming;
  /** A new agent over the pinned maps: adopting them (before it connects), then the snapshot. */
  restart: ResyncTiming & { adoptMs: number };
  /** bpf_map_update_batch of `entries` pre-encoded FDB entries into an empty map. */
  raw: ResyncTiming;
}

/** The NVA client's deserializer for NVA messages (client.ts: packed snapshots). */
const method = loadServices().Nva.service.Stream as grpc.MethodDefinition<object, unknown>;
const deserialize = withSnapshotDecoder(withChangeDecoder(method.responseDeserialize));

/**
 * A snapshot of entries 0..n-1 (`at(i)`, undefined: absent) as the NVA's serializer writes it.
 * The objects are garbage once encoded: the timed agent's heap holds none of them.
 */
function snapshotBytes(
  revision: number,
  n: number,
  at: (i: number) => DirEntry | undefined,
  members: Member[],
): Buffer {
  const entries: object[] = [];
  for (let i = 0; i < n; i++) {
    const e = at(i);
    if (e) entries.push({ ...e, state: 'ENTRY_STATE_ACTIVE', changedAtMs: 0, tsi: '' });
  }
  // The VNIs listed as the NVA lists them in a full snapshot: every VN the NVE is a member of.
  const vnis = [...new Set(members.map((m) => m.vni))];
  return method.responseSerialize({ snapshot: { revision, vnis, entries, members } });
}

/** A scripted NVA: delivers what it is given, accepts everything. */
export class ScriptedNva implements NvaPort {
  /** The agent's handlers, once started. */
  h?: NvaHandlers;
  start(h: NvaHandlers): void {
    this.h = h;
    h.connected();
  }
  register(): Promise<NvaResult> {
    return Promise.resolve({ ok: true, seq: 1, revision: 0, outcome: 'new' });
  }
  withdraw(): Promise<NvaResult> {
    return Promise.resolve({ ok: true, seq: 1, revision: 0, outcome: 'withdrawn' });
  }
  ack(): void {}
  stop(): void {}
  /** Hand the snapshot's bytes to the agent as the NVA client would. */
  snapshot(buf: Buffer): void {
    const raw = deserialize(buf) as { snapshot?: object };
    if (raw.snapshot && isPackedSnapshot(raw.snapshot)) return this.h!.snapshot(raw.snapshot);
    const parsed = parseNvaMessage(raw);
    if (!parsed.ok || !('snapshot' in parsed.value)) throw new Error('resync bench: bad snapshot');
    this.h!.snapshot(parsed.value.snapshot);
  }
}

/** Entry i of the generated directory: a VM at PEER, one IPv4, BENCH_MACS_PER_VNI per VN. */
export function benchEntry(i: number): DirEntry {
  const v = Math.floor(i / BENCH_MACS_PER_VNI);
  const k = i % BENCH_MACS_PER_VNI;
  const mac = `02:${[i >>> 24, i >>> 16, i >>> 8, i, 0]
    .map((x) => (x & 0xff).toString(16).padStart(2, '0'))
    .join(':')}`;
  return {
    vni: 1000 + v,
    mac,
    ips: [{ ip: `10.${(k >> 8) & 0xff}.${k & 0xff}.${(v % 250) + 1}`, seq: 1 }],
    nveId: PEER.id,
    nveAddr: PEER.addr,
    seq: 1,
    state: 'active',
  };
}

/** The VNs' members: this NVE and PEER in each. */
export function benchMembers(n: number): Member[] {
  const members: Member[] = [];
  for (let v = 0; v < Math.ceil(n / BENCH_MACS_PER_VNI); v++) {
    const vni = 1000 + v;
    members.push(
      { vni, nveId: ME.id, nveAddr: ME.addr },
      { vni, nveId: PEER.id, nveAddr: PEER.addr },
    );
  }
  return members;
}

/** The "1%" directory: of every 1/DIFF_SHARE entries one is gone and one moved to OTHER. */
function changedEntry(i: number): DirEntry | undefined {
  const step = Math.round(1 / DIFF_SHARE);
  if (i % step === 0) return undefined;
  const e = benchEntry(i);
  return i % step === step / 2 ? { ...e, nveId: OTHER.id, nveAddr: OTHER.addr, seq: 2 } : e;
}

const live = new Set<string>();

/** Remove what a running bench pinned (call from a signal handler). */
export function cleanupResyncBench(): void {
  for (const base of live) rmSync(base, { recursive: true, force: true });
  live.clear();
}

/**
 * A full garbage collection: the bench's own garbage (a million objects made to encode each
 * snapshot) is collected before a clock starts, not inside the agent's timed work.
 */
const collect = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();
/**
 * Then this long for V8's background threads to finish sweeping and releasing it (measured: the
 * first decode of a fresh 1M snapshot took 0.7-2.0 s right after the collection, 0.3 s after this).
 */
const SETTLE_MS = 1_000;
const settle = new Int32Array(new SharedArrayBuffer(4));

function timed(fn: () => void): { wallMs: number; cpuMs: number } {
  collect();
  Atomics.wait(settle, 0, 0, SETTLE_MS);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  fn();
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { wallMs, cpuMs: (c.user + c.system) / 1000 };
}

/** Run every case on `n` entries; throws if the maps do not end equal to the directory. */
export function resyncBench(
  n: number,
  hooks: { afterLoad?: () => void; beforeUnload?: () => void } = {},
): ResyncBenchResult {
  const size = Math.ceil(n * MAP_SLACK);
  const pinBase = `/sys/fs/bpf/roamt-resync-${process.pid}-${randomBytes(3).toString('hex')}`;
  live.add(pinBase);
  const log = logger('resync-bench');
  log.level = 'warn';
  const dp = Dataplane.load({
    instance: 'bench',
    pinBase,
    maxEntries: { fdb: size, neigh: size },
  });
  try {
    // (A profiler's signals abort the verifier with EAGAIN: start one only after the load.)
    hooks.afterLoad?.();
    const members = benchMembers(n);
    const tables = agentTablesOver(dp.tables);
    const newAgent = () => {
      const nva = new ScriptedNva();
      const agent = {
        nva,
        loop: undefined as unknown as ControlLoop,
        last: undefined as ReconcileReport | undefined,
      };
      agent.loop = new ControlLoop({
        nveId: ME.id,
        underlayAddr: ME.addr,
        holdTimeMs: 30_000,
        tables,
        nva,
        log,
        observer: { reconciled: (r) => (agent.last = r) },
        warmUp: true,
      });
      return agent;
    };
    const run = (a: ReturnType<typeof newAgent>, s: Buffer): ResyncTiming => {
      a.last = undefined;
      const t = timed(() => a.nva.snapshot(s));
      let written = 0;
      let deleted = 0;
      // Set by the observer during the call (TS cannot see that).
      const last = a.last as ReconcileReport | undefined;
      for (const c of last ? [last.fdb, last.neigh] : []) {
        written += c.set;
        deleted += c.deleted;
      }
      return { ...t, written, deleted };
    };

    // Cold: an agent on empty maps.
    const a = newAgent();
    a.loop.start();
    const cold = run(a, snapshotBytes(1, n, benchEntry, members));
    checkMaps(dp, n, benchEntry);
    const steady = run(a, snapshotBytes(2, n, benchEntry, members));
    checkMaps(dp, n, benchEntry);
    // 1%: half of the differing VMs moved to OTHER, half are gone.
    const onePercent = run(a, snapshotBytes(3, n, changedEntry, members));
    checkMaps(dp, n, changedEntry);
    a.loop.stop();
    // Restart: a new agent adopts the pinned maps, then gets the same snapshot.
    const b = newAgent();
    const adopt = timed(() => b.loop.start());
    const restart = {
      ...run(b, snapshotBytes(4, n, changedEntry, members)),
      adoptMs: adopt.wallMs,
    };
    checkMaps(dp, n, changedEntry);
    b.loop.stop();
    // Last: the kernel frees this map's million elements after it is closed, and a case timed
    // while it does costs 15-20% more CPU (measured on a cold run right after it).
    const raw = rawBatch(n, size);
    return { entries: n, cold, steady, onePercent, restart, raw };
  } finally {
    hooks.beforeUnload?.();
    dp.detach();
    rmSync(pinBase, { recursive: true, force: true });
    live.delete(pinBase);
  }
}

/** Raw bpf_map_update_batch of the entries' FDB rows, pre-encoded, into an empty hash map. */
function rawBatch(n: number, size: number): ResyncTiming {
  const map = BpfMap.create(BPF_MAP_TYPE.HASH, 'bench_raw', fdbKey.size, fdbEntry.size, size);
  try {
    const keys = Buffer.alloc(n * fdbKey.size);
    const values = Buffer.alloc(n * fdbEntry.size);
    for (let i = 0; i < n; i++) {
      const e = benchEntry(i);
      fdbKey.encode(e, keys, i * fdbKey.size);
      fdbEntry.encode({ kind: 'remote', nve: e.nveAddr }, values, i * fdbEntry.size);
    }
    const t = timed(() => map.updateBatch(keys, values, n));
    return { ...t, written: n, deleted: 0 };
  } finally {
    map.close();
  }
}

/** The FDB and neighbour maps hold exactly the directory's VMs (sizes, a sample of values, the
 * RARP address in the FDB entry). */
function checkMaps(dp: Dataplane, n: number, at: (i: number) => DirEntry | undefined): void {
  let want = 0;
  for (let i = 0; i < n; i++) if (at(i)) want++;
  const fdb = dp.map('fdb').lookupAll().count;
  const neigh = dp.map('neigh').lookupAll().count;
  if (fdb !== want || neigh !== want)
    throw new Error(`resync bench: maps hold fdb ${fdb}, neigh ${neigh} entries, want ${want}`);
  const stride = Math.max(1, Math.floor(n / 1000));
  for (let i = 0; i < n; i += stride) {
    const e = at(i);
    if (!e) continue;
    const v = dp.tables.fdb.get(e);
    if (v?.kind !== 'remote' || v.nve !== e.nveAddr)
      throw new Error(
        `resync bench: fdb ${e.vni}/${e.mac} is ${JSON.stringify(v)}, want remote ${e.nveAddr}`,
      );
    const ip = dp.tables.neigh.get({ vni: e.vni, ip: e.ips[0]!.ip });
    if (ip !== e.mac)
      throw new Error(`resync bench: neigh ${e.ips[0]!.ip} is ${ip}, want ${e.mac}`);
    const r = v.rarpIp4;
    if (r !== e.ips[0]!.ip)
      throw new Error(`resync bench: rarp ${e.mac} is ${r}, want ${e.ips[0]!.ip}`);
  }
}
