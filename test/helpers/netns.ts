// Network namespaces for netns tests. Every name carries this run's id (set by the global setup)
// plus a random part, so parallel or crashed runs never collide; every namespace created here is
// deleted by destroyAll() (call it in afterAll), on process exit, and by the global teardown,
// which sweeps whatever this run left behind even when a test died half-way.
import { execFileSync, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Prefix of every namespace a test run creates ("roamt-<run id>-"). */
export function runPrefix(): string {
  const run = process.env.ROAM_TEST_RUN ?? `p${process.pid.toString(36)}`;
  return `roamt-${run}-`;
}

const created = new Set<string>();

export class Netns {
  constructor(readonly name: string) {}

  /** Run a command inside the namespace and return its stdout; throws with stderr on failure. */
  run(cmd: string, args: string[] = [], opts: { timeoutMs?: number } = {}): string {
    try {
      return execFileSync('ip', ['netns', 'exec', this.name, cmd, ...args], {
        encoding: 'utf8',
        timeout: opts.timeoutMs ?? 30_000,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (err) {
      const e = err as { stderr?: string; stdout?: string; message: string };
      throw new Error(
        `in netns ${this.name}: ${cmd} ${args.join(' ')} failed: ${e.stderr || e.stdout || e.message}`,
      );
    }
  }

  /** Like run(), but does not block the event loop (for long-running senders/receivers). */
  async runAsync(cmd: string, args: string[] = [], opts: { timeoutMs?: number } = {}) {
    return execFileAsync('ip', ['netns', 'exec', this.name, cmd, ...args], {
      encoding: 'utf8',
      timeout: opts.timeoutMs ?? 60_000,
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
  execFileSync('ip', ['link', 'add', tmpA, 'type', 'veth', 'peer', 'name', tmpB], { stdio: 'pipe' });
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

/** Delete every namespace whose name starts with prefix (the global teardown's sweep). */
export function sweepNetns(prefix: string): string[] {
  const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  const names = out
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(prefix));
  for (const n of names) deleteNetns(n);
  return names;
}

process.once('exit', destroyAll);
