// A replica's in-memory mirror of its directory prefix in etcd, fed by one watch (the informer
// pattern of Kubernetes clients). Reads on the registration path (VN config, provisions, hints,
// entries, the IP-owner index, memberships) come from here instead of costing an etcd round trip
// each; writes stay compare-and-swap transactions in etcd, so a stale mirror only costs a retry.
// The watch is our own gRPC stream, resumed from the last revision applied after any error, so no
// event is skipped when an etcd member dies.
import type { Etcd3, IKeyValue, IWatchResponse } from 'etcd3';
import type { Logger } from '../log.ts';
import { prefixEnd } from './store-etcd-keys.ts';

/** First pause before re-opening a broken watch, doubled up to the maximum. */
const RESUME_BACKOFF_MIN_MS = 50;
const RESUME_BACKOFF_MAX_MS = 2_000;

/** One mirrored key: its value and the revision that last wrote it (for compare-and-swap). */
export interface MirroredKey {
  readonly modRevision: string;
  readonly value: Buffer;
}

export interface MirrorOptions {
  client: Etcd3;
  /** The whole directory prefix. */
  prefix: Buffer;
  /** Sub-prefixes kept in memory; events for other keys are only passed to onEvent. */
  mirrored: Buffer[];
  log: Logger;
  /** Called for every put event in revision order (after the mirror applied it). */
  onPut: (kv: IKeyValue) => void;
  /** Called once all events of a revision are applied. */
  onRevision: (revision: number) => void;
}

/** Key -> value, grouped by "directory" (the key up to its last "/") for cheap prefix listing. */
export class EtcdMirror {
  private groups = new Map<string, Map<string, MirroredKey>>();
  private readonly mirrored: string[];
  /** Every event up to this revision is applied. */
  private applied = 0;
  private stream: Awaited<ReturnType<Etcd3['watchClient']['watch']>> | undefined;
  private stopped = false;
  private backoffMs = RESUME_BACKOFF_MIN_MS;
  private resumeTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: MirrorOptions) {
    this.mirrored = opts.mirrored.map((p) => p.toString());
  }

  /** Revision the mirror reflects. */
  get revision(): number {
    return this.applied;
  }

  /** Load every mirrored prefix at one revision, then follow the watch from there. */
  async start(): Promise<void> {
    const { client } = this.opts;
    const groups = new Map<string, Map<string, MirroredKey>>();
    const first = await client.kv.range({
      key: this.opts.prefix,
      range_end: prefixEnd(this.opts.prefix),
      count_only: true,
    });
    const at = Number(first.header.revision);
    const loads = await Promise.all(
      this.opts.mirrored.map((p) =>
        client.kv.range({ key: p, range_end: prefixEnd(p), revision: at }),
      ),
    );
    // Swapped in whole, so a reload never shows readers a half-empty mirror.
    for (const res of loads) for (const kv of res.kvs) this.set(kv, groups);
    this.groups = groups;
    this.applied = at;
    await this.openWatch();
  }

  get(key: Buffer | string): MirroredKey | undefined {
    const k = key.toString();
    return this.groups.get(groupOf(k))?.get(k);
  }

  /** Values of keys directly under `group` (a prefix ending in "/"). */
  list(group: Buffer | string): MirroredKey[] {
    const g = this.groups.get(group.toString());
    return g ? [...g.values()] : [];
  }

  /** Values of every key under `prefix`, however deep. */
  listDeep(prefix: Buffer | string): MirroredKey[] {
    const p = prefix.toString();
    const out: [string, MirroredKey][] = [];
    for (const [g, m] of this.groups) if (g.startsWith(p)) out.push(...m.entries());
    // In key order, as an etcd range would list them.
    return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, v]) => v);
  }

  stop(): void {
    this.stopped = true;
    if (this.resumeTimer) clearTimeout(this.resumeTimer);
    this.closeStream();
  }

  private set(kv: IKeyValue, groups = this.groups): void {
    const k = kv.key.toString();
    if (!this.mirrored.some((p) => k.startsWith(p))) return;
    const g = groupOf(k);
    let m = groups.get(g);
    if (!m) groups.set(g, (m = new Map()));
    m.set(k, { modRevision: kv.mod_revision, value: kv.value });
  }

  private delete(key: Buffer): void {
    const k = key.toString();
    const g = groupOf(k);
    const m = this.groups.get(g);
    if (!m) return;
    m.delete(k);
    if (m.size === 0) this.groups.delete(g);
  }

  private async openWatch(): Promise<void> {
    if (this.stopped) return;
    const stream = await this.opts.client.watchClient.watch();
    if (this.stopped) {
      stream.end();
      stream.cancel();
      return;
    }
    this.stream = stream;
    // Events of a stream we already replaced are ignored (it may still report its cancel).
    stream.on('data', (res: IWatchResponse) => {
      if (this.stream === stream) this.onResponse(res);
    });
    stream.on('error', (err: Error) => {
      if (this.stream === stream) this.resume(`watch error: ${err.message}`);
    });
    stream.on('end', () => {
      if (this.stream === stream) this.resume('watch ended');
    });
    // From the first mirrored sub-prefix to the end of the directory: keys that sort before it
    // (acks, convergence records) would only cost decoding.
    const key = Buffer.from([...this.mirrored].sort()[0]!);
    stream.write({
      create_request: {
        key,
        range_end: prefixEnd(this.opts.prefix),
        start_revision: this.applied + 1,
      },
    });
  }

  private onResponse(res: IWatchResponse): void {
    if (res.canceled) {
      if (Number(res.compact_revision) > 0) {
        // History we had not read yet was compacted away: nothing can replay it.
        this.opts.log.error(
          { applied: this.applied, compacted: res.compact_revision },
          'mirror watch fell behind a compaction: reloading; subscribers may have missed changes',
        );
        this.reload().catch((err: unknown) => this.resume(`reload failed: ${String(err)}`));
        return;
      }
      this.resume(`watch cancelled: ${res.cancel_reason}`);
      return;
    }
    this.backoffMs = RESUME_BACKOFF_MIN_MS;
    let current = this.applied;
    for (const ev of res.events) {
      const rev = Number(ev.kv.mod_revision);
      if (rev <= this.applied) continue; // replayed after a resume
      if (rev > current && current > this.applied) this.complete(current);
      current = Math.max(current, rev);
      if (ev.type === 'Put') {
        this.set(ev.kv);
        this.opts.onPut(ev.kv);
      } else {
        this.delete(ev.kv.key);
      }
    }
    // A watch response carries whole revisions, so its last one is complete too.
    if (current > this.applied) this.complete(current);
  }

  private complete(revision: number): void {
    this.applied = revision;
    this.opts.onRevision(revision);
  }

  /** Re-open the watch after a pause, from the first revision not applied. */
  private resume(why: string): void {
    if (this.stopped || this.resumeTimer) return;
    this.closeStream();
    this.opts.log.warn({ why, from: this.applied + 1 }, 'mirror watch broken: resuming');
    this.resumeTimer = setTimeout(() => {
      this.resumeTimer = undefined;
      this.openWatch().catch((err: unknown) => this.resume(`re-open failed: ${String(err)}`));
    }, this.backoffMs);
    this.backoffMs = Math.min(this.backoffMs * 2, RESUME_BACKOFF_MAX_MS);
  }

  private async reload(): Promise<void> {
    this.closeStream();
    await this.start();
  }

  private closeStream(): void {
    const s = this.stream;
    this.stream = undefined;
    if (!s) return;
    s.end(); // half-close first, so the cancel is not counted as a host failure
    s.cancel();
  }
}

function groupOf(key: string): string {
  return key.slice(0, key.lastIndexOf('/') + 1);
}
