// `roam demo` as an operator runs it: the report (and its JSON) says what the issue asks, and
// nothing of it is left behind, after a normal run and after Ctrl-C half-way.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROAM = join(import.meta.dirname, '../../../bin/roam.js');
const dir = mkdtempSync(join(tmpdir(), 'roam-demo-test-'));
const DEMO_DEADLINE_MS = 60_000;

function leftovers(pid: number): { netns: string[] } {
  const prefix = `roamd-${pid.toString(36)}-`;
  const netns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(prefix));
  return { netns };
}

/** Pin instances of the demo run with this pid (parallel runs' labs have other prefixes). */
function demoPins(pid: number): string[] {
  return [...pinsNow()].filter((p) => p.startsWith(`lab-roamd-${pid.toString(36)}-`));
}

function pinsNow(): Set<string> {
  try {
    return new Set(readdirSync('/sys/fs/bpf/roam'));
  } catch {
    return new Set();
  }
}

function runDemo(args: string[], interruptWhen?: RegExp) {
  const child = spawn(process.execPath, [ROAM, 'demo', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (interruptWhen?.test(out)) {
      interruptWhen = undefined;
      child.kill('SIGINT');
    }
  });
  child.stderr.resume();
  return new Promise<{ code: number | null; out: string; pid: number }>((resolve) =>
    child.once('exit', (code) => resolve({ code, out, pid: child.pid! })),
  );
}

describe('roam demo', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('moves a VM under traffic, reports, writes the JSON and removes everything', async () => {
    const json = join(dir, 'report.json');
    const t0 = Date.now();
    const r = await runDemo(['--json', json, '--rate', '2000']);
    expect(r.code, r.out).toBe(0);
    expect(Date.now() - t0).toBeLessThan(DEMO_DEADLINE_MS);
    expect(r.out).toMatch(/moving b nve2 -> nve3/);
    expect(r.out).toMatch(/re-tunnelled/);
    const rep = JSON.parse(readFileSync(json, 'utf8')) as Record<string, unknown>;
    expect(rep.sent).toBeGreaterThan(2000);
    expect(typeof rep.lost_after_announce).toBe('number');
    expect(rep.retunneled).toBeGreaterThan(0);
    const conv = rep.convergence_ms as Record<string, number | null>;
    expect(Object.keys(conv).sort()).toEqual(['nve1', 'nve2', 'nve3']);
    for (const v of Object.values(conv)) expect(v).toBeGreaterThanOrEqual(0);
    expect(leftovers(r.pid).netns).toEqual([]);
    expect(demoPins(r.pid)).toEqual([]);
  });

  it('removes everything when interrupted with Ctrl-C half-way', async () => {
    const r = await runDemo(['--rate', '1000'], /UDP stream/);
    expect(r.code).toBe(130);
    expect(leftovers(r.pid).netns).toEqual([]);
    expect(demoPins(r.pid)).toEqual([]);
  });
});
