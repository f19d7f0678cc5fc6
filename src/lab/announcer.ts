// The sender of a VM's announce frames (announce.ts builds them): a few lines of Python over an
// AF_PACKET socket inside the VM's namespace, which report the instant each frame left. It reads
// one job a line on its stdin, so a lab starts it once per VM (MobilityLab.announcerOf) and a
// move only wakes it: a python3 started per announce spends 20-40 ms of CPU starting and a few
// more exiting, right at the move. On 2 cores, traces of bench:move showed that start taking 40%
// of both CPUs in the 20 ms before the announce, and its exit 9% of the time after it, while the
// destination's agent and the NVA waited for a CPU.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { createInterface } from 'node:readline';
import type { Netns } from './netns.ts';

// One JSON job a line ({dev, frames: [hex], gaps: [ms]}), one JSON answer a line: the wall-clock
// ms each frame left at (time.time(), the same clock as Node's timeOrigin-based one), or an error.
// A new socket per job: a moved VM's interface is a new link with the same name.
const SERVE_PY = `
import socket, sys, time, json
for line in sys.stdin:
    try:
        job = json.loads(line)
        frames = [bytes.fromhex(f) for f in job['frames']]
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        try:
            s.bind((job['dev'], 0))
            out = []
            for i, f in enumerate(frames):
                if i > 0: time.sleep(job['gaps'][i - 1] / 1000.0)
                out.append(time.time() * 1000.0)
                s.send(f)
        finally:
            s.close()
        print(json.dumps({'sent': out}), flush=True)
    except Exception as e:
        print(json.dumps({'error': repr(e)}), flush=True)
`;

/** Python for the raw socket: the system's (fast start). */
const PYTHON = '/usr/bin/python3';
/** A job's answer comes within this long plus its gaps, or the sender is taken for hung. */
const SEND_TIMEOUT_MS = 10_000;

type Answer = { sent: number[] } | { error: string };

export class Announcer {
  private readonly child: ChildProcess;
  private readonly waiting: Array<{ resolve: (a: Answer) => void; reject: (e: Error) => void }> =
    [];
  private gone: Error | undefined;

  /** Start the sender in the namespace (nsenter --net: only the network namespace). */
  constructor(ns: Netns) {
    this.child = spawn('nsenter', [`--net=${ns.path}`, PYTHON, '-u', '-c', SERVE_PY], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    createInterface({ input: this.child.stdout! }).on('line', (l) => {
      this.waiting.shift()?.resolve(JSON.parse(l) as Answer);
      if (this.waiting.length === 0) this.hold(false);
    });
    this.child.once('error', (err) => this.fail(err));
    this.child.once('exit', (code, sig) =>
      this.fail(new Error(`announcer in ${ns.name} exited (${sig ?? code})`)),
    );
    this.hold(false);
  }

  /** The sender still runs (a failed or closed one is not restarted). */
  get alive(): boolean {
    return this.gone === undefined;
  }

  /** Send raw frames from interface `dev`, `gapsMs` apart; resolves with when each left (ms). */
  send(dev: string, frames: Buffer[], gapsMs: number[] = []): Promise<number[]> {
    if (this.gone) return Promise.reject(this.gone);
    const answer = new Promise<Answer>((resolve, reject) => this.waiting.push({ resolve, reject }));
    if (this.waiting.length === 1) this.hold(true);
    const job = { dev, frames: frames.map((f) => f.toString('hex')), gaps: gapsMs };
    this.child.stdin!.write(`${JSON.stringify(job)}\n`);
    const timeoutMs = SEND_TIMEOUT_MS + gapsMs.reduce((a, b) => a + b, 0);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new Error(`announce from ${dev}: no answer within ${timeoutMs} ms`);
        this.close(err);
        reject(err);
      }, timeoutMs);
    });
    return Promise.race([answer, timeout])
      .finally(() => clearTimeout(timer))
      .then((a) => {
        if ('error' in a) throw new Error(`announce from ${dev} failed: ${a.error}`);
        return a.sent;
      });
  }

  /** Stop the sender (synchronous: also usable at process exit); later sends are refused. */
  close(why = new Error('announcer closed')): void {
    this.fail(why);
    this.child.kill('SIGKILL');
  }

  /** Every job waiting is refused, and every later one. */
  private fail(why: Error): void {
    this.gone ??= why;
    for (const w of this.waiting.splice(0)) w.reject(this.gone);
    this.hold(false);
  }

  /** Keep the process alive while an answer is awaited; an idle sender never does. */
  private hold(on: boolean): void {
    for (const h of [this.child, this.child.stdin as Socket, this.child.stdout as Socket])
      if (on) h.ref();
      else h.unref();
  }
}
