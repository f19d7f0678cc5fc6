// A scripted NVA for the control-loop unit tests: records what the agent sends, and lets a test
// push snapshots, changes and hints, or drop the connection.
import type {
  Change,
  DirEntry,
  Member,
  MoveHint,
  NvaHandlers,
  NvaPort,
  NvaResult,
  Registration,
  Snapshot,
} from '../../../src/nve/nva-port.ts';

export class FakeNva implements NvaPort {
  handlers?: NvaHandlers;
  registrations: Registration[] = [];
  withdrawals: Array<{ vni: number; mac: string }> = [];
  acks: Array<{ revision: number; digests: Array<{ vni: number; digest: string }> }> = [];
  up = false;
  /** How the next registrations are answered (default: accepted with the seq sent). */
  answer: (r: Registration) => NvaResult = (r) => ({
    ok: true,
    seq: r.seq,
    revision: 0,
    outcome: 'new',
  });
  private revision = 0;

  start(h: NvaHandlers): void {
    this.handlers = h;
  }

  connect(): void {
    this.up = true;
    this.handlers!.connected();
  }

  disconnect(): void {
    this.up = false;
    this.handlers!.disconnected('test');
  }

  register(r: Registration): Promise<NvaResult> {
    if (!this.up) return Promise.reject(new Error('not connected'));
    this.registrations.push(r);
    return Promise.resolve(this.answer(r));
  }

  withdraw(k: { vni: number; mac: string }): Promise<NvaResult> {
    if (!this.up) return Promise.reject(new Error('not connected'));
    this.withdrawals.push(k);
    return Promise.resolve({ ok: true, seq: 0, revision: 0, outcome: 'withdrawn' });
  }

  ack(revision: number, digests: Array<{ vni: number; digest: string }>): void {
    this.acks.push({ revision, digests });
  }

  stop(): void {
    this.up = false;
  }

  snapshot(entries: DirEntry[], members: Member[] = [], vnis = [100]): number {
    const s: Snapshot = { revision: ++this.revision, vnis, entries, members };
    this.handlers!.snapshot(s);
    return s.revision;
  }

  change(
    upserts: DirEntry[],
    deletes: Array<{ vni: number; mac: string }> = [],
    vni = 100,
  ): number {
    const c: Change = {
      revision: ++this.revision,
      vni,
      upserts,
      deletes,
      membersUpserted: [],
      membersRemoved: [],
    };
    this.handlers!.change(c);
    return c.revision;
  }

  hint(h: MoveHint): void {
    this.handlers!.moveHint(h);
  }
}

export const NVE1 = { id: 'nve1', addr: '192.0.2.1' };
export const NVE2 = { id: 'nve2', addr: '192.0.2.2' };
export const NVE3 = { id: 'nve3', addr: '192.0.2.3' };

export function dirEntry(
  mac: string,
  at: { id: string; addr: string },
  opts: {
    ips?: string[];
    seq?: number;
    vni?: number;
    state?: DirEntry['state'];
    changedAtMs?: number;
  } = {},
): DirEntry {
  const seq = opts.seq ?? 1;
  return {
    vni: opts.vni ?? 100,
    mac,
    ips: (opts.ips ?? []).map((ip) => ({ ip, seq })),
    nveId: at.id,
    nveAddr: at.addr,
    seq,
    state: opts.state ?? 'active',
    changedAtMs: opts.changedAtMs,
  };
}

import { pino } from 'pino';
import { ControlLoop, type LoopObserver } from '../../../src/nve/control-loop.ts';
import { memoryTables, type AgentTables } from '../../../src/nve/tables.ts';
import type { TsiConfig } from '../../../src/nve/config.ts';
import type { MoveEvent } from '../../../src/nve/moves.ts';

export const HOLD_MS = 30_000;
export const VM_B = { mac: '52:54:00:00:00:0b', ip: '10.0.0.11' };
export const TSI_B: TsiConfig = { interface: 'tap-b', vni: 100, mac: VM_B.mac, ips: [VM_B.ip] };

/** A control loop at `me` over in-memory tables (or others) and a fake NVA. */
export function makeLoop<T extends AgentTables = ReturnType<typeof memoryTables>>(
  me = NVE1,
  tables: T = memoryTables() as unknown as T,
  observer: Partial<LoopObserver> = {},
) {
  const nva = new FakeNva();
  const moves: MoveEvent[] = [];
  const loop = new ControlLoop({
    nveId: me.id,
    underlayAddr: me.addr,
    holdTimeMs: HOLD_MS,
    tables,
    nva,
    log: pino({ level: 'silent' }),
    observer: { move: (m) => moves.push(m), ...observer },
  });
  const fdb = (mac: string, vni = 100) => tables.fdb.get({ vni, mac });
  const neigh = (ip: string, vni = 100) => tables.neigh.get({ vni, ip })?.mac;
  return { loop, nva, tables, fdb, neigh, moves };
}
