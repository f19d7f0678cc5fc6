// What the lab's thread and the FDB watcher thread (fdb-watch-worker.ts) say to each other.

/** Control words (Int32 of workerData): the state, and the id of the watch it is about. */
export const CONTROL_STATE = 0;
export const CONTROL_ID = 1;
export const WATCH_IDLE = 0;
export const WATCH_RUN = 1;

/** One watch: posted, then its id and WATCH_RUN set in the control words; WATCH_IDLE ends it. */
export interface FdbWatchJob {
  id: number;
  /** Pinned fdb map of each watched NVE, by NVE index. */
  maps: Array<{ nve: number; path: string }>;
  /** The encoded fdb key watched. */
  key: Uint8Array;
  /** Poll period (ms, fractions allowed). */
  intervalMs: number;
}

/** One observed state of the key in one NVE's map: the value's bytes, or null when absent. */
export interface FdbWatchRecord {
  nve: number;
  atMs: number;
  value: Uint8Array | null;
}

/** What the worker posts: ready once loaded; per watch, started, records, then ended. */
export type FdbWatchMessage =
  | { type: 'ready' }
  | { type: 'started'; id: number }
  | { type: 'record'; id: number; record: FdbWatchRecord }
  | { type: 'ended'; id: number; error?: string };
