// tcpdump inside a namespace for the length of an action: counts the frames matching a
// filter, so a test can say "no ARP request reached the underlay" or "y saw no broadcast".
import { spawn } from 'node:child_process';
import type { Netns } from './netns.ts';

const START_TIMEOUT_MS = 5000;
/** Frames already on the wire when the action ends still get this long to be captured. */
const SETTLE_MS = 300;

/** A running capture; stop() ends it and returns the matching frames (one line each). */
export interface Capture {
  stop(): Promise<string[]>;
}

/** Start tcpdump on `dev` in `ns` with a pcap filter; resolves once it is listening. */
export async function startCapture(ns: Netns, dev: string, filter: string): Promise<Capture> {
  const child = spawn(
    'ip',
    ['netns', 'exec', ns.name, 'tcpdump', '-i', dev, '-n', '-l', '-e', '--immediate-mode', filter],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tcpdump on ${dev} in ${ns.name} did not start: ${err.trim()}`));
    }, START_TIMEOUT_MS);
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', () => {
      clearTimeout(timer);
      reject(new Error(`tcpdump on ${dev} in ${ns.name} exited: ${err.trim()}`));
    });
  });
  return {
    async stop() {
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      child.kill('SIGINT');
      await exited;
      return out.split('\n').filter((l) => l.trim().length > 0);
    },
  };
}

/** Run `action` while capturing; returns the action's result and the captured lines. */
export async function captureDuring<T>(
  ns: Netns,
  dev: string,
  filter: string,
  action: () => T | Promise<T>,
): Promise<{ result: T; frames: string[] }> {
  const cap = await startCapture(ns, dev, filter);
  let result: T;
  try {
    result = await action();
  } catch (e) {
    await cap.stop();
    throw e;
  }
  return { result, frames: await cap.stop() };
}
