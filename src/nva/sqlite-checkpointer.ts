// Checkpoints of the SQLite store's WAL, off the event loop. SQLite's automatic checkpoint runs in
// the committing connection: every ~1,000 WAL pages (here every ~200 moves) one commit copied the
// pages into the database file and fsynced it, stalling every NVE stream for 4-5 ms (and more
// when the disk is busy): the slowest moves of bench:nva. The store turns that off and asks a
// worker thread (sqlite-checkpoint-worker.mjs, its own connection to the file) to checkpoint
// instead. A PASSIVE checkpoint never blocks the writer; SQLite's WAL protocol keeps every commit
// durable and readable whichever connection copies it. The WAL only starts over (instead of
// growing: 80 MB in a test of sustained writes) when a write begins with every frame copied: the
// worker checkpoints again what was committed during its last pass until a pass finds nothing
// new; if the writer did not pause that long, the worker tries again a few commits later, and
// only a WAL past WAL_FRAMES_MAX (a writer that never pauses) has the store's connection copy the
// frames left itself (a short checkpoint: the worker did the bulk and its fsync).
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { logger } from '../log.ts';

const log = logger('nva-store');

/** Ask for a checkpoint after this many commits (SQLite's default is every 1,000 WAL pages). */
export const CHECKPOINT_EVERY_COMMITS = 200;
/** The worker could not catch up with the writer: it tries again after this many commits ... */
const RETRY_AFTER_COMMITS = 10;
/** ... until the WAL has this many frames (4 KB each): then the writer's connection finishes. */
export const WAL_FRAMES_MAX = 4_000;

interface Reply {
  ok: boolean;
  /** Every frame of the WAL was in the database file at the end (the next write restarts it). */
  caughtUp?: boolean;
  /** Frames in the WAL at its last pass. */
  frames?: number;
  error?: string;
}

export class WalCheckpointer {
  private worker: Worker | undefined;
  /** The worker could not start or failed: checkpoint on the writer's connection. */
  private failed = false;
  private running = false;
  private commits = 0;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly db: Database.Database,
    private readonly path: string,
    private readonly everyCommits = CHECKPOINT_EVERY_COMMITS,
  ) {
    // The store's connection never checkpoints on its own while this runs.
    db.pragma('wal_autocheckpoint = 0');
  }

  /** A transaction was committed by the store's connection. */
  committed(): void {
    this.commits += 1;
    if (this.commits < this.everyCommits || this.running || this.closing) return;
    this.commits = 0;
    if (this.failed) return this.checkpointHere();
    this.running = true;
    this.spawn().postMessage('checkpoint');
  }

  /** Stop the worker (its checkpoint in progress completes first). */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      const w = this.worker;
      if (!w) return resolve();
      w.ref(); // the store's close() waits for it
      w.once('exit', () => resolve());
      w.postMessage('close');
    });
    return this.closing;
  }

  private spawn(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(new URL('./sqlite-checkpoint-worker.mjs', import.meta.url), {
      workerData: { path: this.path },
    });
    w.unref(); // never what keeps the NVA alive
    w.on('message', (m: Reply) => {
      this.running = false;
      if (!m.ok) {
        log.warn({ error: m.error }, 'WAL checkpoint failed in its worker');
        return;
      }
      if (m.caughtUp || this.closing) return;
      // Frames were committed during each pass: again soon, or here if the WAL grows too long.
      if ((m.frames ?? 0) > WAL_FRAMES_MAX) this.checkpointHere();
      else this.commits = Math.max(this.commits, this.everyCommits - RETRY_AFTER_COMMITS);
    });
    w.on('error', (err) => {
      log.warn({ err }, 'WAL checkpoint worker failed: checkpointing on the store connection');
      this.failed = true;
      this.running = false;
    });
    w.on('exit', () => {
      if (this.worker === w) this.worker = undefined;
    });
    this.worker = w;
    return w;
  }

  private checkpointHere(): void {
    try {
      this.db.pragma('wal_checkpoint(PASSIVE)');
    } catch (err) {
      log.warn({ err }, 'WAL checkpoint failed');
    }
  }
}
