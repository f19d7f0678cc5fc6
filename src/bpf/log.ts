// Routes libbpf's print callback into pino (logger('libbpf')), and lets a caller capture what
// libbpf says during one operation (object load), so a rejected program's BpfError carries the
// verifier's reasons.
import koffi from 'koffi';
import { isMainThread } from 'node:worker_threads';
import { logger } from '../log.ts';
import { PrintFn, c_vsnprintf, libbpf_set_print, type Ptr } from './libbpf.ts';

// libbpf_print_level
const LIBBPF_WARN = 0;
const LIBBPF_INFO = 1;

// The verifier log arrives as one print call; a big buffer keeps it whole (reused, not per call).
const PRINT_BUF_BYTES = 1 << 20;
let printBuf: Buffer | undefined;
let callback: Ptr | undefined;
let capture: string[] | undefined;

function onPrint(level: number, fmt: string, args: Ptr): number {
  printBuf ??= Buffer.alloc(PRINT_BUF_BYTES);
  const n = c_vsnprintf(printBuf, PRINT_BUF_BYTES, fmt, args);
  const text = printBuf
    .toString('utf8', 0, Math.max(0, Math.min(n, PRINT_BUF_BYTES - 1)))
    .trimEnd();
  if (capture) capture.push(text);
  const log = logger('libbpf');
  if (level === LIBBPF_WARN) log.warn(text);
  else if (level === LIBBPF_INFO) log.info(text);
  else log.debug(text);
  return 0;
}

/**
 * Install the pino-routing print callback (idempotent; done by every entry point). Only the main
 * thread installs it: libbpf's print hook is global to the process, and a callback registered on a
 * worker thread (the agent's batch writer imports map.ts) would replace the main thread's, so
 * every later libbpf message of the main thread would wait for that worker's event loop, which a
 * worker blocked in a batch write or an Atomics.wait never runs: the main thread would hang.
 */
export function installLibbpfLogger(): void {
  if (callback !== undefined || !isMainThread) return;
  callback = koffi.register(onPrint, koffi.pointer(PrintFn));
  libbpf_set_print(callback);
}

/** Run fn while collecting libbpf's messages; returns fn's result and the messages. */
export function captureLibbpfLog<T>(fn: () => T): { result: T; lines: string[] } {
  installLibbpfLogger();
  const outer = capture;
  const lines: string[] = [];
  capture = lines;
  try {
    return { result: fn(), lines };
  } finally {
    capture = outer;
    if (outer) outer.push(...lines);
  }
}

const DETAIL_MAX_CHARS = 4000;

/** The useful tail of a libbpf log for an error message (the verifier's verdict is at the end). */
export function logDetail(lines: string[]): string | undefined {
  const text = lines.join('\n').trim();
  if (!text) return undefined;
  if (text.length <= DETAIL_MAX_CHARS) return text;
  return `...${text.slice(text.length - DETAIL_MAX_CHARS)}`;
}
