import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadNvaConfig, NvaConfigError, readNveTokens } from '../../../src/nva/config.ts';

const dir = mkdtempSync(join(tmpdir(), 'roam-nvacfg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('loadNvaConfig', () => {
  it('defaults: everything under the state dir, 5 moves in 180 s', () => {
    const c = loadNvaConfig(undefined, { stateDir: dir });
    expect(c).toMatchObject({
      listen: '0.0.0.0:7470',
      metricsListen: '127.0.0.1:7471',
      db: join(dir, 'nva.db'),
      adminTokenFile: join(dir, 'admin.token'),
      duplicate: { maxMoves: 5, windowSeconds: 180, recoverySeconds: 0 },
      openNves: false,
    });
  });

  it('flags override the file; the duplicate block merges field by field', () => {
    const f = file(
      'a.yaml',
      'listen: 127.0.0.1:9000\nduplicate: { maxMoves: 3, windowSeconds: 60 }\nvns: [{ vni: 100, learning: open }]\n',
    );
    const c = loadNvaConfig(f, { listen: '127.0.0.1:9001', duplicate: { recoverySeconds: 30 } });
    expect(c.listen).toBe('127.0.0.1:9001');
    expect(c.duplicate).toEqual({ maxMoves: 3, windowSeconds: 60, recoverySeconds: 30 });
    expect(c.vns).toEqual([{ vni: 100, learning: 'open', routed: false }]);
  });

  const bad: [string, string, RegExp][] = [
    ['unknown key', 'lisen: 1.2.3.4:5\n', /lisen|Unrecognized key/],
    ['bad listen', 'listen: nowhere\n', /listen: expected host:port/],
    ['bad VNI', 'vns: [{ vni: 0 }]\n', /vns\.0\.vni/],
    ['not a mapping', '- a\n- b\n', /must hold a YAML mapping/],
    ['bad YAML', 'a: [\n', /not valid YAML/],
  ];
  for (const [name, text, msg] of bad) {
    it(`refuses ${name} with one sentence naming the field`, () => {
      const f = file(`${name.replace(/ /g, '-')}.yaml`, text);
      expect(() => loadNvaConfig(f, {})).toThrow(NvaConfigError);
      expect(() => loadNvaConfig(f, {})).toThrow(msg);
    });
  }

  it('reads NVE tokens; a missing file is no tokens; short tokens are refused', () => {
    expect(readNveTokens(join(dir, 'none.yaml')).size).toBe(0);
    expect(readNveTokens(file('t.yaml', 'nve1: 0123456789abcdef0123\n')).get('nve1')).toBe(
      '0123456789abcdef0123',
    );
    expect(() => readNveTokens(file('t2.yaml', 'nve1: short\n'))).toThrow(/16\+ characters/);
  });
});
