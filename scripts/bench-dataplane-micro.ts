// npx tsx scripts/bench-dataplane-micro.ts [--objects DIR[,DIR...]] [--entries N] [--rounds N]
//                                          [--runs N] [--instances N]
//
// The cost per frame of roam's two per-frame programs without a topology: BPF_PROG_TEST_RUN
// of the bench's 64-byte UDP frame through roam_tsi (encapsulated to a remote NVE) and of its
// VXLAN packet through roam_underlay (decapsulated to a local TSI), beside the bare forwarder
// doing the same. Each run is one test_run of one frame (repeat 1): an encapsulation rewrites
// the frame, which `repeat` would feed back in. The kernel times each run, so the number is the
// program plus test_run's own timing (the bare rows show that floor). Rounds interleave every
// program and every objects directory, so load from other work hits all alike; the table gives
// the median over rounds and, per directory, the median of its round-by-round difference to
// the first directory (the figure to compare builds by: a same-round pair cancels most drift).
// Each directory gets its own tables (pin root) filled with --entries remote fdb entries, and
// --instances loads of its objects, whose times are averaged: two loads of one build differ by
// up to ~10 ns here (where their maps and code land), more than a small change's effect.
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { BpfObject, type BpfProgram } from '../src/bpf/index.ts';
import {
  fdbEntry,
  fdbKey,
  u32,
  vniInfo,
  type FdbEntry,
  type FdbKey,
} from '../src/dataplane/codecs.ts';
import { DEFAULT_OBJECTS_DIR } from '../src/dataplane/dataplane.ts';
import {
  openConfig,
  openNexthops,
  openPeers,
  openTsis,
  type DataplaneTables,
  type MapName,
} from '../src/dataplane/tables.ts';
import { TypedMap } from '../src/bpf/typed-map.ts';
import { loadBareForwarder } from '../src/lab/bench-forwarders.ts';
import { ipv4Bytes, macBytes } from '../src/lab/addressing.ts';

const VNI = 100;
/** test_run reports every XDP frame as received on the loopback device. */
const TSI_IFINDEX = 1;
/** A number only: test_run carries out no redirect. */
const UNDERLAY_IFINDEX = 900;
const XDP_REDIRECT = 4;
const BATCH = 10_000;
const HERE = { mac: '02:4e:56:45:00:01', ip4: '10.99.0.1' };
const PEER = { mac: '02:4e:56:45:00:02', ip4: '10.99.0.2' };
const VM_A = { mac: '02:00:00:00:64:01', ip4: '10.1.0.1' };
const VM_B = { mac: '02:00:00:00:64:02', ip4: '10.1.0.2' };

/** The bench's frame: 60 bytes of Ethernet + IPv4 + UDP (trafgen's 64 minus the FCS). */
function innerFrame(dst: string, src: string): Buffer {
  const f = Buffer.alloc(60);
  Buffer.from(macBytes(dst)).copy(f, 0);
  Buffer.from(macBytes(src)).copy(f, 6);
  f.writeUInt16BE(0x0800, 12);
  f.writeUInt8(0x45, 14);
  f.writeUInt16BE(46, 16);
  f.writeUInt8(64, 22);
  f.writeUInt8(17, 23);
  Buffer.from(ipv4Bytes(VM_A.ip4)).copy(f, 26);
  Buffer.from(ipv4Bytes(VM_B.ip4)).copy(f, 30);
  f.writeUInt16BE(12345, 34);
  f.writeUInt16BE(12346, 36);
  f.writeUInt16BE(26, 38);
  return f;
}

/** `inner` in VXLAN from PEER to HERE (what roam_underlay and bare_decap take apart). */
function vxlanPacket(inner: Buffer): Buffer {
  const o = Buffer.alloc(50);
  Buffer.from(macBytes(HERE.mac)).copy(o, 0);
  Buffer.from(macBytes(PEER.mac)).copy(o, 6);
  o.writeUInt16BE(0x0800, 12);
  o.writeUInt8(0x45, 14);
  o.writeUInt16BE(36 + inner.length, 16);
  o.writeUInt16BE(0x4000, 20);
  o.writeUInt8(64, 22);
  o.writeUInt8(17, 23);
  Buffer.from(ipv4Bytes(PEER.ip4)).copy(o, 26);
  Buffer.from(ipv4Bytes(HERE.ip4)).copy(o, 30);
  o.writeUInt16BE(49152, 34);
  o.writeUInt16BE(4789, 36);
  o.writeUInt16BE(16 + inner.length, 38);
  o.writeUInt8(0x08, 42);
  o.writeUInt32BE(VNI << 8, 46);
  return Buffer.concat([o, inner]);
}

/**
 * The tables the bench writes, over this build's maps, or (to compare with a build from before a
 * slot array, bpf/lib/slots.h) straight over the hash map an older object reads instead.
 */
function benchTables(
  obj: BpfObject,
): Pick<DataplaneTables, 'config' | 'tsis' | 'vnis' | 'peers' | 'nexthops' | 'fdb'> {
  const map = (n: MapName) => obj.map(n);
  const has = (n: string) => obj.mapNames().includes(n);
  return {
    config: openConfig(map),
    fdb: new TypedMap(map('fdb'), fdbKey, fdbEntry),
    vnis: new TypedMap(map('vnis'), u32, vniInfo),
    tsis: openTsis(map, has('tsi_slots')),
    peers: openPeers(map, has('peer_slots')),
    nexthops: openNexthops(map, has('nexthop_slots')),
  };
}

/** roam's objects from `dir` with their own tables, filled as bench:dataplane's NVEs are. */
function loadRoam(
  dir: string,
  entries: number,
): { tsi: BpfProgram; underlay: BpfProgram; close(): void } {
  const pinRoot = `/sys/fs/bpf/roamb-micro-${randomBytes(4).toString('hex')}`;
  mkdirSync(pinRoot, { recursive: true });
  const objs: BpfObject[] = [];
  const close = () => {
    for (const o of objs) o.close();
    rmSync(pinRoot, { recursive: true, force: true });
  };
  try {
    for (const file of ['tsi.bpf.o', 'underlay.bpf.o']) {
      const o = BpfObject.open(join(dir, file), { pinRoot });
      objs.push(o);
      o.load();
    }
    const [tsiObj, underlayObj] = objs as [BpfObject, BpfObject];
    const t = benchTables(tsiObj);
    t.config.set({
      underlayIfindex: UNDERLAY_IFINDEX,
      udpPort: 4789,
      mtu: 1500,
      ttl: 64,
      localMac: HERE.mac,
      localIp4: HERE.ip4,
      fib: false,
      floodTc: true,
      trace: false,
      eventRefillNs: 0n,
      eventBurst: 0,
      floodSecret: 0x5ec4e7,
    });
    t.tsis.setMany([[TSI_IFINDEX, { vni: VNI, strictSource: false }]]);
    t.vnis.setMany([[VNI, { floodUnknown: false }]]);
    t.peers.setMany([[{ vni: VNI, nve: PEER.ip4 }, true]]);
    t.nexthops.setMany([[PEER.ip4, PEER.mac]]);
    // b is remote (the encap frame's destination), a is local (the decap frame's)
    t.fdb.setMany([
      [
        { vni: VNI, mac: VM_B.mac },
        { kind: 'remote', nve: PEER.ip4 },
      ],
      [
        { vni: VNI, mac: VM_A.mac },
        { kind: 'local', ifindex: TSI_IFINDEX },
      ],
    ]);
    for (let start = 0; start < entries; start += BATCH) {
      const batch: [FdbKey, FdbEntry][] = [];
      for (let i = start; i < Math.min(entries, start + BATCH); i++) {
        const mac = [0x02, 0x10, (i >>> 24) & 0xff, (i >>> 16) & 0xff, (i >>> 8) & 0xff, i & 0xff]
          .map((x) => x.toString(16).padStart(2, '0'))
          .join(':');
        batch.push([
          { vni: VNI, mac },
          { kind: 'remote', nve: PEER.ip4 },
        ]);
      }
      t.fdb.setMany(batch);
    }
    return {
      tsi: tsiObj.program('roam_tsi'),
      underlay: underlayObj.program('roam_underlay'),
      close,
    };
  } catch (err) {
    close();
    throw err;
  }
}

/** Mean kernel-timed ns of `runs` single test_runs of `frame`; every one must redirect. */
function timeRuns(prog: BpfProgram, frame: Buffer, runs: number): number {
  let sum = 0;
  for (let i = 0; i < runs; i++) {
    const r = prog.testRun({ data: frame });
    if (r.retval !== XDP_REDIRECT)
      throw new Error(`${prog.name} returned ${r.retval}, not redirect`);
    sum += r.durationNs;
  }
  return sum / runs;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('a positive integer');
  return n;
}

function main(): void {
  const opts = new Command('bench-dataplane-micro')
    .description('roam_tsi / roam_underlay vs the bare forwarder, BPF_PROG_TEST_RUN, per frame')
    .option('--objects <dirs>', 'comma-separated objects directories', DEFAULT_OBJECTS_DIR)
    .option('--entries <n>', 'filler remote fdb entries', positiveInt, 100_000)
    .option('--rounds <n>', 'interleaved rounds', positiveInt, 21)
    .option('--runs <n>', 'test runs per program per round', positiveInt, 30_000)
    .option('--instances <n>', 'loads of each directory, averaged', positiveInt, 1)
    .parse()
    .opts<{ objects: string; entries: number; rounds: number; runs: number; instances: number }>();
  if (process.getuid?.() !== 0) throw new Error('BPF_PROG_TEST_RUN needs root');
  const dirs = opts.objects.split(',');
  const inner = innerFrame(VM_B.mac, VM_A.mac);
  const packet = vxlanPacket(innerFrame(VM_A.mac, VM_B.mac));
  const bareEncap = loadBareForwarder({
    outerDmac: PEER.mac,
    outerSmac: HERE.mac,
    outerSaddr: HERE.ip4,
    outerDaddr: PEER.ip4,
    vni: VNI,
    underlayIfindex: UNDERLAY_IFINDEX,
  });
  const bareDecap = loadBareForwarder({ tsiIfindex: TSI_IFINDEX });
  const roams = dirs.map((d) =>
    Array.from({ length: opts.instances }, () => loadRoam(d, opts.entries)),
  );
  try {
    const rows = [
      {
        name: 'bare',
        loads: [{ encap: bareEncap.program('bare_encap'), decap: bareDecap.program('bare_decap') }],
      },
      ...roams.map((loads, i) => ({
        name: dirs[i] ?? '',
        loads: loads.map((r) => ({ encap: r.tsi, decap: r.underlay })),
      })),
    ];
    const samples = rows.map(() => ({ encap: [] as number[], decap: [] as number[] }));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    for (let round = 0; round < opts.rounds; round++) {
      rows.forEach((row, i) => {
        samples[i]!.encap.push(mean(row.loads.map((l) => timeRuns(l.encap, inner, opts.runs))));
        samples[i]!.decap.push(mean(row.loads.map((l) => timeRuns(l.decap, packet, opts.runs))));
      });
    }
    console.log(
      `BPF_PROG_TEST_RUN, 64-byte frame, ${opts.entries} fdb entries, median of ${opts.rounds} rounds x ${opts.runs} runs, ${opts.instances} load(s) per directory (ns per frame, harness included)`,
    );
    const first = samples[1];
    rows.forEach((row, i) => {
      const s = samples[i]!;
      const diff = (k: 'encap' | 'decap') =>
        i < 2 || !first
          ? ''
          : ` (${fmtDiff(median(s[k].map((v, r) => v - (first[k][r] ?? NaN))))})`;
      console.log(
        `${row.name.padEnd(24)} encap ${median(s.encap).toFixed(1).padStart(6)}${diff('encap')}  decap ${median(s.decap).toFixed(1).padStart(6)}${diff('decap')}`,
      );
    });
  } finally {
    for (const r of roams.flat()) r.close();
    bareEncap.close();
    bareDecap.close();
  }
}

function fmtDiff(v: number): string {
  return `${v >= 0 ? '+' : ''}${v.toFixed(1)} vs first`;
}

main();
