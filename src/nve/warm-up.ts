// A million-entry snapshot runs a handful of loops a million times each; the first time, V8 runs
// them interpreted until it has compiled them (measured: the first decode of 1M entries took
// ~1.0 s, the next ones ~0.3 s). So at start, before it connects, the agent runs a small synthetic
// snapshot through the same path in memory only (decoded, loaded twice, its rows encoded into
// scratch buffers; no map is touched): the NVA's first snapshot then runs compiled code.
import { loadServices } from '../protocol/proto.ts';
import { decodeSnapshotMessage } from '../protocol/snapshot-decoder.ts';
import { PackedRows } from './byte-sync.ts';
import { fdbByteCodec } from './dataplane-adapter.ts';
import {
  FDB_ENTRY_BYTES,
  FDB_KEY_BYTES,
  NEIGH_ENTRY_BYTES,
  NEIGH_KEY_BYTES,
} from './fast-encode.ts';
import { NveState } from './nve-state.ts';
import { emitFdb, emitNeigh } from './packed-desired.ts';

/** Entries of the synthetic snapshot, and how many times it runs through. */
const WARM_ENTRIES = 20_000;
const WARM_ROUNDS = 3;

/** Run the snapshot path on a synthetic snapshot, in memory (see above). */
export function warmUpSnapshotPath(): void {
  const entries = Array.from({ length: WARM_ENTRIES }, (_, i) => ({
    vni: 1 + (i >> 10),
    mac: `02:00:00:${[i >>> 16, i >>> 8, i].map((x) => (x & 0xff).toString(16).padStart(2, '0')).join(':')}`,
    ips: [{ ip: `10.${(i >>> 16) & 0xff}.${(i >>> 8) & 0xff}.${i & 0xff}`, seq: 1 }],
    nveId: 'warm-up-peer',
    nveAddr: '192.0.2.2',
    seq: 1,
    state: 'ENTRY_STATE_ACTIVE',
    changedAtMs: 0,
    tsi: '',
  }));
  const bytes = loadServices().Nva.service.Stream!.responseSerialize({
    snapshot: { revision: 1, entries },
  });
  const encode = fdbByteCodec().encodeValue;
  // (as a cold resync calls them: told of each batch of rows, see byte-sync.ts's RowHandOver)
  const emitted = () => {};
  for (let r = 0; r < WARM_ROUNDS; r++) {
    const m = decodeSnapshotMessage(bytes);
    if (!m) return;
    const state = new NveState('warm-up', '192.0.2.1');
    state.loadSnapshot(1, [], m.snapshot.packed, [], { resyncFollows: true });
    state.loadSnapshot(2, [], m.snapshot.packed, [], { resyncFollows: true });
    const fdb = new PackedRows(FDB_KEY_BYTES, FDB_ENTRY_BYTES);
    emitFdb(state, fdb, encode, FDB_ENTRY_BYTES, emitted);
    const neigh = new PackedRows(NEIGH_KEY_BYTES, NEIGH_ENTRY_BYTES);
    emitNeigh(state, neigh, NEIGH_KEY_BYTES, NEIGH_ENTRY_BYTES, emitted);
  }
}
