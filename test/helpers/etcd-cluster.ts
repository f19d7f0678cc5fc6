// A real etcd cluster on loopback for tests and benchmarks: N members (Debian's etcd-server 3.4,
// binary `etcd`), each with free client and peer ports on 127.0.0.1 and its data dir under one
// tmp dir. Members can be killed (SIGKILL, as a crash) and restarted on the same data. stop()
// kills every member and deletes the tmp dir; a process 'exit' hook (and SIGTERM/SIGINT) does the
// same if a test dies before its afterAll. If the owner is killed outright, the next start()
// sweeps its leftovers: each cluster dir records its owner's pid and its members' pids.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Binary of Debian's etcd-server package. */
export const ETCD_BINARY = 'etcd';
/** Fast raft timing: loopback has no latency, and tests want quick leader elections. */
const HEARTBEAT_MS = 50;
const ELECTION_TIMEOUT_MS = 500;
/** How long a member (or the whole cluster) may take to become healthy. */
const HEALTHY_TIMEOUT_MS = 20_000;
const HEALTH_POLL_MS = 50;
/** Lines of a member's log shown when it fails to come up. */
const LOG_TAIL_LINES = 20;
/** Every cluster dir is <tmpdir>/<this><random>. */
const DIR_PREFIX = 'roam-etcd-';
/** In a cluster dir: the owner's pid, and one pid per member process. */
const OWNER_FILE = 'owner.pid';
const MEMBERS_FILE = 'members.pid';

export interface EtcdClusterOptions {
  /** Number of members (default 3). */
  members?: number;
}

/** One etcd member: its ports, data dir, and (while running) its process. */
export interface EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly logFile: string;
  process: ChildProcess | undefined;
}

const live = new Set<EtcdCluster>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Synchronous last resort: kill members and delete data even when afterAll never ran.
  process.on('exit', () => {
    for (const c of live) c.stopSync();
  });
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => {
      for (const c of live) c.stopSync();
      process.kill(process.pid, sig); // the default action, now that our handler is gone
    });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Kill the members of clusters whose owner died without cleaning up, and delete their dirs. */
export function sweepOrphans(): void {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(DIR_PREFIX)) continue;
    const dir = join(tmpdir(), name);
    let owner: number;
    try {
      owner = Number(readFileSync(join(dir, OWNER_FILE), 'utf8'));
    } catch {
      continue; // not ours, or still being created
    }
    if (!Number.isInteger(owner) || owner <= 0 || isAlive(owner)) continue;
    let members: number[] = [];
    try {
      members = readFileSync(join(dir, MEMBERS_FILE), 'utf8')
        .split(/\s+/)
        .filter(Boolean)
        .map(Number);
    } catch {
      // no member was started
    }
    for (const pid of members) {
      try {
        // Only an etcd of that cluster dir: a recycled pid must not be hit.
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        if (cmd.includes(dir)) process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A free TCP port on 127.0.0.1 (bind to 0, read the port, close). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error('could not read a free port'));
        return;
      }
      srv.close(() => resolve(addr.port));
    });
  });
}

function assertEtcdInstalled(): void {
  try {
    execFileSync(ETCD_BINARY, ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error(
      `etcd binary "${ETCD_BINARY}" not found: install Debian's etcd-server (scripts/setup.sh does)`,
    );
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class EtcdCluster {
  readonly members: EtcdMember[];
  private stopped = false;

  private constructor(
    readonly dir: string,
    members: EtcdMember[],
    private readonly token: string,
  ) {
    this.members = members;
  }

  /** Start a fresh cluster and wait until every member reports healthy. */
  static async start(opts: EtcdClusterOptions = {}): Promise<EtcdCluster> {
    assertEtcdInstalled();
    sweepOrphans();
    const n = opts.members ?? 3;
    const dir = mkdtempSync(join(tmpdir(), DIR_PREFIX));
    writeFileSync(join(dir, OWNER_FILE), String(process.pid));
    const members: EtcdMember[] = [];
    for (let i = 0; i < n; i++) {
      members.push({
        name: `m${i}`,
        clientUrl: `http://127.0.0.1:${await freePort()}`,
        peerUrl: `http://127.0.0.1:${await freePort()}`,
        dataDir: join(dir, `m${i}.etcd`),
        logFile: join(dir, `m${i}.log`),
        process: undefined,
      });
    }
    const token = `roam-${process.pid}-${Date.now().toString(36)}`;
    const cluster = new EtcdCluster(dir, members, token);
    installExitHook();
    live.add(cluster);
    try {
      for (let i = 0; i < n; i++) cluster.spawnMember(i, 'new');
      await cluster.waitHealthy();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** Client endpoints of every member (running or not), for the etcd3 client's `hosts`. */
  endpoints(): string[] {
    return this.members.map((m) => m.clientUrl);
  }

  /** Client endpoints of running members only. */
  liveEndpoints(): string[] {
    return this.members.filter((m) => m.process !== undefined).map((m) => m.clientUrl);
  }

  /** Crash member i (SIGKILL) and wait until its process is gone. */
  async kill(i: number): Promise<void> {
    const m = this.member(i);
    const p = m.process;
    if (p === undefined) return;
    m.process = undefined;
    if (p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGKILL');
    await gone;
  }

  /** Start member i again on its old data dir and wait until it is healthy. */
  async restart(i: number): Promise<void> {
    if (this.member(i).process !== undefined) throw new Error(`etcd member m${i} is still running`);
    this.spawnMember(i, 'existing');
    await this.waitMemberHealthy(i);
  }

  /** Wait until every running member answers /health with "true". */
  async waitHealthy(): Promise<void> {
    await Promise.all(
      this.members.map((m, i) => (m.process ? this.waitMemberHealthy(i) : Promise.resolve())),
    );
  }

  /** Kill every member and delete the data dir. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    await Promise.all(this.members.map((_, i) => this.kill(i)));
    this.stopSync();
  }

  /** Synchronous stop for the process-exit hook: SIGKILL all, delete the tmp dir. */
  stopSync(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const m of this.members) {
      try {
        m.process?.kill('SIGKILL');
      } catch {
        // already gone
      }
      m.process = undefined;
    }
    rmSync(this.dir, { recursive: true, force: true });
    live.delete(this);
  }

  private member(i: number): EtcdMember {
    const m = this.members[i];
    if (m === undefined)
      throw new Error(`no etcd member ${i} (cluster has ${this.members.length})`);
    return m;
  }

  private spawnMember(i: number, state: 'new' | 'existing'): void {
    const m = this.member(i);
    const initialCluster = this.members.map((x) => `${x.name}=${x.peerUrl}`).join(',');
    const args = [
      `--name=${m.name}`,
      `--data-dir=${m.dataDir}`,
      `--listen-client-urls=${m.clientUrl}`,
      `--advertise-client-urls=${m.clientUrl}`,
      `--listen-peer-urls=${m.peerUrl}`,
      `--initial-advertise-peer-urls=${m.peerUrl}`,
      `--initial-cluster=${initialCluster}`,
      `--initial-cluster-state=${state}`,
      `--initial-cluster-token=${this.token}`,
      `--heartbeat-interval=${HEARTBEAT_MS}`,
      `--election-timeout=${ELECTION_TIMEOUT_MS}`,
      '--logger=zap',
      '--log-level=warn',
    ];
    const fd = openSync(m.logFile, 'a');
    try {
      const p = spawn(ETCD_BINARY, args, { stdio: ['ignore', fd, fd] });
      // A member that dies on its own (not through kill()) is marked as not running.
      p.once('exit', () => {
        if (m.process === p) m.process = undefined;
      });
      m.process = p;
      this.recordPids();
    } finally {
      closeSync(fd);
    }
  }

  private async waitMemberHealthy(i: number): Promise<void> {
    const m = this.member(i);
    const deadline = Date.now() + HEALTHY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (m.process === undefined)
        throw new Error(`etcd member ${m.name} exited:\n${this.logTail(m)}`);
      try {
        const res = await fetch(`${m.clientUrl}/health`, { signal: AbortSignal.timeout(1_000) });
        const body = (await res.json()) as { health?: string };
        if (body.health === 'true') return;
      } catch {
        // not listening yet
      }
      await sleep(HEALTH_POLL_MS);
    }
    throw new Error(
      `etcd member ${m.name} not healthy after ${HEALTHY_TIMEOUT_MS} ms:\n${this.logTail(m)}`,
    );
  }

  /** Write the running members' pids, for sweepOrphans() should this process die abruptly. */
  private recordPids(): void {
    const pids = this.members.map((m) => m.process?.pid).filter((p) => p !== undefined);
    writeFileSync(join(this.dir, MEMBERS_FILE), pids.join('\n'));
  }

  private logTail(m: EtcdMember): string {
    try {
      return readFileSync(m.logFile, 'utf8')
        .trimEnd()
        .split('\n')
        .slice(-LOG_TAIL_LINES)
        .join('\n');
    } catch {
      return '(no log)';
    }
  }
}
