// Global setup of the netns project: checks the preconditions loudly (a missing one fails the run,
// it never skips tests), gives the run an id that every namespace name carries, and sweeps the
// run's namespaces at the end even when a test file crashed, and what killed runs left behind.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { registerRun, sweepDeadRuns, sweepRun, unregisterRun } from './test-runs.ts';

export default function setup(): () => void {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push('netns tests must run as root');
  const mounts = readFileSync('/proc/mounts', 'utf8');
  if (!/ \/sys\/fs\/bpf bpf /.test(mounts)) problems.push('bpffs is not mounted at /sys/fs/bpf');
  if (!existsSync('build/bpf')) problems.push('BPF objects are not built (build/bpf missing)');
  if (problems.length > 0) {
    throw new Error(
      `netns test preconditions missing: ${problems.join('; ')}. Run \`bash scripts/setup.sh\` first.`,
    );
  }
  // What runs killed before their teardown left behind (test-runs.ts); live runs are untouched.
  const stale = sweepDeadRuns();
  if (stale.length > 0) console.warn(`removed what killed test runs left: ${stale.join(', ')}`);
  const run = randomBytes(3).toString('hex');
  process.env.ROAM_TEST_RUN = run;
  registerRun(run);
  return () => {
    // Normally nothing: what a test file that died early left (namespaces, the lab's pins).
    const left = sweepRun(run);
    if (left.length > 0) console.warn(`netns teardown removed leftovers: ${left.join(', ')}`);
    unregisterRun(run);
  };
}
