// Group commit for the etcd store: entry updates prepared in the same event-loop turn (or while
// earlier transactions are in flight) go to etcd as one transaction, all compares ANDed. One
// transaction costs the NVA one gRPC round trip and etcd one raft entry and fsync, whatever it
// carries, so under load this multiplies the registrations per second. Updates that read a key
// another one in the group also reads go to a separate transaction (etcd refuses a key written
// twice in one transaction, and one would make the other's compare fail anyway). A failed
// compare fails the whole transaction: every update in it retries on its own fresh reads.
import type { ICompare, IRequestOp } from 'etcd3';

/** etcd's default --max-txn-ops: neither compares nor operations may exceed it. */
export const MAX_TXN_OPS = 128;
/** Transactions in flight at once; more updates wait and join the next ones. */
const MAX_IN_FLIGHT = 2;

/** One update, ready to commit: what it read (compares) and what it writes. */
export interface PreparedWrite<C> {
  compare: ICompare[];
  ops: IRequestOp[];
  /** Extra operations shared by a group (e.g. the log key of each VNI) cost this many. */
  sharedKey: string;
  change: C;
}

/** Commits one group; resolves with the etcd revision, or undefined when a compare failed. */
export type CommitGroup<C> = (group: PreparedWrite<C>[]) => Promise<number | undefined>;

interface Pending<C> {
  write: PreparedWrite<C>;
  keys: Set<string>;
  resolve: (r: { revision: number; index: number } | undefined) => void;
  reject: (err: unknown) => void;
}

export class TxnBatcher<C> {
  private queue: Pending<C>[] = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(private readonly commit: CommitGroup<C>) {}

  /**
   * Queue a write. Resolves with the etcd revision of its transaction and its index in the
   * group, or undefined when the transaction's compares failed (read again, retry).
   */
  submit(write: PreparedWrite<C>): Promise<{ revision: number; index: number } | undefined> {
    if (write.compare.length > MAX_TXN_OPS || write.ops.length + 1 > MAX_TXN_OPS) {
      return Promise.reject(new Error('an update touches too many keys for one etcd transaction'));
    }
    return new Promise((resolve, reject) => {
      const keys = new Set(write.compare.map((c) => c.key!.toString()));
      this.queue.push({ write, keys, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= MAX_IN_FLIGHT || this.queue.length === 0) return;
    this.scheduled = true;
    // Let every update prepared in this turn join the group.
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.inFlight < MAX_IN_FLIGHT && this.queue.length > 0) {
      const group = this.takeGroup();
      this.inFlight++;
      this.run(group).finally(() => {
        this.inFlight--;
        this.schedule();
      });
    }
  }

  /** Take the largest prefix-compatible group from the queue (first fit, order kept). */
  private takeGroup(): Pending<C>[] {
    const group: Pending<C>[] = [];
    const keys = new Set<string>();
    const shared = new Set<string>();
    let compares = 0;
    let ops = 0;
    const rest: Pending<C>[] = [];
    for (const p of this.queue) {
      const extraShared = shared.has(p.write.sharedKey) ? 0 : 1;
      const fits =
        compares + p.write.compare.length <= MAX_TXN_OPS &&
        ops + p.write.ops.length + shared.size + extraShared <= MAX_TXN_OPS &&
        ![...p.keys].some((k) => keys.has(k));
      if (!fits) {
        rest.push(p);
        continue;
      }
      group.push(p);
      for (const k of p.keys) keys.add(k);
      shared.add(p.write.sharedKey);
      compares += p.write.compare.length;
      ops += p.write.ops.length;
    }
    this.queue = rest;
    return group;
  }

  private async run(group: Pending<C>[]): Promise<void> {
    try {
      const revision = await this.commit(group.map((p) => p.write));
      group.forEach((p, index) =>
        p.resolve(revision === undefined ? undefined : { revision, index }),
      );
    } catch (err) {
      for (const p of group) p.reject(err);
    }
  }
}
