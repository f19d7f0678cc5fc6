// Child process of bench-nva.ts: hosts a share of the simulated NVEs, each a real roam.v1 stream
// client (NvaClient) that acks every snapshot and change as soon as it arrives. The parent drives
// it over IPC: connect, register the VMs' first locations, then issue moves as fast as the NVA
// accepts them (each NVE one after the other, all NVEs at once).
import { NvaClient } from '../src/protocol/client.ts';

export type ToNves =
  | { cmd: 'connect'; address: string; vni: number; nves: { id: string; addr: string }[] }
  | { cmd: 'register'; regs: { nve: string; mac: string; ip: string }[] }
  | { cmd: 'close' };

export type FromNves =
  | { ok: 'connected' }
  | { ok: 'registered'; accepted: number; rejected: number; firstSentAt: number; lastAt: number }
  | { error: string };

/** Wall clock with sub-millisecond resolution, comparable across processes. */
const now = () => performance.timeOrigin + performance.now();

const clients = new Map<string, NvaClient>();
let vni = 0;

function send(m: FromNves): void {
  process.send!(m);
}

async function connect(m: Extract<ToNves, { cmd: 'connect' }>): Promise<void> {
  vni = m.vni;
  for (const n of m.nves) {
    const c = new NvaClient({
      address: m.address,
      nveId: n.id,
      underlayAddr: n.addr,
      vnis: [vni],
      autoAck: true,
      initialBackoffMs: 50,
      maxBackoffMs: 1_000,
    });
    clients.set(n.id, c);
    c.start();
  }
  await Promise.all([...clients.values()].map((c) => c.ready()));
  send({ ok: 'connected' });
}

async function register(m: Extract<ToNves, { cmd: 'register' }>): Promise<void> {
  // Per NVE, one registration after the other; NVEs in parallel.
  const byNve = new Map<string, { mac: string; ip: string }[]>();
  for (const r of m.regs) {
    const list = byNve.get(r.nve) ?? [];
    list.push(r);
    byNve.set(r.nve, list);
  }
  let accepted = 0;
  let rejected = 0;
  const firstSentAt = now();
  await Promise.all(
    [...byNve].map(async ([nve, regs]) => {
      const c = clients.get(nve);
      if (!c) throw new Error(`no NVE ${nve} in this process`);
      for (const r of regs) {
        try {
          await c.register({ vni, mac: r.mac, ips: [r.ip] });
          accepted++;
        } catch {
          rejected++;
        }
      }
    }),
  );
  send({ ok: 'registered', accepted, rejected, firstSentAt, lastAt: now() });
}

process.on('message', (m: ToNves) => {
  const run = async () => {
    if (m.cmd === 'connect') await connect(m);
    else if (m.cmd === 'register') await register(m);
    else {
      for (const c of clients.values()) c.close();
      process.exit(0);
    }
  };
  run().catch((err: unknown) => send({ error: String(err) }));
});
