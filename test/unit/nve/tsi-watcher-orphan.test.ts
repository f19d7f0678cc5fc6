// The agent's `ip monitor link` child must not outlive the agent: after a kill -9 an orphaned
// monitor kept watching (and, with -n NS, kept a deleted namespace alive). Found by the e2e lab.
import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';

const AGENT_LIKE = `
import('./src/nve/tsi-watcher.ts').then((m) => {
  m.ipLinkSource().monitor();
  process.stdout.write('ready\\n');
  setInterval(() => {}, 1000);
});
`;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('ipLinkSource monitor', () => {
  it('dies with its parent, even on SIGKILL (regression: orphaned ip monitor)', async () => {
    const parent = spawn(process.execPath, ['--import', 'tsx', '-e', AGENT_LIKE], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [chunk] = (await once(parent.stdout, 'data')) as [Buffer];
    expect(chunk.toString()).toContain('ready');
    const monitorPid = Number(
      execFileSync('pgrep', ['-P', String(parent.pid), '-f', 'monitor link'], {
        encoding: 'utf8',
      }).trim(),
    );
    expect(alive(monitorPid)).toBe(true);
    parent.kill('SIGKILL');
    await once(parent, 'exit');
    const deadline = Date.now() + 5_000;
    while (alive(monitorPid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(alive(monitorPid)).toBe(false);
  });
});
