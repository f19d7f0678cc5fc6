// Network namespaces for tests, the demo and benchmarks. Every name carries this run's prefix
// (tests: "roamt-<run id>-", set by the global setup; demo/bench choose their own) plus a random
// part, so parallel or crashed runs never collide; every namespace created here is deleted by
// destroyAll() (call it in afterAll / a finally), on process exit, and by the test run's global
// teardown, which sweeps whatever the run left behind even when a test died half-way.
import { execFileSync, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

const DEFAULT_RUN_TIMEOUT_MS = 30_000;
const DEFAULT_ASYNC_TIMEOUT_MS = 60_000;
/** Where `ip netns add` keeps its namespace handles (nsenter --net takes one of these). */
export const NETNS_RUN_DIR = '/run/netns';

let prefixOverride: string | undefined;

/** Prefix of every namespace this process creates ("roamt-<run id>-" in tests). */
export function runPrefix(): string {
  if (prefixOverride !== undefined) return prefixOverride;
  const run = process.env.ROAM_TEST_RUN ?? `p${process.pid.toString(36)}`;
  return `roamt-${run}-`;
}

/** Use another prefix than the tests' one (the demo and benchmarks: "roamd-", "roamb-"). */
export function setRunPrefix(prefix: string): void {
  prefixOverride = prefix;
}

const created = new Set<string>();

function describeFailure(where: string, cmd: string, args: string[], err: unknown): Error {
  const e = err as { stderr?: string; stdout?: string; message: string };
  return new Error(
    `in netns ${where}: ${cmd} ${args.join(' ')} failed: ${e.stderr || e.stdout || e.message}`,
  );
}

export class Netns {
  constructor(readonly name: string) {}

  /** Path of the namespace handle (for nsenter, or setns from a helper). */
  get path(): string {
    return `${NETNS_RUN_DIR}/${this.name}`;
  }

  /**
   * Run a command inside the namespace and return its stdout; throws with stderr on failure.
   * Uses `ip netns exec`, which also remounts /sys for the namespace (right for ethtool and
   * sysctl), but hides /sys/fs/bpf: use runNet() for bpftool and anything needing pins.
   */
  run(cmd: string, args: string[] = [], opts: { timeoutMs?: number } = {}): string {
    try {
      return execFileSync('ip', ['netns', 'exec', this.name, cmd, ...args], {
        encoding: 'utf8',
        timeout: opts.timeoutMs ?? DEFAULT_RUN_TIMEOUT_MS,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (err) {
      throw describeFailure(this.name, cmd, args, err);
    }
  }

  /**
   * Run a command that enters only the network namespace (nsenter --net): the host's mounts,
   * /sys/fs/bpf included, stay visible, so bpftool can attach pinned programs here.
   */
  runNet(cmd: string, args: string[] = [], opts: { timeoutMs?: number } = {}): string {
    try {
      return execFileSync('nsenter', [`--net=${this.path}`, cmd, ...args], {
        encoding: 'utf8',
        timeout: opts.timeoutMs ?? DEFAULT_RUN_TIMEOUT_MS,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (err) {
      throw describeFailure(this.name, cmd, args, err);
    }
  }

  /** Like run(), but does not block the event loop (for long-running senders/receivers). */
  async runAsync(cmd: string, args: string[] = [], opts: { timeoutMs?: number } = {}) {
    return execFileAsync('ip', ['netns', 'exec', this.name, cmd, ...args], {
      encoding: 'utf8',
      timeout: opts.timeoutMs ?? DEFAULT_ASYNC_TIMEOUT_MS,
    });
  }

  /** `ip <args>` inside the namespace. */
  ip(...args: string[]): string {
    return this.run('ip', args);
  }

  ifindex(dev: string): number {
    const out = this.ip('-j', 'link', 'show', 'dev', dev);
    const parsed = JSON.parse(out) as { ifindex: number }[];
    const idx = parsed[0]?.ifindex;
    if (idx === undefined) throw new Error(`no interface ${dev} in ${this.name}`);
    return idx;
  }

  mac(dev: string): string {
    const parsed = JSON.parse(this.ip('-j', 'link', 'show', 'dev', dev)) as { address: string }[];
    const mac = parsed[0]?.address;
    if (mac === undefined) throw new Error(`no interface ${dev} in ${this.name}`);
    return mac;
  }

  /** Set a sysctl inside the namespace (e.g. 'net.ipv6.conf.all.forwarding', '1'). */
  sysctl(key: string, value: string): void {
    this.run('sysctl', ['-q', '-w', `${key}=${value}`]);
  }

  /** Delete the namespace (idempotent). */
  destroy(): void {
    deleteNetns(this.name);
    created.delete(this.name);
  }
}

/** Create a namespace named after `label` with this run's prefix; loopback is brought up. */
export function createNetns(label: string): Netns {
  const name = `${runPrefix()}${label}-${randomBytes(3).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', name], { stdio: 'pipe' });
  created.add(name);
  const ns = new Netns(name);
  ns.ip('link', 'set', 'lo', 'up');
  return ns;
}

/** A short unique interface name (Linux limits names to 15 bytes). */
export function uniqueIfname(prefix: string): string {
  return `${prefix.slice(0, 6)}${randomBytes(4).toString('hex')}`.slice(0, 15);
}

/**
 * A veth pair with one end in `a` (named aName) and the other in `b` (named bName), both up.
 * Created in the host namespace under random names and moved at once, so the host never keeps
 * an end and names cannot collide with other runs.
 */
export function vethPair(a: Netns, aName: string, b: Netns, bName: string): void {
  const tmpA = uniqueIfname('rta');
  const tmpB = uniqueIfname('rtb');
  execFileSync('ip', ['link', 'add', tmpA, 'type', 'veth', 'peer', 'name', tmpB], {
    stdio: 'pipe',
  });
  try {
    execFileSync('ip', ['link', 'set', tmpA, 'netns', a.name, 'name', aName], { stdio: 'pipe' });
    execFileSync('ip', ['link', 'set', tmpB, 'netns', b.name, 'name', bName], { stdio: 'pipe' });
  } catch (err) {
    execFileSync('ip', ['link', 'del', tmpA], { stdio: 'ignore' });
    throw err;
  }
  a.ip('link', 'set', aName, 'up');
  b.ip('link', 'set', bName, 'up');
}

export function deleteNetns(name: string): void {
  try {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  } catch {
    // already gone
  }
}

/** Delete every namespace this process created. */
export function destroyAll(): void {
  for (const name of created) deleteNetns(name);
  created.clear();
}

/** Kill what still runs in `name`: a namespace with a process in it outlives its deletion. */
function killProcessesIn(name: string): void {
  let pids: string[];
  try {
    pids = execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).split('\n');
  } catch {
    return;
  }
  for (const pid of pids.filter((p) => /^\d+$/.test(p))) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/**
 * Delete every namespace whose name starts with prefix, and the processes left in them (the
 * global teardown's sweep, and the next run's for a killed run: test/helpers/test-runs.ts).
 */
export function sweepNetns(prefix: string): string[] {
  const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  const names = out
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(prefix));
  for (const n of names) {
    killProcessesIn(n);
    deleteNetns(n);
  }
  return names;
}

/**
 * For long-running programs (demo, benchmarks): on Ctrl-C or SIGTERM, delete this process's
 * namespaces, run `extra` clean-ups, then exit with the conventional 128+signal code.
 */
export function cleanupOnSignals(extra: () => void = () => {}): void {
  const handler = (signal: NodeJS.Signals, code: number) => () => {
    try {
      extra();
    } finally {
      destroyAll();
      process.stderr.write(`roam: ${signal}, namespaces removed\n`);
      process.exit(code);
    }
  };
  process.once('SIGINT', handler('SIGINT', 130));
  process.once('SIGTERM', handler('SIGTERM', 143));
}

process.once('exit', destroyAll);
