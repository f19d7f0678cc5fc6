// Nothing a killed run started runs on: a lab's processes get a signal when the lab's process
// dies (orphan-safe.ts), and the next test run sweeps the namespaces and processes of runs whose
// process is gone, never those of a live run (test/helpers/test-runs.ts).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { orphanSafe } from '../../../src/lab/orphan-safe.ts';
import { registerRun, sweepDeadRuns } from '../../helpers/test-runs.ts';
import { until } from '../../unit/nva/harness.ts';

/** Running: it exists and is not a zombie waiting for init to reap it. */
const alive = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
};

const namespaces = () =>
  execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '');

describe('orphans', () => {
  it('a process started orphan-safe is signalled when its parent is killed', async () => {
    // A parent that starts `sleep` orphan-safe, says its pid, and waits to be killed.
    const [cmd, args] = orphanSafe('sleep', ['300']);
    const js = `
      const { spawn } = require('node:child_process');
      const c = spawn(${JSON.stringify(cmd)}, ${JSON.stringify(args)}, { detached: true, stdio: 'ignore' });
      console.log(c.pid);
      setInterval(() => {}, 1000);`;
    const parent = spawn(process.execPath, ['-e', js], { stdio: ['ignore', 'pipe', 'inherit'] });
    const pid = await new Promise<number>((resolve) =>
      parent.stdout.once('data', (b: Buffer) => resolve(Number(b.toString().trim()))),
    );
    try {
      await new Promise((r) => setTimeout(r, 100)); // setpriv has exec'd sleep
      expect(alive(pid)).toBe(true);
      parent.kill('SIGKILL');
      await until('the orphan to be gone', () => !alive(pid), 3_000);
    } finally {
      parent.kill('SIGKILL');
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  });

  it("the next run sweeps a dead run's namespaces and their processes, not a live run's", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'roam-runs-'));
    const dead = `x${randomBytes(2).toString('hex')}`;
    const live = `y${randomBytes(2).toString('hex')}`;
    const deadNs = `roamt-${dead}-left`;
    const liveNs = `roamt-${live}-busy`;
    let sleeper: number | undefined;
    try {
      execFileSync('ip', ['netns', 'add', deadNs]);
      execFileSync('ip', ['netns', 'add', liveNs]);
      // A process left running in the dead run's namespace.
      const s = spawn('ip', ['netns', 'exec', deadNs, 'sleep', '300'], {
        detached: true,
        stdio: 'ignore',
      });
      s.unref();
      sleeper = s.pid;
      await until('the sleeper in its namespace', () => {
        const out = execFileSync('ip', ['netns', 'pids', deadNs], { encoding: 'utf8' });
        return out.trim().length > 0;
      });
      // The dead run's marker names a process that has exited; the live one's, this process.
      const gone = spawnSync('true').pid;
      writeFileSync(join(dir, dead), `${gone} 1\n`);
      registerRun(live, process.pid, dir);

      const removed = sweepDeadRuns(dir);

      expect(removed).toContain(deadNs);
      expect(namespaces()).not.toContain(deadNs);
      expect(namespaces()).toContain(liveNs);
      await until('the sleeper killed', () => sleeper === undefined || !alive(sleeper));
      expect(readdirSync(dir)).toEqual([live]);
    } finally {
      if (sleeper !== undefined && alive(sleeper)) process.kill(sleeper, 'SIGKILL');
      for (const ns of [deadNs, liveNs]) spawnSync('ip', ['netns', 'del', ns]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
