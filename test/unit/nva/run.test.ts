import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadNvaConfig } from '../../../src/nva/config.ts';
import { ensureAdminToken, runNva } from '../../../src/nva/run.ts';
import { AdminClient } from '../../../src/protocol/admin-client.ts';

const dir = mkdtempSync(join(tmpdir(), 'roam-run-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('runNva', () => {
  it('creates the admin token once (0600) and keeps it', () => {
    const file = join(dir, 'x', 'admin.token');
    const t = ensureAdminToken(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(ensureAdminToken(file)).toBe(t);
    writeFileSync(join(dir, 'short.token'), 'abc\n');
    expect(() => ensureAdminToken(join(dir, 'short.token'))).toThrow(/fewer than 16/);
  });

  it('applies the configured VNs and serves the Admin API; the data survives a restart', async () => {
    const cfg = loadNvaConfig(undefined, {
      stateDir: join(dir, 'state'),
      listen: '127.0.0.1:0',
      metricsListen: '',
      vns: [{ vni: 300, learning: 'open' }],
    });
    const first = await runNva(cfg);
    const token = ensureAdminToken(cfg.adminTokenFile);
    const admin = new AdminClient({ address: first.grpcAddress, token });
    expect((await admin.listVns()).vns).toEqual([
      {
        vni: 300,
        name: '',
        routed: false,
        learning: 'open',
        // not routed: the L3 fields (docs/l3.md) are empty
        vrf: 0,
        gatewayIp4: '',
        gatewayIp6: '',
        gatewayMac: '',
        unreachable: false,
        l3Vni: 0,
      },
    ]);
    await admin.provision({ vni: 300, mac: '02:00:00:00:00:01', ips: ['10.3.0.1'] });
    admin.close();
    await first.stop();

    const second = await runNva(cfg);
    const admin2 = new AdminClient({ address: second.grpcAddress, token });
    expect((await admin2.listProvisions(300)).provisions).toHaveLength(1);
    const wrong = new AdminClient({
      address: second.grpcAddress,
      token: 'wrong-token-wrong-token',
    });
    await expect(wrong.listVns()).rejects.toThrow(/admin bearer token/);
    wrong.close();
    admin2.close();
    await second.stop();
  });
});
