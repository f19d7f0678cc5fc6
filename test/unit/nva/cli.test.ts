// `roam nva serve` as a child process, driven by `roam vm ... --json` and a real NVE client.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NvaClient } from '../../../src/protocol/client.ts';
import { until } from './harness.ts';

const run = promisify(execFile);
const ROAM = join(import.meta.dirname, '../../../bin/roam.js');
const dir = mkdtempSync(join(tmpdir(), 'roam-cli-'));
const env = { ...process.env, ROAM_STATE_DIR: dir, ROAM_LOG_LEVEL: 'warn' };
const MAC = '02:00:00:00:00:01';

let serve: ChildProcess;
let address = '';
let metrics = '';
const clients: NvaClient[] = [];

async function roam(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run('node', [ROAM, ...args], { env, timeout: 20_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function vm(...args: string[]): Promise<unknown> {
  const r = await roam('vm', ...args, '--nva', address, '--json');
  if (r.code !== 0) throw new Error(`roam vm ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

function nve(id: string, token: string, addr: string, vnis = [100]): NvaClient {
  const c = new NvaClient({
    address,
    nveId: id,
    underlayAddr: addr,
    vnis,
    token,
    autoAck: true,
  });
  clients.push(c);
  c.start();
  return c;
}

beforeAll(async () => {
  const tokens: Record<string, string> = {};
  for (const id of ['a', 'b']) tokens[id] = (await roam('nva', 'token', 'add', id)).stdout.trim();
  serve = spawn(
    'node',
    [
      ROAM,
      'nva',
      'serve',
      '--listen',
      '127.0.0.1:0',
      '--metrics-listen',
      '127.0.0.1:0',
      '--dup-max-moves',
      '2',
    ],
    {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  serve.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  let err = '';
  serve.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  await until(
    'roam nva serve to listen',
    () => /serving on/.test(out) || serve.exitCode !== null,
    15_000,
  );
  if (serve.exitCode !== null) throw new Error(`roam nva serve exited: ${err}`);
  address = /serving on (\S+)/.exec(out)?.[1] ?? '';
  metrics = /metrics (http:\S+)/.exec(out)?.[1] ?? '';
  (globalThis as { tokens?: Record<string, string> }).tokens = tokens;
}, 30_000);

afterAll(async () => {
  for (const c of clients) c.close();
  if (serve && serve.exitCode === null) {
    serve.kill('SIGTERM');
    await until('serve to stop', () => serve.exitCode !== null, 10_000);
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('roam nva serve + roam vm', () => {
  it('starts an embedded SQLite NVA with no setup: admin token created 0600, /healthz and /metrics', async () => {
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
    const token = readFileSync(join(dir, 'nva', 'admin.token'), 'utf8').trim();
    expect(token.length).toBeGreaterThanOrEqual(32);
    const health = await fetch(metrics.replace('/metrics', '/healthz'));
    expect(health.status).toBe(200);
    expect(await health.text()).toMatch(/^ok sqlite revision \d+/);
    expect(await (await fetch(metrics)).text()).toMatch(/roam_nva_connected_nves 0/);
  }, 30_000);

  it('provision, register from the NVE, list, show, move, duplicate and clear, all with --json', async () => {
    const tokens = (globalThis as { tokens?: Record<string, string> }).tokens ?? {};
    expect(await vm('provision', '100', MAC, '10.1.0.1', 'fd00::1')).toMatchObject({
      ok: true,
      vni: 100,
    });
    expect(await vm('list', '--provisioned')).toEqual([
      { vni: 100, mac: MAC, ips: ['10.1.0.1', 'fd00::1'] },
    ]);
    const a = nve('a', tokens.a ?? '', '192.0.2.1');
    const b = nve('b', tokens.b ?? '', '192.0.2.2');
    await Promise.all([a.ready(), b.ready()]);
    await a.register({ vni: 100, mac: MAC, ips: ['10.1.0.1'] });
    const list = (await vm('list')) as {
      mac: string;
      nveId: string;
      state: string;
      ips: string[];
    }[];
    expect(list).toMatchObject([
      { mac: MAC, nveId: 'a', state: 'active', ips: ['10.1.0.1'], provisioned: true },
    ]);

    expect(await vm('move', '100', MAC, '--to', 'b')).toMatchObject({
      revision: expect.any(Number),
    });
    expect(await vm('show', '100', MAC)).toMatchObject({ state: 'moving', nveId: 'a' });
    await b.register({ vni: 100, mac: MAC });
    const shown = (await vm('show', '100', MAC)) as {
      history: { hinted: boolean }[];
      nveId: string;
    };
    expect(shown).toMatchObject({ nveId: 'b', state: 'active', seq: 2 });
    expect(shown.history).toMatchObject([{ fromNve: 'a', toNve: 'b', hinted: true }]);
    await until(
      'convergence recorded',
      async () =>
        ((await vm('show', '100', MAC)) as { convergence: unknown[] }).convergence.length > 0,
    );

    // --dup-max-moves 2: the third unannounced move freezes it.
    await a.register({ vni: 100, mac: MAC });
    await b.register({ vni: 100, mac: MAC });
    await expect(a.register({ vni: 100, mac: MAC })).rejects.toThrow(/moved more than 2 times/);
    expect(await vm('show', '100', MAC)).toMatchObject({ state: 'duplicate', nveId: 'b' });
    expect(await vm('clear-duplicate', '100', MAC)).toMatchObject({ revision: expect.any(Number) });
    expect(await vm('show', '100', MAC)).toMatchObject({ state: 'active' });
    expect(await a.register({ vni: 100, mac: MAC })).toMatchObject({ outcome: 'moved' });
  }, 90_000);

  it('L3 (issue 6): roam nva vrf / vn --vrf, roam route add/list, anchors in roam vm show, release-anchor', async () => {
    const tokens = (globalThis as { tokens?: Record<string, string> }).tokens ?? {};
    const cli = async (...args: string[]) => {
      const r = await roam(...args, '--nva', address, '--json');
      if (r.code !== 0) throw new Error(`roam ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
      return JSON.parse(r.stdout) as unknown;
    };
    expect(await cli('nva', 'vrf', '1', '--l3-vni', '5001')).toEqual({
      vrf: 1,
      l3Vni: 5001,
      routerMac: '02:00:5e:00:01:01',
      name: '',
    });
    expect(
      await cli(
        'nva',
        'vn',
        '100',
        '--vrf',
        '1',
        '--gateway',
        '10.1.0.254/24',
        '--gateway',
        'fd00::fe/64',
      ),
    ).toMatchObject({
      vni: 100,
      routed: true,
      vrf: 1,
      gatewayIp4: '10.1.0.254/24',
      gatewayIp6: 'fd00::fe/64',
    });
    await cli('nva', 'vn', '200', '--learning', 'open', '--vrf', '1', '--gateway', '10.2.0.254/24');
    // the VM (at NVE a in VN 100) moves to NVE b into VN 200 with a new address
    const b = nve('b', tokens.b ?? '', '192.0.2.2', [100, 200]);
    await b.ready();
    await b.register({ vni: 200, mac: MAC, ips: ['10.2.0.9'] });
    const shown = (await vm('show', '200', MAC)) as {
      anchors: { ip: string; anchorNve: string }[];
    };
    expect(shown.anchors.map((x) => [x.ip, x.anchorNve]).sort()).toEqual([
      ['10.1.0.1', 'a'],
      ['fd00::1', 'a'],
    ]);
    const human = await roam('vm', 'show', '200', MAC, '--nva', address);
    expect(human.stdout).toMatch(/anchored addresses[\s\S]*10\.1\.0\.1 +100 +a/);
    await cli('route', 'add', '1', '0.0.0.0/0', '--via', '10.2.0.9');
    const routes = (await cli('route', 'list', '--vrf', '1')) as {
      kind: string;
      prefix: string;
      nveId: string;
      via: string;
    }[];
    expect(routes.map((r) => [r.kind, r.prefix, r.nveId, r.via])).toEqual([
      ['host', '10.1.0.1/32', 'a', ''],
      ['host', '10.2.0.9/32', 'b', ''],
      ['host', 'fd00::1/128', 'a', ''],
      ['static', '0.0.0.0/0', 'b', '10.2.0.9'],
      ['anchor', '10.1.0.1/32', 'b', 'a'],
      ['anchor', 'fd00::1/128', 'b', 'a'],
    ]);
    expect((await roam('route', 'list', '--nva', address)).stdout).toMatch(
      /VRF +PREFIX +KIND[\s\S]*0\.0\.0\.0\/0 +static/,
    );
    expect(await cli('vm', 'release-anchor', '200', MAC)).toMatchObject({
      revision: expect.any(Number),
    });
    expect(((await vm('show', '200', MAC)) as { anchors?: unknown }).anchors).toBeUndefined();
    const bad = await roam(
      'route',
      'add',
      '1',
      '10.9.0.1/16',
      '--via',
      '10.2.0.9',
      '--nva',
      address,
    );
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/host bits set/);
  }, 60_000);

  it('operator mistakes are one line on stderr, no stack trace', async () => {
    const cases: [string[], RegExp][] = [
      [['vm', 'show', '100', 'zz:zz', '--nva', address], /"zz:zz" is not a MAC address/],
      [['vm', 'show', '0', '02:00:00:00:00:09', '--nva', address], /VNI must be 1\.\.16777215/],
      [
        ['vm', 'show', '100', '02:00:00:00:00:09', '--nva', address],
        /MAC 02:00:00:00:00:09 is not in VNI 100/,
      ],
      [
        ['vm', 'provision', '100', '02:00:00:00:00:09', '10.1.0.1', '--nva', address],
        /already provisioned to MAC/,
      ],
      [['vm', 'list', '--nva', '127.0.0.1:1'], /cannot reach the NVA at 127\.0\.0\.1:1/],
      [['nva', 'serve', '--listen', 'nonsense'], /listen: expected host:port/],
    ];
    const results = await Promise.all(cases.map(([args]) => roam(...args)));
    results.forEach((r, i) => {
      const [args, msg] = cases[i] as [string[], RegExp];
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });
  }, 60_000);
});
