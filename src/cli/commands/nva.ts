// `roam nva serve` runs the NVA (embedded SQLite by default, etcd with --etcd); `roam nva token
// add` issues an NVE token; `roam nva vn|member|status` talk to a running NVA.
import type { Command } from 'commander';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { newToken } from '../../nva/auth.ts';
import {
  loadNvaConfig,
  NvaConfigError,
  readNveTokens,
  type NvaConfigInput,
} from '../../nva/config.ts';
import { runNva } from '../../nva/run.ts';
import { StoreSchemaError } from '../../nva/store-sqlite.ts';
import { UserError } from '../user-error.ts';
import {
  parseVni,
  parseVrf,
  printJson,
  printTable,
  withAdmin,
  withConnection,
  type ConnectionOpts,
} from './nva-connection.ts';

interface ServeFlags {
  config?: string;
  listen?: string;
  metricsListen?: string;
  db?: string;
  stateDir?: string;
  adminTokenFile?: string;
  nveTokens?: string;
  openNves?: boolean;
  etcd?: string;
  etcdPrefix?: string;
  tlsCert?: string;
  tlsKey?: string;
  dupMaxMoves?: string;
  dupWindow?: string;
  dupRecovery?: string;
}

function num(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UserError(`${flag} must be a number, not "${v}"`);
  return n;
}

/** Flags -> config input (only what was given, so the file's values stay otherwise). */
function flagsToConfig(f: ServeFlags): NvaConfigInput {
  if ((f.tlsCert === undefined) !== (f.tlsKey === undefined)) {
    throw new UserError('--tls-cert and --tls-key go together');
  }
  const dup =
    (f.dupMaxMoves ?? f.dupWindow ?? f.dupRecovery)
      ? {
          maxMoves: num('--dup-max-moves', f.dupMaxMoves),
          windowSeconds: num('--dup-window', f.dupWindow),
          recoverySeconds: num('--dup-recovery', f.dupRecovery),
        }
      : undefined;
  return {
    listen: f.listen,
    metricsListen: f.metricsListen,
    db: f.db,
    stateDir: f.stateDir,
    adminTokenFile: f.adminTokenFile,
    nveTokensFile: f.nveTokens,
    openNves: f.openNves,
    etcd: f.etcd
      ? { hosts: f.etcd.split(',').map((s) => s.trim()), prefix: f.etcdPrefix }
      : undefined,
    tls: f.tlsCert && f.tlsKey ? { cert: f.tlsCert, key: f.tlsKey } : undefined,
    duplicate: dup as NvaConfigInput['duplicate'],
  };
}

async function serve(f: ServeFlags): Promise<void> {
  let cfg;
  try {
    cfg = loadNvaConfig(f.config, flagsToConfig(f));
  } catch (err) {
    if (err instanceof NvaConfigError) throw new UserError(err.message);
    throw err;
  }
  let nva;
  try {
    nva = await runNva(cfg);
  } catch (err) {
    if (err instanceof NvaConfigError || err instanceof StoreSchemaError)
      throw new UserError(err.message);
    const e = err as NodeJS.ErrnoException & { details?: string };
    if (e.code === 'EADDRINUSE' || /No address added|EADDRINUSE/.test(e.message ?? '')) {
      throw new UserError(`cannot listen: address in use (${e.message})`);
    }
    if (e.code === 'EACCES') throw new UserError(`permission denied: ${e.message}`);
    throw err;
  }
  process.stdout.write(
    `roam nva: serving on ${nva.grpcAddress} (${nva.store.kind}${cfg.etcd ? '' : ` ${cfg.db}`})` +
      `${nva.metricsAddress ? `, metrics http://${nva.metricsAddress}/metrics` : ''}\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await nva.stop();
}

function tokenAdd(nveId: string, o: { nveTokens?: string; stateDir?: string }): void {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(nveId)) {
    throw new UserError('NVE ids use 1-64 letters, digits, ".", "_" and "-"');
  }
  let file: string;
  let tokens: Map<string, string>;
  try {
    file = loadNvaConfig(undefined, {
      nveTokensFile: o.nveTokens,
      stateDir: o.stateDir,
    }).nveTokensFile;
    tokens = readNveTokens(file);
  } catch (err) {
    if (err instanceof NvaConfigError) throw new UserError(err.message);
    throw err;
  }
  const token = newToken();
  tokens.set(nveId, token);
  if (!existsSync(dirname(file))) mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, toYaml(Object.fromEntries(tokens)), { mode: 0o600 });
  process.stdout.write(`${token}\n`);
  process.stderr.write(
    `roam: token for NVE ${nveId} written to ${file} (send SIGHUP to a running NVA to load it)\n`,
  );
}

export function registerNva(program: Command): void {
  const nva = program
    .command('nva')
    .description('the Network Virtualization Authority (directory server)');

  nva
    .command('serve')
    .description('run the NVA (embedded SQLite under the state directory unless told otherwise)')
    .option('-c, --config <file>', 'YAML configuration file (flags override it)')
    .option('--listen <host:port>', 'gRPC address for NVEs and the CLI (default 0.0.0.0:7470)')
    .option(
      '--metrics-listen <host:port>',
      'HTTP address of /metrics and /healthz (default 127.0.0.1:7471; "" = off)',
    )
    .option('--db <file>', 'SQLite database file (default <state-dir>/nva.db)')
    .option(
      '--state-dir <dir>',
      'where the database and tokens live (default /var/lib/roam/nva as root)',
    )
    .option(
      '--admin-token-file <file>',
      'admin token file, created on first start (default <state-dir>/admin.token)',
    )
    .option('--nve-tokens <file>', 'YAML map "nve-id: token" (default <state-dir>/nve-tokens.yaml)')
    .option('--open-nves', 'lab mode: NVEs connect without a token')
    .option(
      '--etcd <urls>',
      'use the etcd cluster at these comma-separated client URLs instead of SQLite',
    )
    .option('--etcd-prefix <prefix>', 'etcd key prefix (default /roam/v1/)')
    .option('--tls-cert <file>', 'serve gRPC over TLS with this certificate (PEM)')
    .option('--tls-key <file>', 'private key of --tls-cert (PEM)')
    .option(
      '--dup-max-moves <n>',
      'a MAC moving more than this often in the window is frozen (default 5)',
    )
    .option('--dup-window <seconds>', 'duplicate detection window (default 180)')
    .option(
      '--dup-recovery <seconds>',
      'unfreeze duplicates after this long; 0 = only by operator (default 0)',
    )
    .action(serve);

  nva
    .command('token')
    .description('NVE tokens')
    .command('add')
    .description('create (or replace) the token of an NVE and print it')
    .argument('<nve-id>')
    .option('--nve-tokens <file>', 'token file (default <state-dir>/nve-tokens.yaml)')
    .option('--state-dir <dir>', 'NVA state directory')
    .action(tokenAdd);

  withConnection(
    nva
      .command('member')
      .description('VN membership')
      .command('remove')
      .description("take a (stopped) NVE off a VN's flood list"),
  )
    .argument('<vni>')
    .argument('<nve-id>')
    .action(async (vniS: string, nveId: string, o: ConnectionOpts) => {
      const r = await withAdmin(o, (c) => c.removeMember(parseVni(vniS), nveId));
      if (o.json) printJson(r);
      else
        process.stdout.write(
          r.revision ? `removed at revision ${r.revision}\n` : 'it was no member\n',
        );
    });

  withConnection(nva.command('vn').description('create or change a VN on a running NVA'))
    .argument('<vni>')
    .option('--learning <mode>', 'provisioned (only provisioned MAC/IPs) or open', 'provisioned')
    .option('--vrf <id>', 'routed VN of this VRF: NVEs are its anycast gateway (docs/l3.md)')
    .option(
      '--gateway <ip/len>',
      'anycast gateway address with its subnet, IPv4 and/or IPv6 (repeat), e.g. 10.1.0.1/24',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option('--gateway-mac <mac>', "anycast gateway MAC (default: the VRF's router MAC)")
    .option('--unreachable', 'no route: answer ICMP destination unreachable instead of dropping')
    .option('--name <name>', 'a name for humans')
    .action(
      async (
        vniS: string,
        o: ConnectionOpts & {
          learning: string;
          vrf?: string;
          gateway?: string[];
          gatewayMac?: string;
          unreachable?: boolean;
          name?: string;
        },
      ) => {
        if (o.learning !== 'provisioned' && o.learning !== 'open') {
          throw new UserError(`--learning must be "provisioned" or "open", not "${o.learning}"`);
        }
        const vrf = o.vrf === undefined ? 0 : parseVrf(o.vrf);
        if (!vrf && (o.gateway || o.gatewayMac || o.unreachable))
          throw new UserError('--gateway, --gateway-mac and --unreachable need --vrf');
        const gws = o.gateway ?? [];
        const cfg = {
          vni: parseVni(vniS),
          learning: o.learning,
          routed: vrf > 0,
          name: o.name ?? '',
          vrf,
          gatewayIp4: gws.find((g) => !g.includes(':')) ?? '',
          gatewayIp6: gws.find((g) => g.includes(':')) ?? '',
          gatewayMac: o.gatewayMac ?? '',
          unreachable: o.unreachable ?? false,
        } as const;
        if (gws.length > 2 || (gws.length === 2 && (!cfg.gatewayIp4 || !cfg.gatewayIp6)))
          throw new UserError('--gateway: at most one IPv4 and one IPv6 address');
        const r = await withAdmin(o, (c) => c.configureVn(cfg));
        if (o.json) printJson(r);
        else
          process.stdout.write(
            `VNI ${r.vni}: learning ${r.learning}` +
              (r.routed
                ? `, routed in VRF ${r.vrf}, gateway ${[r.gatewayIp4, r.gatewayIp6].filter(Boolean).join(' ')} (${r.gatewayMac})${r.unreachable ? ', unreachable replies' : ''}`
                : '') +
              '\n',
          );
      },
    );

  withConnection(
    nva.command('vrf').description('create a VRF (tenant routing domain) with its L3 VNI'),
  )
    .argument('<vrf>', 'VRF id (1..4294967295)')
    .requiredOption('--l3-vni <vni>', 'the VNI routed frames travel in between NVEs (one per VRF)')
    .option('--router-mac <mac>', 'inner MAC of routed frames (default 02:00:5e:00:01:01)')
    .option('--name <name>', 'a name for humans')
    .action(
      async (
        vrfS: string,
        o: ConnectionOpts & { l3Vni: string; routerMac?: string; name?: string },
      ) => {
        const cfg = {
          vrf: parseVrf(vrfS),
          l3Vni: parseVni(o.l3Vni),
          routerMac: o.routerMac ?? '',
          name: o.name ?? '',
        };
        const r = await withAdmin(o, (c) => c.configureVrf(cfg));
        if (o.json) printJson(r);
        else process.stdout.write(`VRF ${r.vrf}: L3 VNI ${r.l3Vni}, router MAC ${r.routerMac}\n`);
      },
    );

  withConnection(
    nva.command('status').description('revision, NVEs and recent convergence of a running NVA'),
  ).action(async (o: ConnectionOpts) => {
    const s = await withAdmin(o, (c) => c.status());
    if (o.json) return printJson(s);
    process.stdout.write(`store ${s.store}, revision ${s.revision}\n\n`);
    printTable(
      ['NVE', 'UNDERLAY', 'VNIS', 'ACKED', 'CONNECTED'],
      s.nves.map((n) => [
        n.nveId,
        n.nveAddr,
        n.vnis.join(','),
        String(n.ackedRevision),
        n.connected ? 'yes' : 'no',
      ]),
    );
  });
}
