// Loads roam's three objects with one private pin root (so they share maps exactly as in
// production), and gives the packet tests the tables, counters, trace and events around
// BPF_PROG_TEST_RUN. test_run delivers every frame as if received on the loopback device
// (ifindex 1), so the ingress TSI of the TSI tests is ifindex LO; other TSIs are plain numbers
// in the maps (XDP_REDIRECT is not carried out by test_run; the trace says where it would go).
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { BpfObject } from '../../../src/bpf/object.ts';
import type { BpfMap } from '../../../src/bpf/map.ts';
import type { BpfProgram } from '../../../src/bpf/program.ts';
import { RingBuffer } from '../../../src/bpf/ringbuf.ts';
import {
  FLOOD_SHIM_ETH_P,
  FLOOD_SHIM_MAGIC,
  floodShim,
  parseRoamEvent,
  verdictSlot,
  type FloodShim,
  type RoamConfig,
  type RoamEvent,
  type VerdictName,
} from '../../../src/dataplane/codecs.ts';
import {
  openTables,
  StatsReader,
  TraceReader,
  type DataplaneTables,
  type MapName,
} from '../../../src/dataplane/tables.ts';

export const XDP = { ABORTED: 0, DROP: 1, PASS: 2, TX: 3, REDIRECT: 4 } as const;
export const TC_ACT = { OK: 0, SHOT: 2 } as const;
/** The ingress ifindex BPF_PROG_TEST_RUN reports (loopback). */
export const LO = 1;
/** Small maps for tests (must be the same in all three objects: they share pins). */
const TEST_MAX_ENTRIES = 4096;
/** The config's flood secret in tests. */
export const TEST_FLOOD_SECRET = 0x5ec4e7;

/** A frame the underlay XDP program handed to TC, split into the frame and its flood_shim. */
export function splitFloodShim(data: Buffer): { frame: Buffer; shim: FloodShim } {
  const shim = floodShim.decode(data, ETH_HLEN);
  const frame = Buffer.concat([
    data.subarray(0, ETH_HLEN),
    data.subarray(ETH_HLEN + floodShim.size),
  ]);
  frame.writeUInt16BE(shim.ethType, 12);
  return { frame, shim };
}

/** `frame` as the underlay XDP program hands it to TC for VNI `vni`. */
export function withFloodShim(frame: Buffer, vni: number, secret = TEST_FLOOD_SECRET): Buffer {
  const shim = Buffer.alloc(floodShim.size);
  floodShim.encode(
    { magic: FLOOD_SHIM_MAGIC, secret, vni, ethType: frame.readUInt16BE(12) },
    shim,
    0,
  );
  const out = Buffer.concat([frame.subarray(0, ETH_HLEN), shim, frame.subarray(ETH_HLEN)]);
  out.writeUInt16BE(FLOOD_SHIM_ETH_P, 12);
  return out;
}

const ETH_HLEN = 14;

export const OBJECTS = {
  tsi: 'build/bpf/tsi.bpf.o',
  underlay: 'build/bpf/underlay.bpf.o',
  flood: 'build/bpf/flood.bpf.o',
  types: 'build/bpf/types.bpf.o',
} as const;

export interface RunResult {
  retval: number;
  data: Buffer;
}

export interface TestDataplane {
  pinRoot: string;
  tables: DataplaneTables;
  stats: StatsReader;
  trace: TraceReader;
  tsi: BpfProgram;
  underlay: BpfProgram;
  floodTsi: BpfProgram;
  floodUnderlay: BpfProgram;
  /** One of the shared maps. */
  map(name: MapName): BpfMap;
  /** Runs a program on one frame. */
  run(prog: BpfProgram, frame: Buffer): RunResult;
  /** Packets counted for (vni, verdict). */
  count(vni: number, verdict: VerdictName): bigint;
  /** Sum of every counter. */
  totalPackets(): bigint;
  /** Events that arrived since the last call. */
  takeEvents(): RoamEvent[];
  /** Empties every table, counter, trace and pending event. */
  reset(): void;
  close(): void;
}

/** Fails loudly (never skips) when the objects are not built or we are not root. */
export function checkPreconditions(): void {
  const missing = Object.values(OBJECTS).filter((p) => !existsSync(p));
  if (missing.length > 0) {
    throw new Error(`BPF objects not built: ${missing.join(', ')}: run \`bash scripts/build.sh\``);
  }
  if (process.getuid?.() !== 0) throw new Error('dataplane kernel tests must run as root');
}

export function openDataplane(label: string): TestDataplane {
  checkPreconditions();
  const pinRoot = `/sys/fs/bpf/roamt-dp-${label}-${randomBytes(4).toString('hex')}`;
  mkdirSync(pinRoot, { recursive: true });
  const objs: BpfObject[] = [];
  try {
    for (const path of [OBJECTS.tsi, OBJECTS.underlay, OBJECTS.flood]) {
      const o = BpfObject.open(path, { pinRoot });
      objs.push(o);
      for (const m of ['fdb', 'neigh', 'event_limits', 'peers', 'stats_spill']) {
        o.setMaxEntries(m, TEST_MAX_ENTRIES);
      }
      o.load();
    }
  } catch (err) {
    for (const o of objs) o.close();
    rmSync(pinRoot, { recursive: true, force: true });
    throw err;
  }
  const [tsiObj, underlayObj, floodObj] = objs as [BpfObject, BpfObject, BpfObject];
  const mapOf = (n: MapName) => tsiObj.map(n);
  const tables = openTables(mapOf);
  const stats = new StatsReader(mapOf('stats'), mapOf('stats_spill'));
  const trace = new TraceReader(mapOf('trace'), mapOf('trace_len'));
  const pending: RoamEvent[] = [];
  const ring = new RingBuffer(mapOf('events'), (data) => {
    const ev = parseRoamEvent(data);
    if (!ev) throw new Error(`undecodable event of ${data.length} bytes`);
    pending.push(ev);
  });
  const clearable: MapName[] = ['fdb', 'neigh', 'vnis', 'flood', 'event_limits'];

  return {
    pinRoot,
    tables,
    stats,
    trace,
    tsi: tsiObj.program('roam_tsi'),
    underlay: underlayObj.program('roam_underlay'),
    floodTsi: floodObj.program('roam_flood_tsi'),
    floodUnderlay: floodObj.program('roam_flood_underlay'),
    map: mapOf,
    run(prog, frame) {
      const r = prog.testRun({ data: frame });
      return { retval: r.retval, data: Buffer.from(r.data) };
    },
    count: (vni, verdict) => stats.packets(vni, verdictSlot(verdict)),
    totalPackets: () => stats.totalPackets(),
    takeEvents() {
      ring.consume();
      return pending.splice(0);
    },
    reset() {
      for (const name of clearable) {
        const m = mapOf(name);
        const keys = [...m.keys()];
        for (const k of keys) m.delete(k);
      }
      // slot tables: their arrays cannot delete keys, the table clears the slots
      tables.tsis.deleteMany([...tables.tsis.entries()].map(([k]) => k));
      tables.peers.deleteMany([...tables.peers.entries()].map(([k]) => k));
      tables.nexthops.deleteMany([...tables.nexthops.entries()].map(([k]) => k));
      stats.clear();
      trace.clear();
      ring.consume();
      pending.splice(0);
    },
    close() {
      void ring.close();
      for (const o of objs) o.close();
      rmSync(pinRoot, { recursive: true, force: true });
    },
  };
}

/** A config for tests: IPv4 and IPv6 underlay, tracing on, TC flood path present. */
export function testConfig(over: Partial<RoamConfig> = {}): RoamConfig {
  return {
    underlayIfindex: UNDERLAY_IFINDEX,
    udpPort: 4789,
    mtu: 1500,
    ttl: 64,
    localMac: NVE.mac,
    localIp4: NVE.ip4,
    localIp6: NVE.ip6,
    fib: false,
    floodTc: true,
    trace: true,
    eventRefillNs: 0n,
    eventBurst: 0,
    floodSecret: TEST_FLOOD_SECRET,
    ...over,
  };
}

/** The underlay ifindex in the config (a number: test_run sends nothing). */
export const UNDERLAY_IFINDEX = 900;
/** This NVE. */
export const NVE = { mac: '02:4e:56:45:00:01', ip4: '10.0.0.1', ip6: 'fd00::1' } as const;
/** Remote NVEs: B (IPv4), C (IPv4), D (IPv6). */
export const NVE_B = { mac: '02:4e:56:45:00:02', ip4: '10.0.0.2' } as const;
export const NVE_C = { mac: '02:4e:56:45:00:03', ip4: '10.0.0.3' } as const;
export const NVE_D = { mac: '02:4e:56:45:00:04', ip6: 'fd00::4' } as const;

/** Verdict slot helper for trace records. */
export const slot = verdictSlot;
