// One MobilityLab per test file: started before the file's tests, destroyed after them, and every
// namespace of the run removed even when a test or the start failed.
import { afterAll, beforeAll } from 'vitest';
import { MobilityLab, type MobilityLabOptions } from '../../src/lab/mobility-lab.ts';
import { destroyAll } from './netns.ts';

/** Registers the file's hooks; `env.lab` is the lab inside tests (set once beforeAll ran). */
export function useMobilityLab(o: MobilityLabOptions): { readonly lab: MobilityLab } {
  const env = {} as { lab: MobilityLab };
  beforeAll(async () => {
    env.lab = await MobilityLab.start(o);
  });
  afterAll(async () => {
    await env.lab?.destroy();
    destroyAll();
  });
  return env;
}
