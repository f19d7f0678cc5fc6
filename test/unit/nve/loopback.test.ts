// Three control loops (over in-memory tables) and a real NVA on 127.0.0.1: a VM registers at
// NVE a, moves to NVE c (cold: TSI gone, then a RARP at c), and every NVE follows, with the
// digests each NVE acks equal to the NVA's (no mismatch reported).
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { ControlLoop } from '../../../src/nve/control-loop.ts';
import { NvaClientPort } from '../../../src/nve/nva-adapter.ts';
import { memoryTables } from '../../../src/nve/tables.ts';
import type { DigestMismatch } from '../../../src/nve/nva-port.ts';
import type { MoveEvent } from '../../../src/nve/moves.ts';
import { startNva, tokenOf, until, type Nva } from '../nva/harness.ts';
import { TSI_B, VM_B } from './fake-nva.ts';

const VNI = 100;
const HOLD_MS = 300;
let nva: Nva | undefined;
const loops: ControlLoop[] = [];

afterEach(async () => {
  for (const l of loops.splice(0)) l.stop();
  await nva?.close();
  nva = undefined;
});

function nve(id: string, addr: string) {
  const tables = memoryTables();
  const mismatches: DigestMismatch[] = [];
  const moves: MoveEvent[] = [];
  const loop = new ControlLoop({
    nveId: id,
    underlayAddr: addr,
    holdTimeMs: HOLD_MS,
    tables,
    nva: new NvaClientPort({
      address: nva!.address,
      nveId: id,
      underlayAddr: addr,
      vnis: [VNI],
      token: tokenOf(id),
      initialBackoffMs: 20,
      maxBackoffMs: 200,
    }),
    log: pino({ level: process.env.ROAM_TEST_LOG ?? 'silent' }),
    observer: { digestMismatch: (m) => mismatches.push(m), move: (m) => moves.push(m) },
  });
  loops.push(loop);
  const fdb = () => tables.fdb.get({ vni: VNI, mac: VM_B.mac });
  return { loop, tables, fdb, mismatches, moves };
}

describe('control loops against a real NVA on loopback', () => {
  it('register, follow a cold move, converge with matching digests', async () => {
    nva = await startNva({ nves: ['a', 'b', 'c'] });
    await nva.admin.configureVn({ vni: VNI, learning: 'provisioned', routed: false });
    await nva.admin.provision({ vni: VNI, mac: VM_B.mac, ips: [VM_B.ip] });
    const a = nve('a', '192.0.2.1');
    const b = nve('b', '192.0.2.2');
    const c = nve('c', '192.0.2.3');
    a.loop.tsiUp({ name: 'tap-b', ifindex: 7, config: TSI_B });
    for (const n of [a, b, c]) n.loop.start();
    await until('all connected', () => [a, b, c].every((n) => n.loop.isConnected));

    expect(a.loop.event({ kind: 'garp', ifindex: 7, vni: VNI, mac: VM_B.mac, ip: VM_B.ip })).toBe(
      'installed',
    );
    await until(
      'b and c learn B at a',
      () => b.fdb()?.kind === 'remote' && c.fdb()?.kind === 'remote',
    );
    expect(b.fdb()).toEqual({ kind: 'remote', vtep: '192.0.2.1', rarp: VM_B.ip });
    expect(b.tables.neigh.get({ vni: VNI, ip: VM_B.ip })).toEqual({ mac: VM_B.mac });
    expect(b.tables.flood.get(VNI)).toEqual({ local: [], remote: ['192.0.2.1', '192.0.2.3'] });

    // Cold move: B's TSI goes at a, appears at c, B sends its RARPs there.
    a.loop.tsiDown(7);
    c.loop.tsiUp({ name: 'tap-b', ifindex: 21, config: TSI_B });
    await until('a withdrew B', async () => {
      const e = (await nva!.admin.showEntry(VNI, VM_B.mac)).detail.entry;
      return e.state === 'ENTRY_STATE_WITHDRAWN' || (e.state as string) === 'withdrawn';
    });
    expect(c.loop.event({ kind: 'rarp', ifindex: 21, vni: VNI, mac: VM_B.mac })).toBe('installed');
    expect(c.fdb()).toEqual({ kind: 'local', ifindex: 21, rarp: VM_B.ip });
    await until(
      'b follows B to c',
      () => b.fdb()?.kind === 'remote' && (b.fdb() as { vtep: string }).vtep === '192.0.2.3',
    );
    await until('a re-tunnels to c', () => a.fdb()?.kind === 'moved');
    expect(a.fdb()).toMatchObject({ kind: 'moved', vtep: '192.0.2.3' });
    const e = (await nva.admin.showEntry(VNI, VM_B.mac)).detail.entry;
    expect(e.nveId).toBe('c');
    expect(Number(e.seq)).toBe(2);
    expect(b.moves.at(-1)).toMatchObject({ fromNve: 'a', toNve: 'c', role: 'peer', cold: true });
    expect(a.moves.at(-1)).toMatchObject({ fromNve: 'a', toNve: 'c', role: 'source', cold: true });
    // The hold time ends at a: the plain remote entry remains.
    await until('a hold time over', () => a.fdb()?.kind === 'remote', 2_000);
    // Let the last acks reach the NVA: no NVE was found to differ from the directory.
    await new Promise((r) => setTimeout(r, 100));
    expect([...a.mismatches, ...b.mismatches, ...c.mismatches]).toEqual([]);
  });
});
