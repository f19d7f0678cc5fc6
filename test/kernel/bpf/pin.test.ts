// Pinning: maps and programs pinned, unpinned and reopened; maps shared between objects through
// pinRoot (LIBBPF_PIN_BY_NAME) and re-adopted through pinMaps; a pinned map opened by a second
// process.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BPF_MAP_TYPE,
  BpfError,
  BpfMap,
  BpfObject,
  BpfProgram,
  TypedMap,
  codec,
} from '../../../src/bpf/index.ts';
import { bpffsDir, SHARED_OBJ, TEST_OBJ, u32Key } from './fixtures.ts';

const dir = bpffsDir('pin');
afterAll(() => dir.remove());

function u64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n, 0);
  return b;
}

describe('pinning', () => {
  it('pins a map, reopens it by path after the object closed, unpins it', () => {
    const obj = BpfObject.open(TEST_OBJ);
    obj.load();
    const kv = obj.map('kv');
    kv.update(Buffer.alloc(16, 1), Buffer.alloc(16, 9));
    const path = `${dir.path}/kv`;
    kv.pin(path);
    obj.close();
    const again = BpfMap.fromPinned(path);
    try {
      expect([again.name, again.type, again.keySize, again.valueSize]).toEqual([
        'kv',
        BPF_MAP_TYPE.HASH,
        16,
        16,
      ]);
      expect(again.lookup(Buffer.alloc(16, 1))).toEqual(Buffer.alloc(16, 9));
      again.unpin(path);
      expect(existsSync(path)).toBe(false);
    } finally {
      again.close();
    }
    expect(() => BpfMap.fromPinned(path)).toThrow(/open pinned: ENOENT/);
  });

  it('pins a program and runs the reopened one', () => {
    const obj = BpfObject.open(TEST_OBJ);
    obj.load();
    const path = `${dir.path}/xdp_swap`;
    obj.program('xdp_swap').pin(path);
    obj.close();
    const p = BpfProgram.fromPinned(path);
    try {
      expect(p.name).toBe('xdp_swap');
      const r = p.testRun({ data: Buffer.from('0102030405060a0b0c0d0e0f0800', 'hex') });
      expect(r.data.toString('hex')).toBe('0a0b0c0d0e0f0102030405060800');
      p.unpin(path);
      expect(existsSync(path)).toBe(false);
    } finally {
      p.close();
    }
  });

  it('a second process opens the pinned map, reads our value and writes one we see', () => {
    const m = BpfMap.create(BPF_MAP_TYPE.HASH, 'xproc', 4, 8, 16);
    const path = `${dir.path}/xproc`;
    try {
      m.update(u32Key(0), u64(31337n));
      m.pin(path);
      const out = execFileSync(
        process.execPath,
        ['--import', 'tsx', 'test/kernel/bpf/pinned-reader.ts', path],
        {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
          timeout: 30_000,
        },
      );
      expect(JSON.parse(out.trim().split('\n').pop() ?? '')).toEqual({
        name: 'xproc',
        keySize: 4,
        value: '31337',
      });
      expect(m.lookup(u32Key(1))?.readBigUInt64LE(0)).toBe(4242n);
    } finally {
      m.unpin();
      m.close();
    }
  });

  it('objects opened with the same pinRoot share LIBBPF_PIN_BY_NAME maps', () => {
    const a = BpfObject.open(SHARED_OBJ, { pinRoot: dir.path });
    a.load();
    const b = BpfObject.open(SHARED_OBJ, { pinRoot: dir.path });
    try {
      b.load();
      expect(existsSync(`${dir.path}/shared_kv`)).toBe(true);
      // b's program counts into the map a sees.
      b.program('xdp_shared').testRun({ data: Buffer.alloc(64), repeat: 3 });
      expect(a.map('shared_kv').lookup(u32Key(0))?.readBigUInt64LE(0)).toBe(3n);
      expect(a.map('shared_kv').info().id).toBe(b.map('shared_kv').info().id);
    } finally {
      a.close();
      b.close();
    }
    // The pin outlives both objects; a restarted loader finds the count still there.
    const c = BpfObject.open(SHARED_OBJ, { pinRoot: dir.path });
    try {
      c.load();
      expect(c.map('shared_kv').lookup(u32Key(0))?.readBigUInt64LE(0)).toBe(3n);
    } finally {
      c.close();
      BpfMap.fromPinned(`${dir.path}/shared_kv`).unpin(`${dir.path}/shared_kv`);
    }
  });

  it('pinMaps pins every map by name and a restarted loader re-adopts them', () => {
    const pinDir = `${dir.path}/agent`;
    execFileSync('mkdir', ['-p', pinDir]);
    const first = BpfObject.open(TEST_OBJ, { pinMaps: pinDir });
    first.load();
    const kv = new TypedMap(first.map('kv'), codec.bytes(16), codec.bytes(16));
    kv.set(Buffer.from('restart'), Buffer.from('survives'));
    first.close();
    expect(existsSync(`${pinDir}/kv`)).toBe(true);
    expect(existsSync(`${pinDir}/counters`)).toBe(true);
    const second = BpfObject.open(TEST_OBJ, { pinMaps: pinDir });
    try {
      second.load();
      const kv2 = new TypedMap(second.map('kv'), codec.bytes(16), codec.bytes(16));
      expect(kv2.get(Buffer.from('restart'))?.subarray(0, 8).toString()).toBe('survives');
    } finally {
      second.close();
    }
  });

  it('reuseMap makes a new object use an existing map', () => {
    const a = BpfObject.open(TEST_OBJ);
    a.load();
    const b = BpfObject.open(TEST_OBJ);
    try {
      b.reuseMap('counters', a.map('counters'));
      b.load();
      b.program('xdp_count').testRun({ data: Buffer.alloc(64), repeat: 7 });
      expect(a.map('counters').sumPerCpuU64(u32Key(0))).toBe(7n);
    } finally {
      a.close();
      b.close();
    }
  });

  it('unpinning what was never pinned is a typed error', () => {
    const m = BpfMap.create(BPF_MAP_TYPE.ARRAY, 'nopin', 4, 4, 1);
    try {
      expect(() => m.unpin()).toThrow(BpfError);
    } finally {
      m.close();
    }
  });
});
