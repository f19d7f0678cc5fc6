// BpfError formatting and errno naming (no root needed: libbpf_strerror is a pure function).
import { describe, expect, it } from 'vitest';
import { BpfError, errnoName, errnoNumber, errnoText } from '../../../src/bpf/errors.ts';

describe('errnoName', () => {
  it.each([
    [1, 'EPERM'],
    [2, 'ENOENT'],
    [7, 'E2BIG'],
    [11, 'EAGAIN'],
    [13, 'EACCES'],
    [17, 'EEXIST'],
    [22, 'EINVAL'],
    [28, 'ENOSPC'],
    [95, 'EOPNOTSUPP'],
    [524, 'ENOTSUPP'],
    [4007, 'LIBBPF_ERRNO__VERIFY'],
    [-7, 'E2BIG'],
    [99999, 'ERRNO_99999'],
  ])('%i -> %s', (n, name) => {
    expect(errnoName(n)).toBe(name);
  });

  it('round-trips through errnoNumber', () => {
    expect(errnoNumber('E2BIG')).toBe(7);
    expect(errnoNumber('ENOTSUPP')).toBe(524);
    expect(errnoNumber('NOPE')).toBeUndefined();
  });
});

describe('errnoText', () => {
  it.each([
    [7, 'Argument list too long'],
    [2, 'No such file or directory'],
    [4007, 'Kernel verifier blocks program loading'],
  ])('%i -> %s', (n, text) => {
    expect(errnoText(n)).toBe(text);
  });
});

describe('BpfError', () => {
  it('names the object, the operation, the errno name and the text', () => {
    const e = new BpfError('update', 'map fdb', 7);
    expect(e.message).toBe('map fdb: update: E2BIG (Argument list too long)');
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('BpfError');
    expect([e.op, e.object, e.errno, e.code]).toEqual(['update', 'map fdb', 7, 'E2BIG']);
  });

  it('accepts a negative errno as libbpf returns it and appends the detail on its own lines', () => {
    const e = new BpfError('load', 'object x.bpf.o', -13, 'invalid access to packet');
    expect(e.errno).toBe(13);
    expect(e.code).toBe('EACCES');
    expect(e.message).toBe(
      'object x.bpf.o: load: EACCES (Permission denied)\ninvalid access to packet',
    );
    expect(e.detail).toBe('invalid access to packet');
  });
});
