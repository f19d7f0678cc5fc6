// C layouts from BTF: struct sizes/offsets (to check codecs against the C header) and globals
// of .rodata set one by one by name.
import { describe, expect, it } from 'vitest';
import { BpfError, BpfObject, sectionLayout, structLayout } from '../../../src/bpf/index.ts';
import { CNT, TEST_OBJ, u32Key } from './fixtures.ts';

const XDP_DROP = 1;

describe('BTF layouts', () => {
  it.each([
    ['lpm_key', 8, { prefixlen: 0, addr: 4 }],
    ['kv_key', 16, { b: 0 }],
    [
      'xdp_md',
      24,
      {
        data: 0,
        data_end: 4,
        data_meta: 8,
        ingress_ifindex: 12,
        rx_queue_index: 16,
        egress_ifindex: 20,
      },
    ],
  ])('struct %s: size %i and member offsets', (name, size, offsets) => {
    const l = structLayout(TEST_OBJ, name);
    expect(l.size).toBe(size);
    expect(Object.fromEntries(Object.entries(l.members).map(([m, v]) => [m, v.offset]))).toEqual(
      offsets,
    );
  });

  it('an unknown struct is a typed ENOENT', () => {
    expect(() => structLayout(TEST_OBJ, 'no_such_struct')).toThrow(BpfError);
  });

  it('globals of .rodata, from the file and from an open object', () => {
    const fromFile = sectionLayout(TEST_OBJ, '.rodata');
    expect(fromFile.xdp_verdict?.size).toBe(4);
    expect(fromFile.bytes_bias?.size).toBe(8);
    expect(fromFile.bytes_bias?.offset).not.toBe(fromFile.xdp_verdict?.offset);
    const obj = BpfObject.open(TEST_OBJ);
    try {
      expect(obj.globals('.rodata')).toEqual(fromFile);
      expect(obj.structLayout('lpm_key').size).toBe(8);
    } finally {
      obj.close();
    }
  });

  it('setGlobal sets one const volatile knob by name before load', () => {
    const obj = BpfObject.open(TEST_OBJ);
    try {
      const verdict = Buffer.alloc(4);
      verdict.writeUInt32LE(XDP_DROP, 0);
      obj.setGlobal('xdp_verdict', verdict);
      const bias = Buffer.alloc(8);
      bias.writeBigUInt64LE(1000n, 0);
      obj.setGlobal('bytes_bias', bias);
      expect(() => obj.setGlobal('xdp_verdict', Buffer.alloc(8))).toThrow(
        /8 bytes given, the variable has 4/,
      );
      expect(() => obj.setGlobal('nope', verdict)).toThrow(/no such variable/);
      obj.load();
      expect(obj.program('xdp_count').testRun({ data: Buffer.alloc(64) }).retval).toBe(XDP_DROP);
      expect(obj.map('counters').sumPerCpuU64(u32Key(CNT.BYTES))).toBe(1064n);
    } finally {
      obj.close();
    }
  });
});
