// A BPF map seen from user space: element ops, iteration, batch ops (with a per-element fallback
// for map types that have none), per-CPU values, pinning. The hot paths (update, lookupInto,
// updateBatch) make one FFI call and allocate nothing.
import { closeSync } from 'node:fs';
import { BpfError, check } from './errors.ts';
import { BpfFdObject } from './fd-object.ts';
import * as L from './libbpf.ts';
import { installLibbpfLogger } from './log.ts';
import { BPF_ANY, isPerCpuMapType } from './map-types.ts';

// libbpf's messages go to pino from the first call on, not only after an object was opened.
installLibbpfLogger();

const ENOENT = 2;
const EINVAL = 22;
const ENOSPC = 28;
const EOPNOTSUPP = 95;
const ENOTSUPP = 524;
/** Entries fetched per bpf_map_lookup_batch call in lookupAll (grown on ENOSPC). */
const LOOKUP_CHUNK_ENTRIES = 4096;

let cpus: number | undefined;

/** Number of possible CPUs (libbpf_num_possible_cpus), the slot count of per-CPU values. */
export function possibleCpus(): number {
  if (cpus === undefined) cpus = check(L.libbpf_num_possible_cpus(), 'num possible cpus', 'libbpf');
  return cpus;
}

/** Static facts about a map. */
export interface BpfMapInfo {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  id?: number;
  flags?: number;
}

/** Result of one lookupAll / batch read: `count` keys and values packed back to back. */
export interface MapDump {
  keys: Buffer;
  values: Buffer;
  count: number;
}

export class BpfMap extends BpfFdObject {
  readonly name: string;
  readonly type: number;
  readonly keySize: number;
  /** Value size as declared; per-CPU maps hold possibleCpus() slots of round_up(valueSize, 8). */
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly perCpu: boolean;
  /** Bytes of one value as the syscalls read/write it (all CPUs for per-CPU maps). */
  readonly valueBytes: number;
  private batchUnsupported = false;
  // Reused scratch space so the hot paths allocate nothing.
  private readonly countBuf = Buffer.alloc(4);
  private readonly batchOpts = Buffer.alloc(L.BATCH_OPTS.size);

  /** Wrap an fd; ownsFd says whether close() closes it (maps of a BpfObject are not owned). */
  constructor(fd: number, info: BpfMapInfo, ownsFd: boolean) {
    super(fd, `map ${info.name}`, ownsFd, 'map');
    this.name = info.name;
    this.type = info.type;
    this.keySize = info.keySize;
    this.valueSize = info.valueSize;
    this.maxEntries = info.maxEntries;
    this.perCpu = isPerCpuMapType(info.type);
    this.valueBytes = this.perCpu ? roundUp8(info.valueSize) * possibleCpus() : info.valueSize;
    this.batchOpts.writeBigUInt64LE(BigInt(L.BATCH_OPTS.size), 0);
  }

  /** Open a map pinned in bpffs (bpf_obj_get); the returned map owns its fd. */
  static fromPinned(path: string): BpfMap {
    const fd = check(L.bpf_obj_get(path), 'open pinned', `map at ${path}`);
    try {
      const info = mapInfo(fd, `map at ${path}`);
      return new BpfMap(fd, info, true);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /** Create a standalone map (bpf_map_create); the map owns its fd. */
  static create(
    type: number,
    name: string,
    keySize: number,
    valueSize: number,
    maxEntries: number,
  ): BpfMap {
    const fd = check(
      L.bpf_map_create(type, name, keySize, valueSize, maxEntries, null),
      'create',
      `map ${name}`,
    );
    return new BpfMap(fd, { name, type, keySize, valueSize, maxEntries }, true);
  }

  /** Kernel's view of the map (id, flags, sizes) via bpf_obj_get_info_by_fd. */
  info(): BpfMapInfo {
    return mapInfo(this.fd, this.label);
  }

  /** The value stored for key, or null. Per-CPU maps return all slots (see lookupPerCpu). */
  lookup(key: Buffer): Buffer | null {
    const out = Buffer.allocUnsafe(this.valueBytes);
    return this.lookupInto(key, out) ? out : null;
  }

  /** Read key's value into out (valueBytes long); false when absent. Allocates nothing. */
  lookupInto(key: Buffer, out: Buffer): boolean {
    const ret = L.bpf_map_lookup_elem(this.fd, key, out);
    if (ret === -ENOENT) return false;
    check(ret, 'lookup', this.label);
    return true;
  }

  /** Insert or replace (flags: BPF_ANY, BPF_NOEXIST, BPF_EXIST). */
  update(key: Buffer, value: Buffer, flags = BPF_ANY): void {
    const ret = L.bpf_map_update_elem(this._fd, key, value, flags);
    if (ret < 0) throw new BpfError('update', this.label, -ret);
  }

  /** Delete key; false when it was absent. */
  delete(key: Buffer): boolean {
    const ret = L.bpf_map_delete_elem(this.fd, key);
    if (ret === -ENOENT) return false;
    check(ret, 'delete', this.label);
    return true;
  }

  /** Every key (bpf_map_get_next_key); each yielded Buffer is a fresh copy. */
  *keys(): IterableIterator<Buffer> {
    let prev: Buffer | null = null;
    for (;;) {
      const next = Buffer.allocUnsafe(this.keySize);
      const ret = L.bpf_map_get_next_key(this.fd, prev, next);
      if (ret === -ENOENT) return;
      check(ret, 'get next key', this.label);
      yield next;
      prev = next;
    }
  }

  /** Every [key, value]; entries deleted during iteration are skipped. */
  *entries(): IterableIterator<[Buffer, Buffer]> {
    for (const k of this.keys()) {
      const v = this.lookup(k);
      if (v) yield [k, v];
    }
  }

  /**
   * Write `count` entries packed in keys (count*keySize) and values (count*valueBytes) with one
   * bpf_map_update_batch; map types without batch support fall back to per-element updates.
   */
  updateBatch(keys: Buffer, values: Buffer, count: number, flags = BPF_ANY): void {
    if (count === 0) return;
    this.checkBatchSizes(keys, values, count, 'update batch');
    if (!this.batchUnsupported) {
      this.countBuf.writeUInt32LE(count, 0);
      this.batchOpts.writeBigUInt64LE(BigInt(flags), L.BATCH_OPTS.elemFlags);
      const ret = L.bpf_map_update_batch(this.fd, keys, values, this.countBuf, this.batchOpts);
      if (ret >= 0) return;
      const done = this.countBuf.readUInt32LE(0);
      if (!this.noBatch(-ret, done)) {
        throw new BpfError('update batch', this.label, -ret, `${done} of ${count} entries written`);
      }
    }
    for (let i = 0; i < count; i++) {
      const k = keys.subarray(i * this.keySize, (i + 1) * this.keySize);
      const v = values.subarray(i * this.valueBytes, (i + 1) * this.valueBytes);
      this.update(k, v, flags);
    }
  }

  /** Delete `count` packed keys; absent keys are skipped. Returns how many were deleted. */
  deleteBatch(keys: Buffer, count: number): number {
    if (keys.length < count * this.keySize) {
      throw new BpfError(
        'delete batch',
        this.label,
        EINVAL,
        `keys buffer holds fewer than ${count} keys`,
      );
    }
    let deleted = 0;
    let start = 0;
    while (start < count && !this.batchUnsupported) {
      const n = count - start;
      this.countBuf.writeUInt32LE(n, 0);
      this.batchOpts.writeBigUInt64LE(0n, L.BATCH_OPTS.elemFlags);
      const slice = keys.subarray(start * this.keySize, count * this.keySize);
      const ret = L.bpf_map_delete_batch(this.fd, slice, this.countBuf, this.batchOpts);
      const done = this.countBuf.readUInt32LE(0);
      if (ret >= 0) return deleted + n;
      if (ret === -ENOENT) {
        // The key at `done` is absent: skip it and go on with the rest.
        deleted += done;
        start += done + 1;
        continue;
      }
      if (this.noBatch(-ret, done)) break;
      throw new BpfError(
        'delete batch',
        this.label,
        -ret,
        `${deleted + done} of ${count} keys deleted`,
      );
    }
    for (let i = start; i < count; i++) {
      if (this.delete(keys.subarray(i * this.keySize, (i + 1) * this.keySize))) deleted++;
    }
    return deleted;
  }

  /**
   * One bpf_map_lookup_batch call: reads up to `max` entries after `cursor` (null = from the
   * start) into keys/values. Returns how many were read, the cursor to resume from, and whether
   * the map is exhausted. Throws ENOTSUPP-coded BpfError for map types without batch lookup.
   */
  lookupBatch(
    cursor: Buffer | null,
    keys: Buffer,
    values: Buffer,
    max: number,
  ): { count: number; cursor: Buffer; done: boolean } {
    const outBatch = Buffer.alloc(Math.max(8, this.keySize));
    this.countBuf.writeUInt32LE(max, 0);
    this.batchOpts.writeBigUInt64LE(0n, L.BATCH_OPTS.elemFlags);
    const ret = L.bpf_map_lookup_batch(
      this.fd,
      cursor,
      outBatch,
      keys,
      values,
      this.countBuf,
      this.batchOpts,
    );
    const count = this.countBuf.readUInt32LE(0);
    if (ret === -ENOENT) return { count, cursor: outBatch, done: true };
    check(ret, 'lookup batch', this.label);
    return { count, cursor: outBatch, done: false };
  }

  /** Every entry, read with batch lookups (or get_next_key + lookup where there are none). */
  lookupAll(): MapDump {
    if (!this.batchUnsupported) {
      try {
        return this.lookupAllBatched();
      } catch (err) {
        if (!(err instanceof BpfError) || !this.noBatch(err.errno, 0)) throw err;
      }
    }
    const ks: Buffer[] = [];
    const vs: Buffer[] = [];
    for (const [k, v] of this.entries()) {
      ks.push(k);
      vs.push(v);
    }
    return { keys: Buffer.concat(ks), values: Buffer.concat(vs), count: ks.length };
  }

  private lookupAllBatched(): MapDump {
    let chunk = LOOKUP_CHUNK_ENTRIES;
    const keyParts: Buffer[] = [];
    const valueParts: Buffer[] = [];
    let total = 0;
    let cursor: Buffer | null = null;
    for (;;) {
      const keys = Buffer.allocUnsafe(chunk * this.keySize);
      const values = Buffer.allocUnsafe(chunk * this.valueBytes);
      let r: { count: number; cursor: Buffer; done: boolean };
      try {
        r = this.lookupBatch(cursor, keys, values, chunk);
      } catch (err) {
        // A hash bucket holds more entries than the chunk: retry bigger.
        if (err instanceof BpfError && err.errno === ENOSPC) {
          chunk *= 4;
          continue;
        }
        throw err;
      }
      if (r.count > 0) {
        keyParts.push(keys.subarray(0, r.count * this.keySize));
        valueParts.push(values.subarray(0, r.count * this.valueBytes));
        total += r.count;
      }
      if (r.done) break;
      cursor = r.cursor;
    }
    return { keys: Buffer.concat(keyParts), values: Buffer.concat(valueParts), count: total };
  }

  /** Per-CPU map: one Buffer (valueSize bytes) per possible CPU, or null when absent. */
  lookupPerCpu(key: Buffer): Buffer[] | null {
    if (!this.perCpu) throw new BpfError('lookup per cpu', this.label, EINVAL, 'not a per-CPU map');
    const all = this.lookup(key);
    if (!all) return null;
    const stride = roundUp8(this.valueSize);
    const out: Buffer[] = [];
    for (let c = 0; c < possibleCpus(); c++)
      out.push(all.subarray(c * stride, c * stride + this.valueSize));
    return out;
  }

  /** Per-CPU map: write one value per possible CPU (e.g. zero a counter everywhere). */
  updatePerCpu(key: Buffer, slots: readonly Buffer[], flags = BPF_ANY): void {
    if (!this.perCpu) throw new BpfError('update per cpu', this.label, EINVAL, 'not a per-CPU map');
    const cpus = possibleCpus();
    if (slots.length !== cpus) {
      throw new BpfError(
        'update per cpu',
        this.label,
        EINVAL,
        `${slots.length} slots given, ${cpus} CPUs possible`,
      );
    }
    const stride = roundUp8(this.valueSize);
    const all = Buffer.alloc(this.valueBytes);
    slots.forEach((s, c) => s.copy(all, c * stride, 0, this.valueSize));
    this.update(key, all, flags);
  }

  /** Per-CPU map: the u64 at byteOffset of the value, summed over all CPUs (0n when absent). */
  sumPerCpuU64(key: Buffer, byteOffset = 0): bigint {
    const slots = this.lookupPerCpu(key);
    if (!slots) return 0n;
    return sumU64(slots, byteOffset);
  }

  private checkBatchSizes(keys: Buffer, values: Buffer, count: number, op: string): void {
    if (keys.length < count * this.keySize || values.length < count * this.valueBytes) {
      throw new BpfError(op, this.label, EINVAL, `buffers hold fewer than ${count} entries`);
    }
  }

  // True when errno says "no batch op for this map type"; remembers it for this map.
  private noBatch(errno: number, done: number): boolean {
    const unsupported =
      errno === ENOTSUPP || errno === EOPNOTSUPP || (errno === EINVAL && done === 0);
    if (unsupported) this.batchUnsupported = true;
    return unsupported;
  }
}

/** Sum the u64 at byteOffset over per-CPU slots. */
export function sumU64(slots: Buffer[], byteOffset = 0): bigint {
  let sum = 0n;
  for (const s of slots) sum += s.readBigUInt64LE(byteOffset);
  return sum;
}

function roundUp8(n: number): number {
  return (n + 7) & ~7;
}

/** bpf_obj_get_info_by_fd for a map fd. */
export function mapInfo(fd: number, label: string): BpfMapInfo {
  const info = Buffer.alloc(L.MAP_INFO.size);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(L.MAP_INFO.size, 0);
  check(L.bpf_obj_get_info_by_fd(fd, info, len), 'get info', label);
  const nameBytes = info.subarray(L.MAP_INFO.name, L.MAP_INFO.name + L.BPF_OBJ_NAME_LEN);
  const end = nameBytes.indexOf(0);
  return {
    name: nameBytes.toString('utf8', 0, end < 0 ? nameBytes.length : end),
    type: info.readUInt32LE(L.MAP_INFO.type),
    id: info.readUInt32LE(L.MAP_INFO.id),
    keySize: info.readUInt32LE(L.MAP_INFO.keySize),
    valueSize: info.readUInt32LE(L.MAP_INFO.valueSize),
    maxEntries: info.readUInt32LE(L.MAP_INFO.maxEntries),
    flags: info.readUInt32LE(L.MAP_INFO.flags),
  };
}
