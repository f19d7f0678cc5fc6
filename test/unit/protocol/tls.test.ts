// The stream over TLS: tokens travel encrypted; a client that does not trust the NVA's
// certificate cannot connect.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NvaClient } from '../../../src/protocol/client.ts';
import { AdminClient } from '../../../src/protocol/admin-client.ts';
import { ADMIN_TOKEN, startNva, tokenOf, until } from '../nva/harness.ts';

const dir = mkdtempSync(join(tmpdir(), 'roam-tls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A self-signed certificate for 127.0.0.1 (openssl is a precondition: fail loudly without it). */
function selfSigned(name: string): { cert: Buffer; key: Buffer } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=roam-nva',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'pipe' },
  );
  return { cert: readFileSync(cert), key: readFileSync(key) };
}

describe('TLS', () => {
  it('a client trusting the NVA certificate gets its snapshot; one that does not, fails', async () => {
    const tls = selfSigned('nva');
    const other = selfSigned('other');
    const nva = await startNva({ tls });
    await nva.store.putVn({ vni: 100, routed: false, learning: 'open' });
    const opts = {
      address: nva.address,
      nveId: 'a',
      underlayAddr: '192.0.2.1',
      vnis: [100],
      token: tokenOf('a'),
    };
    const good = new NvaClient({ ...opts, tlsCa: tls.cert });
    const disconnects: string[] = [];
    const bad = new NvaClient({
      ...opts,
      nveId: 'b',
      token: tokenOf('b'),
      tlsCa: other.cert,
      handlers: { disconnected: (r) => void disconnects.push(r) },
    });
    try {
      good.start();
      bad.start();
      await good.ready();
      expect(await good.register({ vni: 100, mac: '02:00:00:00:00:01' })).toMatchObject({
        outcome: 'new',
      });
      await until('the untrusting client to fail', () => disconnects.length > 0);
      expect(nva.server.connected().map((s) => s.nveId)).toEqual(['a']);
    } finally {
      good.close();
      bad.close();
      await nva.close();
    }
  });

  it('the Admin service over TLS: a grpc-js client trusting the certificate is answered; one that does not, fails', async () => {
    const tls = selfSigned('nva-admin');
    const other = selfSigned('other-admin');
    const nva = await startNva({ tls });
    const good = new AdminClient({ address: nva.address, token: ADMIN_TOKEN, tlsCa: tls.cert });
    const bad = new AdminClient({
      address: nva.address,
      token: ADMIN_TOKEN,
      tlsCa: other.cert,
      timeoutMs: 2_000,
    });
    try {
      await good.configureVn({ vni: 300, learning: 'open' });
      expect((await good.listVns()).vns.map((v) => v.vni)).toEqual([300]);
      await expect(bad.listVns()).rejects.toThrow();
    } finally {
      good.close();
      bad.close();
      await nva.close();
    }
  });
});
