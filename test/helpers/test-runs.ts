// Which test runs are alive. Each run's global setup leaves a marker (its pid and that process's
// start time) and removes it in its teardown. A run killed before its teardown (SIGKILL, a killed
// vitest) leaves its namespaces and pins behind: the next run finds its marker with the process
// gone and sweeps what carries its id. Live parallel runs are never touched (their process is
// there), and a pid reused by another process does not pass for the run (start times differ).
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sweepNetns } from '../../src/lab/netns.ts';
import { sweepRoamInstances } from '../../src/lab/roam-nve.ts';

export const RUNS_DIR = '/run/roam-test-runs';

/** A process's start time (clock ticks since boot, /proc/PID/stat field 22), or null if gone. */
export function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may hold spaces and parentheses: count from the last ')'
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

export function registerRun(run: string, pid = process.pid, dir = RUNS_DIR): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, run), `${pid} ${startTime(pid) ?? ''}\n`);
}

export function unregisterRun(run: string, dir = RUNS_DIR): void {
  rmSync(join(dir, run), { force: true });
}

/** Runs whose marker names a process that is gone (or a pid now held by another process). */
export function deadRuns(dir = RUNS_DIR): string[] {
  let runs: string[];
  try {
    runs = readdirSync(dir);
  } catch {
    return [];
  }
  return runs.filter((run) => {
    const [pid, started] = readFileSync(join(dir, run), 'utf8').trim().split(' ');
    const now = startTime(Number(pid));
    return now === null || now !== started;
  });
}

/**
 * Remove what carries a run's id: its namespaces (and the processes left in them) and its pinned
 * roam instances, the lab's included. Returns their names.
 */
export function sweepRun(run: string): string[] {
  const prefix = `roamt-${run}-`;
  return [
    ...sweepNetns(prefix),
    ...sweepRoamInstances(prefix),
    ...sweepRoamInstances(`lab-${prefix}`),
  ];
}

/** Remove what dead runs left (sweepRun) and their markers. */
export function sweepDeadRuns(dir = RUNS_DIR): string[] {
  const removed: string[] = [];
  for (const run of deadRuns(dir)) {
    removed.push(...sweepRun(run));
    unregisterRun(run, dir);
  }
  return removed;
}
