// The codecs mirror bpf/roam.h: every struct's size and member offsets, read from the BTF the
// compiler emitted, must equal the codec's layout; the verdict enum must equal VERDICT_NAMES;
// and each loaded map's key/value sizes must equal its codec's.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DROP_FIRST, STRUCT_CODECS, VERDICT_NAMES } from '../../../src/dataplane/codecs.ts';
import { OBJECTS, checkPreconditions, openDataplane, type TestDataplane } from './harness.ts';

interface BtfType {
  id: number;
  kind: string;
  name?: string;
  size?: number;
  members?: { name: string; bits_offset: number }[];
  values?: { name: string; val: number }[];
}

function btfTypes(obj: string): BtfType[] {
  const out = execFileSync('bpftool', ['btf', 'dump', 'file', obj, 'format', 'raw', '-j'], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return (JSON.parse(out) as { types: BtfType[] }).types;
}

function structLayout(types: BtfType[], name: string) {
  const t = types.find((x) => x.kind === 'STRUCT' && x.name === name);
  if (!t) return undefined;
  return {
    size: t.size,
    members: Object.fromEntries((t.members ?? []).map((m) => [m.name, m.bits_offset / 8])),
  };
}

describe('codec layouts against BTF', () => {
  checkPreconditions();
  const all = btfTypes(OBJECTS.types);

  it.each(STRUCT_CODECS.map((c) => [c.layout.cName, c] as const))('struct %s', (name, codec) => {
    const btf = structLayout(all, name);
    expect(btf, `struct ${name} in ${OBJECTS.types}`).toBeDefined();
    expect(btf).toEqual({ size: codec.layout.size, members: codec.layout.members });
    expect(codec.size).toBe(codec.layout.size);
  });

  it.each([OBJECTS.tsi, OBJECTS.underlay, OBJECTS.flood])(
    'the structs in %s are the same as in the header',
    (obj) => {
      const types = btfTypes(obj);
      let seen = 0;
      for (const c of STRUCT_CODECS) {
        const btf = structLayout(types, c.layout.cName);
        if (!btf) continue;
        seen++;
        expect(btf, c.layout.cName).toEqual({ size: c.layout.size, members: c.layout.members });
      }
      expect(seen).toBeGreaterThan(10);
    },
  );

  it('enum roam_verdict equals VERDICT_NAMES', () => {
    const e = all.find((x) => x.kind === 'ENUM' && x.name === 'roam_verdict');
    const values = new Map((e?.values ?? []).map((v) => [v.name, v.val]));
    VERDICT_NAMES.forEach((n, slot) => {
      const cName = (n.startsWith('drop-') ? '' : 'VERDICT_') + n.replace(/-/g, '_').toUpperCase();
      expect(values.get(cName), cName).toBe(slot);
    });
    expect(values.get('DROP_FIRST')).toBe(DROP_FIRST);
    expect(values.get('VERDICT_MAX')).toBe(VERDICT_NAMES.length);
  });
});

describe('map sizes of the loaded objects', () => {
  let dp: TestDataplane;
  beforeAll(() => {
    dp = openDataplane('btf');
  });
  afterAll(() => dp?.close());

  it('every typed table opens (TypedMap checks key/value sizes against the codecs)', () => {
    // openTables already constructed them; touching each proves the views are usable
    expect(dp.tables.fdb.size()).toBe(0);
    expect(dp.tables.flood.size()).toBe(0);
    expect(dp.tables.config.get()).toBeDefined();
  });
});
