// CPU profiles of bench:nva's measured phase only (not start-up, not the VMs' placement), for the
// NVA process and each NVE process: BENCH_NVA_PROFILE_DIR=dir. Taken with node:inspector, so
// they can be started and stopped around the moves (node --cpu-prof covers the whole process).
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const PROFILE_DIR = process.env.BENCH_NVA_PROFILE_DIR;

let session: Session | undefined;

export async function startProfile(): Promise<void> {
  if (!PROFILE_DIR || session) return;
  session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  // 100 µs between samples (the default is 1 ms: too coarse for a 3 ms move).
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
}

/** Stop and write `<dir>/<name>.cpuprofile` (for Chrome DevTools or speedscope). */
export async function stopProfile(name: string): Promise<void> {
  if (!PROFILE_DIR || !session) return;
  const { profile } = await session.post('Profiler.stop');
  session.disconnect();
  session = undefined;
  writeFileSync(join(PROFILE_DIR, `${name}.cpuprofile`), JSON.stringify(profile));
}
