// Child process of bench-nva.ts: hosts a share of the simulated NVEs, each a real roam.v1 stream
// client (NvaClient) that acks every snapshot and change as soon as it arrives. The parent drives
// it over IPC: connect, register the VMs' first locations, then issue moves as fast as the NVA
// accepts them (a window of registrations in flight, the next one sent as one is accepted).
import { NvaClient } from '../src/protocol/client.ts';
import { startProfile, stopProfile } from './bench-nva-profile.ts';

export type ToNves =
  | { cmd: 'connect'; address: string; vni: number; nves: { id: string; addr: string }[] }
  | {
      cmd: 'register';
      regs: { nve: string; mac: string; ip: string }[];
      /** Registrations in flight at once (each sent as soon as one is accepted). */
      window: number;
    }
  | { cmd: 'cpu' }
  /** With BENCH_NVA_PROFILE_DIR: start, or stop and write `<name>.cpuprofile`. */
  | { cmd: 'profile'; start: boolean; name?: string }
  | { cmd: 'close' };

export type FromNves =
  | { ok: 'connected' }
  | { ok: 'registered'; accepted: number; rejected: number; firstSentAt: number; lastAt: number }
  /** CPU time (user + system) this process used since the last `cpu` request. */
  | { ok: 'cpu'; cpuMs: number }
  | { ok: 'profile' }
  | { error: string };

/** Wall clock with sub-millisecond resolution, comparable across processes. */
const now = () => performance.timeOrigin + performance.now();

const clients = new Map<string, NvaClient>();
let vni = 0;
let cpuMark = process.cpuUsage();

/** CPU used since the previous call, in ms. */
function cpuSinceMark(): number {
  const d = process.cpuUsage(cpuMark);
  cpuMark = process.cpuUsage();
  return (d.user + d.system) / 1000;
}

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
  // `window` senders take the next registration as soon as their last one is accepted.
  let next = 0;
  let accepted = 0;
  let rejected = 0;
  const firstSentAt = now();
  const sender = async () => {
    for (let r = m.regs[next++]; r !== undefined; r = m.regs[next++]) {
      const c = clients.get(r.nve);
      if (!c) throw new Error(`no NVE ${r.nve} in this process`);
      try {
        await c.register({ vni, mac: r.mac, ips: [r.ip] });
        accepted++;
      } catch {
        rejected++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, m.window) }, sender));
  send({ ok: 'registered', accepted, rejected, firstSentAt, lastAt: now() });
}

process.on('message', (m: ToNves) => {
  const run = async () => {
    if (m.cmd === 'connect') await connect(m);
    else if (m.cmd === 'register') await register(m);
    else if (m.cmd === 'cpu') send({ ok: 'cpu', cpuMs: cpuSinceMark() });
    else if (m.cmd === 'profile') {
      await (m.start ? startProfile() : stopProfile(m.name ?? 'nves'));
      send({ ok: 'profile' });
    } else {
      for (const c of clients.values()) c.close();
      process.exit(0);
    }
  };
  run().catch((err: unknown) => send({ error: String(err) }));
});
