// tsx scripts/bench-transport.ts [--nves 100] [--rounds 2000] [--modes a,b] [--json FILE]
// What one NVE-NVA message costs in the transport alone, without roam's protocol code: is a
// cheaper transport than grpc-js what bench:nva's fan-out needs? A server and N clients (in two
// child processes, as bench:nva's simulated NVEs) on loopback; each round the server writes a
// 60-byte message to every client (a Change) and each client answers with 16 bytes (an Ack); the
// next round starts when all answers are in (a move at window 1). Payloads are opaque bytes: no
// protobuf, no validation.
// Transports (--modes picks; all by default):
//   grpc-shared  grpc-js bidi streams, the clients of a process sharing one HTTP/2 connection
//                (grpc-js shares a channel's connection per target)
//   grpc-own     grpc-js, one connection per client (NVEs on their own hosts)
//   roam         roam's own gRPC transport on node:http2 (src/nva/h2-grpc-server.ts and
//                src/protocol/h2-stream-call.ts, what the NVA and NVEs use since 2026-12-06), the
//                clients of a process sharing a connection (as bench:nva's NVEs do)
//   h2-own       node:http2 with gRPC framing and nothing else, one connection per client (what
//                roam's transport costs at most per NVE on its own host)
//   tcp          one TCP socket per client, 4-byte length prefix (the leanest framing Node has)
// Prints CPU per message pair (server: one write + one read) for the server and the clients.
import { fork } from 'node:child_process';
import http2 from 'node:http2';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { writeBenchJson } from '../src/lab/bench-json.ts';
import { H2GrpcServer, type ServerStreamCall } from '../src/nva/h2-grpc-server.ts';
import { frameMessage, MessageDeframer } from '../src/protocol/grpc-framing.ts';
import { H2StreamCall } from '../src/protocol/h2-stream-call.ts';

const MODES = ['grpc-shared', 'grpc-own', 'roam', 'h2-own', 'tcp'] as const;
type Mode = (typeof MODES)[number];
const PROCS = 2;
const CHANGE = Buffer.alloc(60, 1);
const ACK = Buffer.alloc(16, 7);

const raw = (b: Buffer) => b;
const SERVICE: grpc.ServiceDefinition = {
  Stream: {
    path: '/roam.bench.Transport/Stream',
    requestStream: true,
    responseStream: true,
    requestSerialize: raw,
    requestDeserialize: raw,
    responseSerialize: raw,
    responseDeserialize: raw,
  },
};

function frame(b: Buffer): Buffer {
  const f = Buffer.allocUnsafe(4 + b.length);
  f.writeUInt32BE(b.length, 0);
  b.copy(f, 4);
  return f;
}

/** Length-prefixed messages out of a byte stream. */
function deframer(onMessage: (m: Buffer) => void): (chunk: Buffer) => void {
  let buf: Buffer = Buffer.alloc(0);
  return (chunk) => {
    buf = buf.length > 0 ? Buffer.concat([buf, chunk]) : chunk;
    let at = 0;
    while (buf.length - at >= 4) {
      const len = buf.readUInt32BE(at);
      if (buf.length - at - 4 < len) break;
      onMessage(buf.subarray(at + 4, at + 4 + len));
      at += 4 + len;
    }
    buf = buf.subarray(at);
  };
}

const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;

/** Child: `count` clients that answer every message with an ACK. */
function runClients(mode: Mode, port: number, count: number): void {
  const Client = grpc.makeGenericClientConstructor(SERVICE, 'Transport');
  for (let i = 0; i < count; i++) {
    if (mode === 'roam') {
      const call = new H2StreamCall<Buffer, Buffer>(
        { address: `127.0.0.1:${port}` },
        { path: SERVICE.Stream!.path, serialize: raw, deserialize: raw, maxReceiveBytes: 1 << 20 },
      );
      call.write(Buffer.from('hello'));
      call.on('data', () => call.write(ACK));
      call.on('error', () => undefined); // killed at the end of the row
    } else if (mode === 'h2-own') {
      const session = http2.connect(`http://127.0.0.1:${port}`);
      const st = session.request({
        ':method': 'POST',
        ':path': SERVICE.Stream!.path,
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      const ack = frameMessage(ACK);
      st.write(frameMessage(Buffer.from('hello')));
      const deframer = new MessageDeframer(
        1 << 20,
        () => st.write(ack),
        () => undefined,
      );
      st.on('data', (chunk: Buffer) => deframer.push(chunk));
    } else if (mode === 'tcp') {
      const s = net.connect(port, '127.0.0.1');
      s.setNoDelay(true);
      const ack = frame(ACK);
      s.write(frame(Buffer.from('hello')));
      s.on(
        'data',
        deframer(() => s.write(ack)),
      );
    } else {
      const options = mode === 'grpc-own' ? { 'grpc.use_local_subchannel_pool': 1 } : {};
      const c = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), options);
      const s = (c as unknown as { Stream(): grpc.ClientDuplexStream<Buffer, Buffer> }).Stream();
      s.write(Buffer.from('hello'));
      s.on('data', () => s.write(ACK));
    }
  }
  process.on('message', () => process.send!(cpuMs(process.cpuUsage())));
}

interface Row {
  transport: Mode;
  nves: number;
  rounds: number;
  wall_ms_per_round: number;
  server_cpu_us_per_msg_pair: number;
  clients_cpu_us_per_msg_pair: number;
}

async function measure(mode: Mode, nves: number, rounds: number): Promise<Row> {
  const streams: { write(b: Buffer): unknown }[] = [];
  let ready: () => void = () => {};
  const allConnected = new Promise<void>((r) => (ready = r));
  let onAck: () => void = () => {};
  const connected = (s: { write(b: Buffer): unknown }) => {
    streams.push(s);
    if (streams.length === nves) ready();
  };
  let port: number;
  let close: () => void;
  if (mode === 'roam') {
    const srv = new H2GrpcServer({ maxReceiveBytes: 1 << 20, maxSendBytes: 1 << 20 });
    srv.addService(SERVICE, {
      Stream: (call: ServerStreamCall) => {
        let first = true;
        call.on('data', () => {
          if (first) connected(call);
          else onAck();
          first = false;
        });
      },
    });
    port = await srv.listen('127.0.0.1:0');
    close = () => srv.forceShutdown();
  } else if (mode === 'h2-own') {
    const srv = http2.createServer();
    srv.on('stream', (st) => {
      st.respond({ ':status': 200, 'content-type': 'application/grpc' });
      let first = true;
      const deframer = new MessageDeframer(
        1 << 20,
        () => {
          if (first) connected(st);
          else onAck();
          first = false;
        },
        () => undefined,
      );
      st.on('data', (chunk: Buffer) => deframer.push(chunk));
    });
    port = await new Promise<number>((r) =>
      srv.listen(0, '127.0.0.1', () => r((srv.address() as net.AddressInfo).port)),
    );
    close = () => srv.close();
  } else if (mode === 'tcp') {
    const srv = net.createServer((s) => {
      s.setNoDelay(true);
      let first = true;
      s.on(
        'data',
        deframer(() => {
          if (first) connected(s);
          else onAck();
          first = false;
        }),
      );
    });
    port = await new Promise<number>((r) =>
      srv.listen(0, '127.0.0.1', () => r((srv.address() as net.AddressInfo).port)),
    );
    close = () => srv.close();
  } else {
    const srv = new grpc.Server();
    srv.addService(SERVICE, {
      Stream: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        let first = true;
        call.on('data', () => {
          if (first) connected(call);
          else onAck();
          first = false;
        });
      },
    });
    port = await new Promise<number>((resolve, reject) =>
      srv.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    close = () => srv.forceShutdown();
  }
  const script = fileURLToPath(import.meta.url);
  const kids = Array.from({ length: PROCS }, (_, k) =>
    fork(script, ['--child', mode, String(port), String(share(nves, k))], {
      execArgv: ['--import', 'tsx'],
    }),
  );
  const kidsCpu = () =>
    Promise.all(
      kids.map(
        (k) =>
          new Promise<number>((r) => {
            k.once('message', (m) => r(m as number));
            k.send('cpu');
          }),
      ),
    );
  try {
    await allConnected;
    // roam's and grpc-js's streams frame (and serialize) themselves; raw ones get framed bytes.
    const message =
      mode === 'tcp' ? frame(CHANGE) : mode === 'h2-own' ? frameMessage(CHANGE) : CHANGE;
    const round = () => {
      for (const s of streams) s.write(message);
    };
    // A few hundred rounds first, unmeasured: both sides' code compiled (see bench:nva's warm-up).
    const run = (n: number) =>
      new Promise<void>((resolve) => {
        let acks = 0;
        let left = n;
        onAck = () => {
          if (++acks < nves) return;
          acks = 0;
          if (--left === 0) resolve();
          else round();
        };
        round();
      });
    await run(Math.ceil(rounds / 4));
    const kids0 = await kidsCpu();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await run(rounds);
    const wall = performance.now() - t0;
    const server = cpuMs(process.cpuUsage(cpu0));
    const kids1 = await kidsCpu();
    const clients = kids1.reduce((sum, c, i) => sum + c - (kids0[i] as number), 0);
    const pairs = rounds * nves;
    return {
      transport: mode,
      nves,
      rounds,
      wall_ms_per_round: round3(wall / rounds),
      server_cpu_us_per_msg_pair: round3((server * 1000) / pairs),
      clients_cpu_us_per_msg_pair: round3((clients * 1000) / pairs),
    };
  } finally {
    for (const k of kids) k.kill();
    close();
  }
}

function share(n: number, k: number): number {
  return Math.floor(((k + 1) * n) / PROCS) - Math.floor((k * n) / PROCS);
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      nves: { type: 'string', default: '100' },
      rounds: { type: 'string', default: '2000' },
      json: { type: 'string' },
      modes: { type: 'string', default: MODES.join(',') },
    },
  });
  const modes = values.modes.split(',') as Mode[];
  for (const m of modes) {
    if (!MODES.includes(m)) throw new Error(`unknown transport "${m}" (${MODES.join(', ')})`);
  }
  const nves = Number(values.nves);
  const rounds = Number(values.rounds);
  if (!Number.isInteger(nves) || nves < PROCS || !Number.isInteger(rounds) || rounds < 1) {
    throw new Error(`--nves (at least ${PROCS}) and --rounds must be positive whole numbers`);
  }
  const rows: Row[] = [];
  for (const mode of modes) rows.push(await measure(mode, nves, rounds));
  console.log('transport    nves  rounds  wall ms/round  server us/pair  clients us/pair');
  for (const r of rows) {
    console.log(
      `${r.transport.padEnd(11)}  ${String(r.nves).padStart(4)}  ${String(r.rounds).padStart(6)}` +
        `  ${r.wall_ms_per_round.toFixed(3).padStart(13)}  ${r.server_cpu_us_per_msg_pair.toFixed(2).padStart(14)}` +
        `  ${r.clients_cpu_us_per_msg_pair.toFixed(2).padStart(15)}`,
    );
  }
  if (values.json) writeBenchJson(values.json, rows);
}

const childAt = process.argv.indexOf('--child');
if (childAt >= 0) {
  const [mode, port, count] = process.argv.slice(childAt + 1);
  runClients(mode as Mode, Number(port), Number(count));
} else {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
}
