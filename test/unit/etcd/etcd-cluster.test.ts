// The cluster helper itself: a real 3-member etcd on loopback keeps serving writes with one
// member killed, and the restarted member catches up on what it missed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Etcd3 } from 'etcd3';
import { EtcdCluster, sweepOrphans } from '../../helpers/etcd-cluster.ts';

const CLUSTER_TIMEOUT_MS = 60_000;

/** Running, as opposed to gone or a zombie nobody reaped yet (an orphan's parent is pid 1). */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

describe('EtcdCluster helper', () => {
  let cluster: EtcdCluster;
  let client: Etcd3;

  beforeAll(async () => {
    cluster = await EtcdCluster.start({ members: 3 });
    client = new Etcd3({ hosts: cluster.endpoints() });
  }, CLUSTER_TIMEOUT_MS);

  afterAll(async () => {
    client?.close();
    await cluster?.stop();
  });

  it('starts three healthy members on distinct loopback ports', async () => {
    const urls = cluster.endpoints();
    expect(urls).toHaveLength(3);
    expect(new Set(urls).size).toBe(3);
    for (const u of urls) expect(u).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const members = await client.cluster.memberList({});
    expect(members.members.map((m) => m.name).sort()).toEqual(['m0', 'm1', 'm2']);
  });

  it(
    'keeps accepting writes with one member killed, and the restarted member catches up',
    async () => {
      await cluster.kill(1);
      expect(cluster.liveEndpoints()).toHaveLength(2);
      // Quorum is 2 of 3: writes still commit.
      await client.put('/t/while-down').value('v1');
      expect(await client.get('/t/while-down').string()).toBe('v1');

      await cluster.restart(1);
      // Read from the restarted member alone: it must have replicated the write it missed.
      const only1 = new Etcd3({ hosts: cluster.members[1]!.clientUrl });
      try {
        expect(await only1.get('/t/while-down').string()).toBe('v1');
      } finally {
        only1.close();
      }
    },
    CLUSTER_TIMEOUT_MS,
  );

  it(
    'stop() kills every member and deletes the data dir',
    async () => {
      const c = await EtcdCluster.start({ members: 1 });
      const pid = c.members[0]!.process!.pid!;
      await c.stop();
      expect(existsSync(c.dir)).toBe(false);
      expect(() => process.kill(pid, 0)).toThrow();
    },
    CLUSTER_TIMEOUT_MS,
  );

  it(
    'sweeps the members of a cluster whose owner was SIGKILLed',
    async () => {
      const script = fileURLToPath(new URL('./orphan-owner.ts', import.meta.url));
      const owner = spawn(process.execPath, ['--import', 'tsx', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        owner.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('\n')) resolve(out.trim());
        });
        owner.once('exit', (code) => reject(new Error(`owner exited early (${code})`)));
      });
      const [dir, pidText] = line.split(' ');
      const member = Number(pidText);
      const gone = new Promise((r) => owner.once('exit', r));
      owner.kill('SIGKILL');
      await gone;
      expect(isRunning(member)).toBe(true); // orphaned, still running
      sweepOrphans();
      const deadline = Date.now() + 5_000;
      while (isRunning(member) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      expect(isRunning(member)).toBe(false);
      expect(existsSync(dir!)).toBe(false);
    },
    CLUSTER_TIMEOUT_MS,
  );
});
