// The garbage collection of a benchmark's own process, kept out of what it times. On this 2-core
// machine a full GC of the bench's heap takes 5-12 ms of CPU on the main thread plus V8's helper
// threads; traced bench:move runs had V8's memory reducer (full GCs it starts on its own once
// allocation slows down, three of them ~0.6 s apart) land on moves 13-16, taking 10-12 ms of
// every 20 ms on both CPUs while the agents and the NVA waited. A bench turns the reducer off and
// collects explicitly between the timed operations instead.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | undefined;
/** gc() was not exposed when this isolate last looked. */
let unavailable = false;

/**
 * No memory-reducer GCs in isolates created from now on (and the current one's timer is not
 * re-armed), and a `gc()` this process can call. Flags are process-wide: worker threads too.
 */
export function controlInstrumentGc(): void {
  setFlagsFromString('--no-memory-reducer');
  setFlagsFromString('--expose-gc');
  // a new context gets the gc() the flag exposes (the current one was made before it)
  gc = runInNewContext('gc') as () => void;
  unavailable = false;
}

/** A full GC now (a no-op before controlInstrumentGc() in this isolate's process). */
export function collectGarbage(): void {
  if (!gc && !unavailable) {
    try {
      gc = runInNewContext('gc') as () => void;
    } catch {
      unavailable = true; // not exposed (a test, not a bench): nothing to do
    }
  }
  gc?.();
}
