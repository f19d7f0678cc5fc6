// CPU time of processes from /proc, for a benchmark on a shared machine: the forwarding path
// runs in softirq on the sender's core, and with tick accounting (this kernel has no
// IRQ_TIME_ACCOUNTING) softirq work done on a task's way out of a syscall lands in that
// task's system time. So delivered packets / (sender's CPU time + ksoftirqd on its core) is
// the rate one dedicated core would reach, whatever share of the core the run actually got.
import { readFileSync, readdirSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (sysconf(_SC_CLK_TCK), 100 on Linux). */
const CLK_TCK = 100;

/** utime + stime of one process, in seconds (0 when it is gone). */
export function processCpuSeconds(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 0;
  }
  // Fields after "(comm)": state is field 3, utime 14, stime 15.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11] ?? 0);
  const stime = Number(rest[12] ?? 0);
  return (utime + stime) / CLK_TCK;
}

/** Pids of a process group. */
export function groupPids(pgid: number): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[2]) === pgid) pids.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** The pid of ksoftirqd/<cpu>. */
export function ksoftirqdPid(cpu: number): number | undefined {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/comm`, 'utf8').trim() === `ksoftirqd/${cpu}`)
        return Number(name);
    } catch {
      // exited meanwhile
    }
  }
  return undefined;
}
