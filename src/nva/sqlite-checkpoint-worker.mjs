// Worker thread of sqlite-checkpointer.ts: checkpoints the NVA's WAL into its database file with
// a connection of its own, so the page copies and the database's fsync never stall the event loop
// that serves NVEs. Plain JavaScript: it needs nothing of roam's TypeScript (no loader to start).
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const db = new Database(workerData.path);
// As the store's connection: the checkpoint syncs the WAL, then the database file.
db.pragma('synchronous = NORMAL');

/** Checkpoint passes at most per request (then the store's connection copies the rest). */
const MAX_PASSES = 4;

parentPort.on('message', (m) => {
  if (m === 'close') {
    db.close();
    parentPort.close();
    return;
  }
  try {
    // PASSIVE: copies what no reader still needs, never waits for (nor blocks) the writer. Again
    // for what was committed meanwhile (short passes), until a pass finds nothing new: then the
    // store's next write starts the WAL over.
    let frames = -1;
    let caughtUp = false;
    for (let pass = 0; pass < MAX_PASSES && !caughtUp; pass++) {
      const [row] = db.pragma('wal_checkpoint(PASSIVE)');
      caughtUp = row.log === row.checkpointed && row.log === frames;
      frames = row.log;
    }
    parentPort.postMessage({ ok: true, caughtUp, frames });
  } catch (err) {
    parentPort.postMessage({ ok: false, error: String(err) });
  }
});
