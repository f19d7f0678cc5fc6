// BpfObject: open/size/rodata/load/close, deterministic freeing, typed errors with the
// verifier's reasons.
import { describe, expect, it } from 'vitest';
import { BpfError, BpfObject } from '../../../src/bpf/index.ts';
import { openFds, REJECT_OBJ, TEST_OBJ } from './fixtures.ts';

const XDP_DROP = 1;
const XDP_PASS = 2;
const CLOSE_CYCLES = 1000;
/** Slack for fds Node itself may open meanwhile (workers, pipes). */
const FD_SLACK = 5;

describe('BpfObject', () => {
  it('lists maps and programs, sizes a map before load and finds them by name after', () => {
    const obj = BpfObject.open(TEST_OBJ);
    try {
      expect(obj.programNames()).toEqual(
        expect.arrayContaining([
          'xdp_count',
          'xdp_swap',
          'xdp_event',
          'tc_ingress_count',
          'tc_egress_count',
        ]),
      );
      expect(obj.mapNames()).toEqual(expect.arrayContaining(['counters', 'kv', 'lpm', 'events']));
      obj.setMaxEntries('kv', 4096);
      obj.load();
      const kv = obj.map('kv');
      expect([kv.keySize, kv.valueSize, kv.maxEntries]).toEqual([16, 16, 4096]);
      expect(kv.fd).toBeGreaterThan(2);
      expect(obj.program('xdp_count').fd).toBeGreaterThan(2);
      expect(obj.maps().length).toBe(obj.mapNames().length);
      expect(obj.programs().map((p) => p.name)).toContain('xdp_swap');
    } finally {
      obj.close();
    }
  });

  it('sets const volatile globals through .rodata before load', () => {
    for (const verdict of [XDP_DROP, XDP_PASS]) {
      const obj = BpfObject.open(TEST_OBJ);
      try {
        const ro = obj.initialValue('.rodata');
        ro.writeUInt32LE(verdict, 0);
        obj.setRodata(ro);
        obj.load();
        expect(obj.program('xdp_count').testRun({ data: Buffer.alloc(64) }).retval).toBe(verdict);
      } finally {
        obj.close();
      }
    }
  });

  it(`opens, loads and closes ${CLOSE_CYCLES} objects without fd growth`, () => {
    const warm = BpfObject.open(TEST_OBJ);
    warm.load();
    warm.map('kv');
    warm.close();
    const before = openFds();
    for (let i = 0; i < CLOSE_CYCLES; i++) {
      const obj = BpfObject.open(TEST_OBJ);
      obj.load();
      obj.map('kv');
      obj.program('xdp_count');
      obj.close();
      obj.close(); // idempotent
    }
    expect(openFds()).toBeLessThanOrEqual(before + FD_SLACK);
  });

  it('a missing file is a BpfError naming the object and ENOENT', () => {
    expect.assertions(3);
    try {
      BpfObject.open('build/bpf/test/no-such.bpf.o');
    } catch (e) {
      expect(e).toBeInstanceOf(BpfError);
      expect((e as BpfError).code).toBe('ENOENT');
      expect((e as BpfError).message).toMatch(
        /^object build\/bpf\/test\/no-such\.bpf\.o: open: ENOENT \(/,
      );
    }
  });

  it('a program the verifier rejects fails load() with the verifier log in the error', () => {
    const obj = BpfObject.open(REJECT_OBJ);
    try {
      let err: unknown;
      try {
        obj.load();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(BpfError);
      const be = err as BpfError;
      expect(be.op).toBe('load');
      expect(be.code).toBe('EACCES');
      expect(be.detail).toMatch(/invalid access to packet/);
    } finally {
      obj.close();
    }
  });

  it('misuse is a typed error: unknown map, map before load, resize after load, use after close', () => {
    const obj = BpfObject.open(TEST_OBJ);
    expect(() => obj.map('kv')).toThrow(/call load\(\) first/);
    expect(() => obj.setMaxEntries('nope', 1)).toThrow(/find map nope: ENOENT/);
    obj.load();
    expect(() => obj.setMaxEntries('kv', 1)).toThrow(/only possible before load/);
    expect(() => obj.program('nope')).toThrow(BpfError);
    obj.close();
    expect(() => obj.map('kv')).toThrow(/closed/);
  });
});
