// One pino logger for the whole process. Components take a child logger with their name so every
// line says where it came from ({"component":"bpf"}). Level from ROAM_LOG_LEVEL (default info).
import { pino, type Logger } from 'pino';

export type { Logger };

let root: Logger | undefined;

/** The process-wide root logger (JSON lines on stderr, so stdout stays free for command output). */
export function rootLogger(): Logger {
  root ??= pino(
    { level: process.env.ROAM_LOG_LEVEL ?? 'info', base: { pid: process.pid } },
    pino.destination(2),
  );
  return root;
}

/** A child logger for one component. */
export function logger(component: string): Logger {
  return rootLogger().child({ component });
}

/** Replace the root logger (tests, or a CLI flag that changes the level). */
export function setRootLogger(l: Logger): void {
  root = l;
}
