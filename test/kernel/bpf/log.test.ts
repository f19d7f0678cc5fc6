// libbpf's print callback lands in pino under component "libbpf", at libbpf's level.
import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { BpfObject } from '../../../src/bpf/index.ts';
import { rootLogger, setRootLogger } from '../../../src/log.ts';
import { REJECT_OBJ, TEST_OBJ } from './fixtures.ts';

const PINO_WARN = 40;
const PINO_DEBUG = 20;

describe('libbpf log routing', () => {
  const saved = rootLogger();
  afterAll(() => setRootLogger(saved));

  function capture(): { lines: { level: number; component: string; msg: string }[] } {
    const out = { lines: [] as { level: number; component: string; msg: string }[] };
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString().split('\n').filter(Boolean)) out.lines.push(JSON.parse(l));
        cb();
      },
    });
    setRootLogger(pino({ level: 'debug' }, sink));
    return out;
  }

  it('routes warnings (a missing file) and debug chatter (a load) with their levels', async () => {
    const out = capture();
    expect(() => BpfObject.open('build/bpf/test/no-such.bpf.o')).toThrow();
    const obj = BpfObject.open(TEST_OBJ);
    obj.load();
    obj.close();
    await new Promise((r) => setImmediate(r));
    const libbpf = out.lines.filter((l) => l.component === 'libbpf');
    expect(libbpf.find((l) => /failed to open .*no-such/.test(l.msg))?.level).toBe(PINO_WARN);
    expect(libbpf.some((l) => l.level === PINO_DEBUG)).toBe(true);
  });

  it('the verifier log is logged as a warning too', async () => {
    const out = capture();
    const obj = BpfObject.open(REJECT_OBJ);
    expect(() => obj.load()).toThrow(/EACCES/);
    obj.close();
    await new Promise((r) => setImmediate(r));
    expect(
      out.lines.some(
        (l) =>
          l.component === 'libbpf' &&
          l.level === PINO_WARN &&
          /invalid access to packet/.test(l.msg),
      ),
    ).toBe(true);
  });
});

describe('libbpf log routing with worker threads', () => {
  it("a worker thread that imports the binding does not take the main thread's print hook", () => {
    const fixture = new URL('./worker-print-fixture.ts', import.meta.url).pathname;
    const r = spawnSync(process.execPath, ['--import', 'tsx', fixture], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, ROAM_LOG_LEVEL: 'error' },
    });
    // a hang (the old behaviour) ends in the timeout's SIGTERM, without "printed"
    expect(r.signal, r.stderr).toBeNull();
    expect(r.stdout, r.stderr).toContain('printed');
    expect(r.status).toBe(0);
  });
});
